"""A study: a panel of models x K subsets of one dataset, as independent, cached units of work.

Each (model, subset) is a :class:`Unit`: a JSON-serialisable description holding everything
needed to compute it (model and its content fingerprint, data source and fingerprint, the
subset's example ids, task settings, device, dtype). :func:`run_unit` computes one unit from that
description alone, so units can later be sent to other machines. A unit's result is stored under
its content key as soon as it finishes; an interrupted study picks up where it stopped and a
rerun with the same settings recomputes nothing.

:func:`run_study` plans the units, runs the missing ones, and writes the output folder:
``examples.parquet``, ``subsets.csv``, ``models.csv``, ``correlations.json``, the scatter plots,
``manifest.json`` (columns documented in ``docs/outputs.md``) and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctxvec import files
from ctxvec.classify import ClsSettings, match_labels, predict_cls
from ctxvec.data import (
    QADataset,
    TextDataset,
    load_qa_dataset,
    load_text_dataset,
    select_subsets,
)
from ctxvec.errors import CtxvecError
from ctxvec.inference import LAYER_METRICS, MetricSet, check_metric_set
from ctxvec.inference import METRICS as EXAMPLE_METRICS
from ctxvec.loading import (
    DTypeName,
    LoadedModel,
    ModelSpec,
    ResolvedModel,
    Task,
    load_model,
    resolve_device,
    resolve_dtype,
    resolve_model,
)
from ctxvec.plots import plot_correlation_by_layer, plot_score_vs_metrics
from ctxvec.qa import QASettings, predict_qa
from ctxvec.report import load_run, summary_markdown, write_report
from ctxvec.scoring import classification_scores, squad_v2_scores
from ctxvec.stats import bootstrap_ci, correlation_table, critical_r

# Subset-level metrics of pooled vectors, beside the means of the per-example metrics.
POOLED_METRICS = ("isoscore", "self_similarity_adjusted")
SEPARABILITY = tuple(
    f"{name}_{pooling}"
    for pooling in ("summary", "mean")
    for name in ("fisher_ratio", "silhouette", "probe_accuracy")
)
DEFAULT_SUBSETS = {"qa": (4, 200), "cls": (4, 500)}
# Task scores a study can correlate with the metrics (columns of subsets.csv, x100).
SCORES = {"qa": ("f1", "exact", "best_f1"), "cls": ("f1", "accuracy", "macro_f1")}
DEFAULT_SPLIT = {"qa": "validation", "cls": "test"}
# Bumped whenever a change alters what a unit computes, so stale cached results are not reused.
UNIT_FORMAT = 2


@dataclass(frozen=True)
class StudyConfig:
    """Everything that defines a study; the manifest records it in full.

    ``subsets``/``subset_size`` default to the baseline's (QA 4 x 200, classification 4 x 500);
    ``subset_starts`` are positions in the seeded shuffle (default: consecutive blocks).
    ``score`` is the task score correlated with the metrics (see :data:`SCORES`): F1 by
    default, as the baseline; for classification, accuracy or macro F1 avoid rewarding a model
    that always answers the positive class.
    """

    task: Task
    models: tuple[ModelSpec, ...]
    data: str
    split: str | None = None
    subsets: int | None = None
    subset_size: int | None = None
    subset_starts: tuple[int, ...] | None = None
    seed: int = 0
    settings: QASettings | ClsSettings | None = None
    device: str = "auto"
    dtype: DTypeName = "auto"
    allow_untrained_head: bool = False
    score: str = "f1"

    def resolved(self) -> StudyConfig:
        """The config with every default filled in."""
        if self.score not in SCORES[self.task]:
            raise CtxvecError(
                f"score '{self.score}' is not a {self.task} score; use one of "
                f"{', '.join(SCORES[self.task])}"
            )
        n, size = DEFAULT_SUBSETS[self.task]
        settings = self.settings or (QASettings() if self.task == "qa" else ClsSettings())
        if isinstance(settings, QASettings) != (self.task == "qa"):
            raise CtxvecError(f"settings of type {type(settings).__name__} for task {self.task}")
        check_metric_set(settings.metrics)
        return dataclasses.replace(
            self,
            models=tuple(self.models),
            split=self.split or DEFAULT_SPLIT[self.task],
            subsets=self.subsets or n,
            subset_size=self.subset_size or size,
            settings=settings,
        )


@dataclass(frozen=True)
class Unit:
    """One (model, subset) of a study: the whole input of :func:`run_unit`."""

    task: Task
    model: ModelSpec
    model_path: str
    model_revision: str | None
    model_fingerprint: str
    subset: int
    data: str
    split: str
    data_fingerprint: str
    example_ids: tuple[str, ...]
    settings: dict[str, Any]
    device: str
    dtype: str
    allow_untrained_head: bool

    @property
    def key(self) -> str:
        blob = dataclasses.asdict(self)
        blob["format"] = UNIT_FORMAT
        # Labels and paths do not change what is computed; the fingerprints stand for content.
        blob["model"] = {"id": self.model.id, "revision": self.model.revision}
        for where in ("model_path", "data"):
            blob.pop(where)
        text = json.dumps(blob, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class UnitResult:
    unit: Unit
    rows: pd.DataFrame
    summary: dict[str, Any]
    seconds: float
    from_cache: bool = False


@dataclass
class StudyResult:
    """What a study produced; the same tables are in the output folder."""

    out_dir: Path
    examples: pd.DataFrame
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict[str, Any]
    manifest: dict[str, Any]
    units: list[UnitResult] = field(default_factory=list)


# ----------------------------------------------------------------------------- planning


def load_dataset(task: Task, data: str, split: str) -> QADataset | TextDataset:
    return load_qa_dataset(data, split) if task == "qa" else load_text_dataset(data, split)


def plan_units(
    config: StudyConfig,
    dataset: QADataset | TextDataset,
    models: Sequence[ResolvedModel],
) -> list[Unit]:
    """The study's units, model by model, subset by subset."""
    config = config.resolved()
    pool = dataset.examples
    if config.task == "qa" and config.settings.baseline_compat:
        pool = [e for e in pool if e.answers]  # the baseline used answerable questions only
    subsets = select_subsets(
        len(pool), config.subsets, config.subset_size, config.seed, config.subset_starts
    )
    device = resolve_device(config.device)
    dtype = str(resolve_dtype(config.dtype, device)).removeprefix("torch.")
    return [
        Unit(
            task=config.task,
            model=m.spec,
            model_path=m.path,
            model_revision=m.revision,
            model_fingerprint=m.fingerprint,
            subset=k,
            data=config.data,
            split=config.split,
            data_fingerprint=dataset.fingerprint,
            example_ids=tuple(pool[i].id for i in idx),
            settings=dataclasses.asdict(config.settings),
            device=str(device),
            dtype=dtype,
            allow_untrained_head=config.allow_untrained_head,
        )
        for m in models
        for k, idx in enumerate(subsets)
    ]


