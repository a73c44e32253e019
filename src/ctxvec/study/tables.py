"""The study's output tables, built from the units' results.

``subsets.csv`` (one row per (model, subset): scores and metric means), ``layers.csv`` (one row
per (model, subset, layer)), the per-layer correlations, and ``models.csv`` (one row per model
over all its examples, with bootstrap intervals). Columns are documented in
``docs/outputs.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ctxvec.inference.measured import MetricSet
from ctxvec.metrics.registry import EXAMPLE_METRICS, LAYER_METRICS, POOLED_METRICS, SEPARABILITY
from ctxvec.metrics.stats import correlation_table, put_estimate
from ctxvec.study.units import UnitResult
from ctxvec.tasks import Task


def subset_columns(task: Task) -> list[str]:
    """``subsets.csv``'s columns for a task."""
    return [
        "model",
        "subset",
        "n",
        "n_skipped",
        *task.columns,
        *EXAMPLE_METRICS,
        "random_baseline",
        *POOLED_METRICS,
        *(SEPARABILITY if task.labelled else ()),
    ]


def subset_table(task: Task, results: Sequence[UnitResult]) -> pd.DataFrame:
    """One row per unit: its scores and metric means, in ``subsets.csv``'s columns."""
    return pd.DataFrame(
        [{"model": r.unit.model.label, "subset": r.unit.subset, **r.summary.row()} for r in results]
    ).reindex(columns=subset_columns(task))


def subset_metrics(task: Task, metrics: MetricSet = "all") -> tuple[str, ...]:
    """The metrics correlated with the score across (model, subset) points."""
    if metrics == "core":
        return LAYER_METRICS
    return (*EXAMPLE_METRICS, *POOLED_METRICS, *(SEPARABILITY if task.labelled else ()))


def layer_table(results: Sequence[UnitResult], score: str) -> pd.DataFrame:
    """One row per (model, subset, layer) with the score and the per-layer metric means."""
    rows = [
        {
            "model": r.unit.model.label,
            "subset": r.unit.subset,
            "layer": layer,
            score: r.summary.value(score),
            **{name: r.summary.by_layer[name][k] for name in LAYER_METRICS},
        }
        for r in results
        for k, layer in enumerate(r.summary.layers)
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
    task: Task, examples: pd.DataFrame, states: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per model over all its examples: the task's scores
    (:meth:`~ctxvec.tasks.base.Task.model_scores`, given each model's state) and the mean
    metrics, each with a bootstrap 95% CI."""
    rows = []
    for model, ex in examples.groupby("model", sort=False):
        row: dict[str, Any] = {"model": model, "n": len(ex)}
        row.update(task.model_scores(ex, states.get(model, {})))
        for metric in EXAMPLE_METRICS:
            if metric in ex:
                put_estimate(row, metric, ex[metric])
        rows.append(row)
    return pd.DataFrame(rows)
