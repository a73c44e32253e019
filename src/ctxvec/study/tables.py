"""The study's output tables, built from the units' results.

``subsets.csv`` (one row per (model, subset): scores and metric means), ``layers.csv`` (one row
per (model, subset, layer)), the per-layer correlations, and ``models.csv`` (one row per model
over all its examples, with bootstrap intervals). Columns are documented in
``docs/outputs.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.data import Task
from ctxvec.inference.measured import LAYER_METRICS, MetricSet
from ctxvec.inference.measured import METRICS as EXAMPLE_METRICS
from ctxvec.metrics.scoring import f1_scores
from ctxvec.metrics.stats import bootstrap_ci, correlation_table
from ctxvec.study.units import UnitResult

# Subset-level metrics of pooled vectors, beside the means of the per-example metrics.
POOLED_METRICS = ("isoscore", "self_similarity_adjusted")
SEPARABILITY = tuple(
    f"{name}_{pooling}"
    for pooling in ("summary", "mean")
    for name in ("fisher_ratio", "silhouette", "probe_accuracy")
)
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


def subset_table(task: Task, results: Sequence[UnitResult]) -> pd.DataFrame:
    """One row per unit: its scores and metric means, in ``subsets.csv``'s columns."""
    columns = QA_SUBSET_COLUMNS if task == "qa" else CLS_SUBSET_COLUMNS
    return pd.DataFrame(
        [{"model": r.unit.model.label, "subset": r.unit.subset, **r.summary} for r in results]
    ).reindex(columns=columns)


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
            f1 = functools.partial(f1_scores, positive=positives.get(model))
            row["f1"] = 100.0 * float(f1(labels, preds))
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