# ------------------------------------------------------------------------------ running


def run_unit(
    unit: Unit,
    dataset: QADataset | TextDataset | None = None,
    model: LoadedModel | None = None,
    progress: bool = True,
) -> UnitResult:
    """Compute one unit. ``dataset`` and ``model`` are reused when given, else loaded."""
    started = time.perf_counter()
    if dataset is None:
        dataset = load_dataset(unit.task, unit.data, unit.split)
    if dataset.fingerprint != unit.data_fingerprint:
        raise CtxvecError(
            f"data '{unit.data}' changed since the study was planned (fingerprint "
            f"{dataset.fingerprint} != {unit.data_fingerprint}); rerun the study"
        )
    if model is None:
        resolved = ResolvedModel(
            unit.model, unit.model_path, unit.model_revision, unit.model_fingerprint
        )
        model = load_model(resolved, unit.task, unit.device, unit.dtype, unit.allow_untrained_head)
    by_id = {e.id: e for e in dataset.examples}
    examples = [by_id[i] for i in unit.example_ids]
    if unit.task == "qa":
        settings = QASettings(**unit.settings)
        pred = predict_qa(model, examples, settings, progress=progress)
        summary = _qa_summary(pred.rows, settings.na_threshold)
    else:
        settings = ClsSettings(**unit.settings)
        labels = match_labels(model.model.config.id2label, dataset, settings.label_names)
        pred = predict_cls(model, examples, labels, settings, progress=progress)
        summary = _cls_summary(pred.rows, labels.positive)
    summary.update(pred.pooled)
    summary["layers"] = list(pred.layers)
    summary["kernels"] = pred.kernels
    summary["by_layer"] = {
        name: np.mean(np.stack(pred.rows[f"{name}_by_layer"]), axis=0).tolist()
        for name in LAYER_METRICS
        if pred.layers and len(pred.rows)
    }
    summary.update(n_skipped=len(pred.skipped), skipped_ids=pred.skipped)
    rows = pred.rows
    rows.insert(0, "subset", unit.subset)
    rows.insert(0, "model", unit.model.label)
    return UnitResult(unit, rows, summary, time.perf_counter() - started)


