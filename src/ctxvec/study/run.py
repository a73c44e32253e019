"""Running a study: plan the units, compute the missing ones, write the output folder.

:func:`run_study` loads the data and resolves the panel, plans one unit per (model, subset)
(:mod:`ctxvec.study.units`), takes finished units from the cache (:mod:`ctxvec.study.cache`),
computes the others model by model (each model loaded once), and writes ``examples.parquet``,
``subsets.csv``, ``models.csv``, ``layers.csv``, ``correlations.json``, the scatter plots,
``manifest.json`` and ``report.html``, with ``attention_stats`` ``attention.csv``, and with two
models or more ``similarity.csv`` (:mod:`ctxvec.study.similarity`; columns in
``docs/outputs.md``); an intervention panel (models with ``lambda`` and ``seed`` attributes) adds
the dose-response block and figure (:mod:`ctxvec.metrics.dose`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ctxvec import files
from ctxvec.data import Dataset
from ctxvec.loading import ResolvedModel, resolve_model
from ctxvec.metrics.confounds import confounds
from ctxvec.metrics.dose import panel_dose_response
from ctxvec.metrics.stats import correlation_table, critical_r
from ctxvec.report import load_run, summary_markdown, write_report
from ctxvec.report.dose import plot_dose_response
from ctxvec.report.plots import plot_correlation_by_layer, plot_score_vs_metrics
from ctxvec.report.styles import shorten
from ctxvec.study.cache import load_cached, load_cached_shard, store, store_shard
from ctxvec.study.config import StudyConfig
from ctxvec.study.executors import LocalExecutor, RayExecutor
from ctxvec.study.heads import attention_correlations, attention_table
from ctxvec.study.manifest import manifest
from ctxvec.study.result import StudyResult
from ctxvec.study.shards import Shard, ShardResult, merge, split
from ctxvec.study.similarity import similarity_block, similarity_table
from ctxvec.study.tables import (
    attribute_keys,
    layer_correlations,
    layer_table,
    model_table,
    subset_metrics,
    subset_table,
)
from ctxvec.study.units import Unit, UnitResult, UnitSummary, initialised_weights, plan_units
from ctxvec.tasks import Task, get_task

# The widest model label in a progress line: a line stays within 80 columns.
LABEL_WIDTH = 30


def run_study(
    config: StudyConfig,
    out_dir: str | Path,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    executor: LocalExecutor | RayExecutor | None = None,
    shard_size: int | None = None,
) -> StudyResult:
    """Run (or resume) a study and write its output folder.

    Args:
        config: what to run.
        out_dir: the output folder (created).
        cache_dir: where unit results are stored (default ``out_dir / "units"``).
        progress: show progress bars.
        log: where one-line progress messages go (``print`` by default; a no-op to silence).
        executor: where the units are computed (default: this process,
            :class:`~ctxvec.study.executors.LocalExecutor`).
        shard_size: split each unit into shards of this many examples, computed apart and
            merged (default: one shard per unit).
    """
    started = time.perf_counter()
    config = config.resolved()
    task = get_task(config.task)
    executor = executor or LocalExecutor()
    out_dir = Path(out_dir)
    with files.exclusive(out_dir):  # before anything else: a second study stops at once
        return _run(config, task, out_dir, cache_dir, progress, log, executor, shard_size, started)


def _run(
    config: StudyConfig,
    task: Task,
    out_dir: Path,
    cache_dir: str | Path | None,
    progress: bool,
    log: Callable[[str], None],
    executor: LocalExecutor | RayExecutor,
    shard_size: int | None,
    started: float,
) -> StudyResult:
    """:func:`run_study` once its output folder is held."""
    cache = Path(cache_dir) if cache_dir else out_dir / "units"
    dataset = task.load_data(config.data, config.split, config.strict)
    for note in dataset.notes:
        log(f"ctxvec: warning: {note}")
    resolved = [resolve_model(m) for m in config.models]
    units = plan_units(config, dataset, resolved)
    log(
        f"ctxvec: {len(resolved)} model(s) x {config.subsets} subset(s) of {config.subset_size}, "
        f"executor {executor.name}"
    )
    log(f"ctxvec: data {dataset.source} ({len(dataset)} examples)")
    for folder in {out_dir, cache}:  # what writers killed mid-write left behind
        files.remove_stale_temporaries(folder)
    results = _compute(units, dataset, cache, executor, shard_size, config.score, progress, log)
    for label, names in initialised_weights(results).items():
        if names:
            log(_initialised_note(label, names))
    study = _write_outputs(
        config, out_dir, dataset, resolved, results, started, executor.describe(), shard_size
    )
    if len(resolved) < 10:
        log(_panel_note(len(resolved)))
    if config.attention_stats:
        log(_attention_note(results))
    run = load_run(out_dir)  # read once for the report and the summary
    log(summary_markdown(run))
    report = write_report(run)
    log(f"ctxvec: results in {out_dir}")
    log(f"ctxvec: report in {report}")
    return study


def _compute(
    units: Sequence[Unit],
    dataset: Dataset,
    cache: Path,
    executor: LocalExecutor | RayExecutor,
    shard_size: int | None,
    score: str,
    progress: bool,
    log: Callable[[str], None],
) -> list[UnitResult]:
    """Every unit's result: from the cache where it is there and sound, else computed, each
    stored as soon as it (or, sharded, each of its shards) finishes."""
    done: dict[str, UnitResult] = {}
    parts: dict[str, dict[int, ShardResult]] = {}
    shards: dict[str, list[Shard]] = {}
    todo: list[Shard] = []
    for unit in units:
        cached = load_cached(cache, unit, warn=log)
        if cached is not None:
            done[unit.key] = cached
            continue
        shards[unit.key] = split(unit, shard_size)
        parts[unit.key] = {}
        for shard in shards[unit.key]:
            part = load_cached_shard(cache, shard, warn=log) if shard.count > 1 else None
            if part is None:
                todo.append(shard)
            else:
                parts[unit.key][shard.index] = part

    def finish(unit: Unit) -> None:
        result = merge(unit, list(parts[unit.key].values()))
        store(cache, result)
        done[unit.key] = result
        # Where it ran matters on a cluster only; locally the line stays short.
        nodes = sorted({p["node"] for p in result.parts if p}) if executor.name != "local" else []
        where = f" on {', '.join(nodes)}" if nodes else ""
        label = shorten(unit.model.label, LABEL_WIDTH)
        log(
            f"  {label} subset {unit.subset}: {_score_line(result.summary, score)} "
            f"({result.seconds:.1f}s{where})"
        )

    def on_done(part: ShardResult) -> None:
        unit = part.shard.unit
        if part.shard.count > 1:
            store_shard(cache, part)
        parts[unit.key][part.shard.index] = part
        if len(parts[unit.key]) == len(shards[unit.key]):
            finish(unit)

    for unit in units:  # units whose every shard was cached
        if unit.key not in done and len(parts[unit.key]) == len(shards[unit.key]):
            finish(unit)
    executor.run(todo, dataset, on_done, progress)
    return [done[u.key] for u in units]


def _panel_note(n_models: int) -> str:
    """What a small panel can show, said before the results."""
    if n_models < 3:
        need = "model-level correlation needs at least 3 models"
    else:
        need = f"model-level Pearson r needs |r| > {critical_r(n_models):.2f} for p < 0.05"
    return (
        f"ctxvec: note: {n_models} model(s) give {n_models} independent points;\nctxvec: a {need}"
    )


def _initialised_note(label: str, names: Sequence[str], width: int = 80) -> str:
    """One line within ``width`` columns: a model ran with freshly initialised weights (as many
    of their names as fit; all of them are in the manifest)."""
    n, tail = len(names), "; see manifest.json"
    what = f"{n} weight{'s' * (n > 1)} freshly initialised"
    head = f"ctxvec: warning: {shorten(label, LABEL_WIDTH)}: {what}"
    for k in range(n, 0, -1):
        listed = ", ".join(names[:k]) + (", ..." if k < n else "")
        if len(line := f"{head} ({listed}){tail}") <= width:
            return line
    room = width - len(f"ctxvec: warning: : {what}{tail}")  # what the label may take
    return f"ctxvec: warning: {shorten(label, max(room, 4))}: {what}{tail}"


def _attention_note(results: Sequence[UnitResult]) -> str:
    """How many sampled inputs the attention statistics used, and how many were too long."""
    used = sum(len(r.summary.attention["used"]) for r in results)
    skipped = sum(len(r.summary.attention["skipped"]) for r in results)
    line = f"ctxvec: attention statistics of {used} sampled inputs in attention.csv"
    if skipped:
        line += (
            f"; {skipped} longer than --max-length were left out (listed per unit in "
            "manifest.json); raise --max-length to include them"
        )
    return line


def _score_line(summary: UnitSummary, score: str) -> str:
    parts = [f"n={summary.n}", f"{score}={summary.value(score):.4g}"]
    parts += [f"{k}={summary.metrics[k]:.4g}" for k in ("variance", "cse")]
    return " ".join(parts)


def _write_outputs(
    config: StudyConfig,
    out_dir: Path,
    dataset: Dataset,
    resolved: Sequence[ResolvedModel],
    results: Sequence[UnitResult],
    started: float,
    execution: dict[str, Any],
    shard_size: int | None,
) -> StudyResult:
    task = get_task(config.task)
    examples = pd.concat([r.rows for r in results], ignore_index=True)
    subsets = subset_table(task, results)
    metrics = subset_metrics(task, config.settings.metrics)
    layers = layer_table(results, config.score)
    correlations = {
        "score": config.score,
        "n_models": len(resolved),
        "n_points": len(subsets),
        "metrics": correlation_table(subsets, config.score, metrics),
        "layers": layer_correlations(layers, config.score),
    }
    if attribute_keys(config.models):  # a panel without attributes writes no confounds block
        correlations["confounds"] = confounds(
            subsets, config.score, metrics, config.controls, config.mixed_group
        )
    attention = None
    if config.attention_stats:
        attention = attention_table(results)
        correlations["attention"] = attention_correlations(attention, subsets, config.score)
    dose = panel_dose_response(subsets, config.score)  # an intervention panel's lambdas
    if dose is not None:
        correlations["dose_response"] = dose
    similarity = similarity_table(results)  # None for a single model: no file, no block
    if similarity is not None:
        correlations["similarity"] = similarity_block(similarity, subsets, config.score)
        files.write_csv(out_dir / "similarity.csv", similarity)
    states = {r.unit.model.label: r.summary.state for r in results}
    models = model_table(task, examples, states, config.models)
    files.write_parquet(out_dir / "examples.parquet", examples)
    files.write_csv(out_dir / "subsets.csv", subsets)
    files.write_csv(out_dir / "models.csv", models)
    if len(layers):
        files.write_csv(out_dir / "layers.csv", layers)
    files.write_json(out_dir / "correlations.json", correlations)
    if attention is not None:
        files.write_csv(out_dir / "attention.csv", attention)
    figures: list[Path] = []
    if config.figures:
        figures += plot_score_vs_metrics(
            subsets, config.score, metrics, out_dir, task.title, config.figures
        )
        if correlations["layers"]:
            figures += plot_correlation_by_layer(
                correlations["layers"], config.score, out_dir, config.figures
            )
        figures += plot_dose_response(subsets, dose, out_dir, config.figures)
    execution = {**execution, "shard_size": shard_size}
    record = manifest(config, dataset, resolved, results, figures, started, execution)
    files.write_json(out_dir / "manifest.json", record)
    return StudyResult(
        out_dir, examples, subsets, models, correlations, record, list(results), attention
    )
