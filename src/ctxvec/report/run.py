"""A finished run folder, read back, and the tables the report and the summary show.

:func:`load_run` reads ``manifest.json``, ``subsets.csv``, ``models.csv`` and
``correlations.json``, and ``attention.csv`` when the study measured attention
(``--attention-stats``) and ``similarity.csv`` when the panel had two models or more;
:func:`correlation_frame`, :func:`model_frame` and :func:`warnings_for`
lay out what is in them. Nothing is recomputed: a report can be rebuilt from the folder alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ctxvec.errors import CtxvecError
from ctxvec.metrics.registry import REGISTRY, label
from ctxvec.report.numbers import interval, number
from ctxvec.report.verdict import ALPHA, MIN_MODELS

LEVELS = {"subset_level": "subsets", "model_level": "models"}


@dataclass
class Run:
    """A run folder's outputs, as written by :func:`ctxvec.study.run_study`."""

    path: Path
    manifest: dict[str, Any]
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict[str, Any]
    # attention.csv (one row per model, subset, layer and head, plus each layer's "mean" row),
    # or None for a run without attention statistics.
    attention: pd.DataFrame | None = None
    # similarity.csv (one row per pair of models and subset), or None for a single model.
    similarity: pd.DataFrame | None = None

    @property
    def metrics(self) -> list[str]:
        return list(self.correlations["metrics"])

    @property
    def task(self) -> str:
        """The task as the report names it (the manifest's description; its name for a run
        written before the manifest kept one)."""
        task = self.manifest.get("task") or {}
        return task.get("description") or self.manifest["config"]["task"]

    @property
    def score(self) -> str:
        return self.correlations["score"]


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder; a missing or partial folder is a one-line :class:`CtxvecError`."""
    path = Path(run_dir)
    needed = ["manifest.json", "subsets.csv", "models.csv", "correlations.json"]
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise CtxvecError(
            f"'{run_dir}' is not a finished ctxvec run (no {', '.join(missing)}); "
            "give the --out folder of a study"
        )
    return Run(
        path=path,
        manifest=json.loads((path / "manifest.json").read_text(encoding="utf-8")),
        subsets=pd.read_csv(path / "subsets.csv"),
        models=pd.read_csv(path / "models.csv"),
        correlations=json.loads((path / "correlations.json").read_text(encoding="utf-8")),
        attention=(
            pd.read_csv(path / "attention.csv") if (path / "attention.csv").is_file() else None
        ),
        similarity=(
            pd.read_csv(path / "similarity.csv") if (path / "similarity.csv").is_file() else None
        ),
    )


def correlation_frame(run: Run) -> pd.DataFrame:
    """One row per (metric, level): r, interval, p-values, rho; tests where they apply."""
    rows = []
    for metric, levels in run.correlations["metrics"].items():
        for key, level in LEVELS.items():
            c = levels[key]
            row = {
                "metric": label(metric),
                "level": level,
                "n": c["n"],
                "pearson r": c["pearson_r"],
                "95% CI": interval(c["pearson_ci_low"], c["pearson_ci_high"]),
                "t-test p": c["pearson_p"],
                "spearman rho": c["spearman_rho"],
                "rho permutation p": c["spearman_p"],
                "permutation p": None,
            }
            if key == "model_level" and "model_permutation" in levels:
                row["permutation p"] = levels["model_permutation"]["p"]
            rows.append(row)
        within = levels.get("within_model")
        if within:
            rows.append(
                {
                    "metric": label(metric),
                    "level": "within models",
                    "n": within["n"],
                    "pearson r": within["r"],
                    "95% CI": "",
                    "t-test p": within["p"],
                }
            )
    return pd.DataFrame(rows)


def metric_frame(run: Run) -> pd.DataFrame:
    """What each correlated metric measures and which correlation with the score the hypothesis
    predicts, from the metric registry (a metric it does not declare gets its name only)."""
    rows = []
    for name in run.metrics:
        metric = REGISTRY.get(name)
        way = metric.discriminative if metric is not None else None
        rows.append(
            {
                "metric": label(name),
                "what it measures": metric.description if metric is not None else "",
                "more discriminative when": way or "",
                "the hypothesis predicts": {"higher": "r > 0", "lower": "r < 0"}.get(way, ""),
            }
        )
    return pd.DataFrame(rows)


def model_frame(run: Run) -> pd.DataFrame:
    """The per-model table with each value and its bootstrap interval in one cell (the panel's
    model attributes as they are, after the model)."""
    attributes = [c for c in run.models.columns if c in _attribute_keys(run)]
    out = run.models[["model", *attributes, "n"]].astype(object).fillna("")
    for column in run.models.columns:
        if column in {"model", "n", *attributes} or column.endswith(("_ci_low", "_ci_high")):
            continue
        digits = 2 if column in {"f1", "exact", "accuracy"} else 4
        cells = []
        for _, row in run.models.iterrows():
            band = interval(row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high"), digits)
            cells.append(number(row[column], f".{digits}f") + (f" {band}" if band else ""))
        out[label(column)] = cells
    return out


def _attribute_keys(run: Run) -> set[str]:
    """The attribute keys of the run's models (manifest.json; none for an older run)."""
    return {key for m in run.manifest["models"] for key in m.get("attributes", {})}


def warnings_for(run: Run) -> list[str]:
    """Plain-language cautions about what the model-level statistics can show."""
    n = run.correlations.get("n_models", len(run.models))
    if n < MIN_MODELS:
        return [
            f"Only {n} model(s): a correlation across models needs at least {MIN_MODELS}, so "
            "only the subset-level and within-model rows can be read, and they say nothing about "
            "whether better models have more discriminative vectors."
        ]
    short, critical = [], math.nan
    for metric, levels in run.correlations["metrics"].items():
        critical = levels.get("critical_r", {}).get("r", math.nan)
        r = levels["model_level"]["pearson_r"]
        if r is not None and not math.isnan(critical) and abs(r) <= critical:
            short.append(f"{label(metric)} (r = {number(r)})")
    if not short:
        return []
    return [
        f"With {n} models a model-level Pearson r needs |r| > {number(critical)} for "
        f"p < {number(ALPHA)}. These metrics do not reach it, so this panel cannot show their "
        f"relationship with the score to be different from none: {', '.join(short)}."
    ]