def _qa_summary(rows: pd.DataFrame, na_threshold: float) -> dict[str, Any]:
    gold = dict(zip(rows["id"], rows["gold_answers"], strict=True))
    preds = dict(zip(rows["id"], rows["prediction"], strict=True))
    na = dict(zip(rows["id"], rows["na_prob"], strict=True))
    scores = squad_v2_scores(gold, preds, na, na_threshold=na_threshold)
    return {
        "n": len(rows),
        **scores,
        **_metric_means(rows),
    }


def _cls_summary(rows: pd.DataFrame, positive: int | None) -> dict[str, Any]:
    scores = classification_scores(rows["label"].tolist(), rows["prediction"].tolist(), positive)
    return {
        "n": len(rows),
        "n_truncated": int(rows["truncated"].sum()),
        "positive": positive,
        # x100, on the same scale as the SQuAD scores
        **{k: 100.0 * v for k, v in scores.items()},
        **_metric_means(rows),
    }


def _metric_means(rows: pd.DataFrame) -> dict[str, float]:
    return {name: float(rows[name].mean()) for name in EXAMPLE_METRICS if name in rows}


def _cache_paths(cache_dir: Path, unit: Unit) -> tuple[Path, Path]:
    stem = f"{_safe(unit.model.label)}__subset{unit.subset}__{unit.key}"
    return cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def load_cached(cache_dir: Path, unit: Unit) -> UnitResult | None:
    rows_path, meta_path = _cache_paths(cache_dir, unit)
    if not (meta_path.is_file() and rows_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rows = pd.read_parquet(rows_path)
    rows["model"] = unit.model.label  # the label may differ from the one cached
    return UnitResult(unit, rows, meta["summary"], meta["seconds"], from_cache=True)


def store(cache_dir: Path, result: UnitResult) -> None:
    rows_path, meta_path = _cache_paths(cache_dir, result.unit)
    files.write_parquet(rows_path, result.rows)
    # The JSON is written last: its presence marks the unit as complete.
    files.write_json(
        meta_path,
        {
            "unit": dataclasses.asdict(result.unit),
            "summary": result.summary,
            "seconds": result.seconds,
        },
    )


def run_study(
    config: StudyConfig,
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log=print,
) -> StudyResult:
    """Run (or resume) a study and write its output folder.

    Args:
        config: what to run.
        out_dir: the output folder (created).
        cache_dir: where unit results are stored (default ``out_dir / "units"``).
        progress: show progress bars.
        log: where one-line progress messages go (``print`` by default; a no-op to silence).
    """
    started = time.perf_counter()
    config = config.resolved()
    out_dir = Path(out_dir)
    cache = Path(cache_dir) if cache_dir else out_dir / "units"
    dataset = load_dataset(config.task, config.data, config.split)
    resolved = [resolve_model(m) for m in config.models]
    units = plan_units(config, dataset, resolved)
    log(
        f"ctxvec: {len(resolved)} model(s) x {config.subsets} subset(s) of {config.subset_size} "
        f"from {dataset.source} ({len(dataset)} examples)"
    )
    results: list[UnitResult] = []
    for m in resolved:
        loaded: LoadedModel | None = None
        for unit in (u for u in units if u.model == m.spec):
            cached = load_cached(cache, unit)
            if cached is not None:
                results.append(cached)
                continue
            if loaded is None:
                loaded = load_model(
                    m, config.task, config.device, config.dtype, config.allow_untrained_head
                )
            result = run_unit(unit, dataset, loaded, progress=progress)
            store(cache, result)
            results.append(result)
            log(
                f"  {m.spec.label} subset {unit.subset}: "
                f"{_score_line(result.summary, config.score)} "
                f"({result.seconds:.1f}s)"
            )
        if loaded is not None:
            del loaded
    study = _write_outputs(config, out_dir, dataset, resolved, results, started)
    if len(resolved) < 10:
        r_needed = critical_r(len(resolved))
        log(
            f"ctxvec: note: {len(resolved)} model(s) give {len(resolved)} independent points; a "
            + (
                f"model-level Pearson r needs |r| > {r_needed:.2f} for p < 0.05"
                if len(resolved) >= 3
                else "model-level correlation needs at least 3 models"
            )
        )
    run = load_run(out_dir)  # read once for the report and the summary
    log(summary_markdown(run))
    log(f"ctxvec: results in {out_dir}, report in {write_report(run)}")
    return study


def _score_line(summary: dict[str, Any], score: str) -> str:
    parts = [f"n={summary['n']}", f"{score}={summary[score]:.4g}"]
    parts += [f"{k}={summary[k]:.4g}" for k in ("variance", "cse")]
    return " ".join(parts)


# ------------------------------------------------------------------------------ outputs

QA_SUBSET_COLUMNS = [
    "model",
    "subset",
    "n",
    "n_skipped",
    "f1",
    "exact",
    "HasAns_f1",
    "NoAns_f1",
    "best_f1",
    "best_f1_thresh",
    "best_exact",
    *EXAMPLE_METRICS,
    "random_baseline",
    *POOLED_METRICS,
]
CLS_SUBSET_COLUMNS = [
    "model",
    "subset",
    "n",
    "n_skipped",
    "n_truncated",
    "f1",
    "accuracy",
    "macro_f1",
    *EXAMPLE_METRICS,
    "random_baseline",
    *POOLED_METRICS,
    *SEPARABILITY,
]


def _write_outputs(
    config: StudyConfig,
    out_dir: Path,
    dataset: QADataset | TextDataset,
    resolved: Sequence[ResolvedModel],
    results: Sequence[UnitResult],
    started: float,
) -> StudyResult:
    examples = pd.concat([r.rows for r in results], ignore_index=True)
    columns = QA_SUBSET_COLUMNS if config.task == "qa" else CLS_SUBSET_COLUMNS
    subsets = pd.DataFrame(
        [{"model": r.unit.model.label, "subset": r.unit.subset, **r.summary} for r in results]
    ).reindex(columns=columns)
    metrics = subset_metrics(config.task, config.settings.metrics)
    layers = layer_table(results, config.score)
    correlations = {
        "score": config.score,
        "n_models": len(resolved),
        "n_points": len(subsets),
        "metrics": correlation_table(subsets, config.score, metrics),
        "layers": layer_correlations(layers, config.score),
    }
    positives = {r.unit.model.label: r.summary.get("positive") for r in results}
    models = model_table(config.task, examples, positives)
    files.write_parquet(out_dir / "examples.parquet", examples)
    files.write_csv(out_dir / "subsets.csv", subsets)
    files.write_csv(out_dir / "models.csv", models)
    if len(layers):
        files.write_csv(out_dir / "layers.csv", layers)
    files.write_json(out_dir / "correlations.json", correlations)
    figures = plot_score_vs_metrics(subsets, config.score, metrics, out_dir, _title(config))
    if correlations["layers"]:
        figures += plot_correlation_by_layer(correlations["layers"], config.score, out_dir)
    manifest = _manifest(config, dataset, resolved, results, figures, started)
    files.write_json(out_dir / "manifest.json", manifest)
    return StudyResult(out_dir, examples, subsets, models, correlations, manifest, list(results))


def subset_metrics(task: Task, metrics: MetricSet = "all") -> tuple[str, ...]:
    """The metrics correlated with the score across (model, subset) points."""
    if metrics == "core":
        return LAYER_METRICS
    return (*EXAMPLE_METRICS, *POOLED_METRICS, *(SEPARABILITY if task == "cls" else ()))


def layer_table(results: Sequence[UnitResult], score: str) -> pd.DataFrame:
    """One row per (model, subset, layer) with the score and the per-layer metric means."""
    rows = [
        {
            "model": r.unit.model.label,
            "subset": r.unit.subset,
            "layer": layer,
            score: r.summary[score],
            **{name: r.summary["by_layer"][name][k] for name in LAYER_METRICS},
        }
        for r in results
        for k, layer in enumerate(r.summary.get("layers", []))
    ]
    return pd.DataFrame(rows, columns=["model", "subset", "layer", score, *LAYER_METRICS])


def layer_correlations(layers: pd.DataFrame, score: str) -> dict[str, list[dict[str, Any]]]:
    """Per metric, the correlation table of each layer: ``{metric: [{"layer": l, ...}]}``.

    Layers are matched by index, so with models of different depths a layer's points come from
    the models that have it; each entry says how many (``n_models``), and layers that fewer than
    3 models have are left out (their correlations would compare one or two models).
    """
    if layers.empty:
        return {}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in LAYER_METRICS}
    for layer, points in layers.groupby("layer", sort=True):
        n_models = points["model"].nunique()
        if n_models < 3:
            continue
        table = correlation_table(points, score, LAYER_METRICS)
        for name in LAYER_METRICS:
            out[name].append({"layer": int(layer), "n_models": n_models, **table[name]})
    return out if any(out.values()) else {}


def model_table(
    task: Task, examples: pd.DataFrame, positives: dict[str, int | None]
) -> pd.DataFrame:
    """One row per model over all its examples: score and mean metrics with bootstrap 95% CIs.

    QA scores are means of per-example EM/F1 (the official totals); classification F1 is the
    positive-class F1 (macro F1 without a positive class), resampled as (label, prediction)
    pairs. Scores are x100.
    """
    rows = []
    for model, ex in examples.groupby("model", sort=False):
        row: dict[str, Any] = {"model": model, "n": len(ex)}
        if task == "qa":
            for name in ("f1", "exact"):
                _put(row, name, ex[name], scale=100.0)
        else:
            labels, preds = ex["label"].to_numpy(), ex["prediction"].to_numpy()
            f1 = functools.partial(_vector_f1, positive=positives.get(model))
            row["f1"] = 100.0 * float(f1(labels, preds, axis=-1))
            low, high = bootstrap_ci(labels, preds, statistic=f1)
            row["f1_ci_low"], row["f1_ci_high"] = 100.0 * low, 100.0 * high
            _put(row, "accuracy", ex["correct"].astype(float), scale=100.0)
        for metric in EXAMPLE_METRICS:
            if metric in ex:
                _put(row, metric, ex[metric])
        rows.append(row)
    return pd.DataFrame(rows)


def _put(row: dict[str, Any], name: str, values: pd.Series, scale: float = 1.0) -> None:
    low, high = bootstrap_ci(values.to_numpy(np.float64))
    row[name] = scale * float(values.mean())
    row[f"{name}_ci_low"], row[f"{name}_ci_high"] = scale * low, scale * high


def _vector_f1(
    labels: np.ndarray, preds: np.ndarray, axis: int, positive: int | None
) -> np.ndarray:
    """F1 of the positive class (macro F1 without one) along ``axis``, as sklearn computes it
    with ``zero_division=0``; vectorised so the bootstrap resamples in one call."""
    classes = [positive] if positive is not None else np.union1d(labels, preds)
    scores = []
    for c in classes:
        tp = ((labels == c) & (preds == c)).sum(axis)
        wrong = ((labels == c) != (preds == c)).sum(axis)  # false positives + false negatives
        denominator = 2 * tp + wrong
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


def _title(config: StudyConfig) -> str:
    return "SQuAD-style QA" if config.task == "qa" else "Sequence classification"


def _manifest(
    config: StudyConfig,
    dataset: QADataset | TextDataset,
    resolved: Sequence[ResolvedModel],
    results: Sequence[UnitResult],
    figures: Sequence[Path],
    started: float,
) -> dict[str, Any]:
    import torch

    device = resolve_device(config.device)
    return {
        "ctxvec_format": UNIT_FORMAT,
        "config": dataclasses.asdict(config),
        "models": [
            {
                "name": m.spec.label,
                "id": m.spec.id,
                "path": m.path,
                "revision": m.revision,
                "fingerprint": m.fingerprint,
            }
            for m in resolved
        ],
        "dataset": {
            "source": dataset.source,
            "split": config.split,
            "fingerprint": dataset.fingerprint,
            "n_examples": len(dataset),
        },
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "dtype": str(resolve_dtype(config.dtype, device)).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "units": [
            {
                "model": r.unit.model.label,
                "subset": r.unit.subset,
                "key": r.unit.key,
                "seconds": round(r.seconds, 3),
                "from_cache": r.from_cache,
                "n_skipped": r.summary.get("n_skipped", 0),
                "skipped_ids": r.summary.get("skipped_ids", []),
                "cpu_kernels": r.summary.get("kernels", {}),
            }
            for r in results
        ],
        "figures": [p.name for p in figures],
        "seconds_total": round(time.perf_counter() - started, 3),
    }


def _versions() -> dict[str, str]:
    names = [
        "ctxvec",
        "torch",
        "transformers",
        "tokenizers",
        "numpy",
        "scipy",
        "scikit-learn",
        "pandas",
        "pyarrow",
        "matplotlib",
    ]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
