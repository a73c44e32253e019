"""The study's output tables, built from the units' results.

``subsets.csv`` (one row per (model, subset): scores and metric means), ``layers.csv`` (one row
per (model, subset, layer), with the layer's relative depth), the correlations over relative
depth, and ``models.csv`` (one row per model over all its examples, with bootstrap intervals).
A panel's model attributes (:attr:`~ctxvec.loading.ModelSpec.attributes`) are columns of
``subsets.csv`` and ``models.csv`` (:func:`with_attributes`), whose names they may not take
(:func:`reserved_columns`). Columns are documented in ``docs/outputs.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec.inference.measured import N_LAYERS, MetricSet
from ctxvec.loading import ModelSpec
from ctxvec.metrics.heads import relative_depth
from ctxvec.metrics.registry import (
    EXAMPLE_METRICS,
    LAYER_METRICS,
    POOLED_METRICS,
    REFERENCE_METRICS,
    REGISTRY,
    SEPARABILITY,
)
from ctxvec.metrics.stats import correlation_table, put_estimate
from ctxvec.tasks import Task

if TYPE_CHECKING:  # not at run time: study.config imports this module, and units imports config
    from ctxvec.study.units import UnitResult

# The suffixes of a value's bootstrap interval columns (metrics.stats.put_estimate).
_INTERVAL = ("_ci_low", "_ci_high")


def subset_columns(task: Task) -> list[str]:
    """``subsets.csv``'s columns for a task."""
    return [
        "model",
        "subset",
        "n",
        "n_skipped",
        *task.columns,
        *EXAMPLE_METRICS,
        *REFERENCE_METRICS,
        *POOLED_METRICS,
        *(SEPARABILITY if task.labelled else ()),
    ]


def reserved_columns(task: Task) -> frozenset[str]:
    """The names ``subsets.csv`` and ``models.csv`` may use for their own columns (the model,
    the subset, counts, the task's scores and columns, every registered metric, and their
    intervals), which no model attribute may take."""
    names = {*subset_columns(task), *task.scores, *REGISTRY}
    return frozenset(names | {name + suffix for name in names for suffix in _INTERVAL})


def attribute_keys(models: Sequence[ModelSpec]) -> list[str]:
    """The attribute keys of a panel: their union, in the order they first appear."""
    return list(dict.fromkeys(key for m in models for key, _ in m.attributes))


def with_attributes(frame: pd.DataFrame, models: Sequence[ModelSpec], after: str) -> pd.DataFrame:
    """``frame`` (a ``model`` column of labels) with one column per attribute key of
    :func:`attribute_keys` right after column ``after``: each row's model's value, empty where
    the model has none. A panel without attributes gives ``frame`` unchanged."""
    values = {m.label: m.attribute_map for m in models}
    at = frame.columns.get_loc(after) + 1
    for i, key in enumerate(attribute_keys(models)):
        frame.insert(at + i, key, [values.get(model, {}).get(key) for model in frame["model"]])
    return frame


def subset_table(task: Task, results: Sequence[UnitResult]) -> pd.DataFrame:
    """One row per unit: its scores and metric means, in ``subsets.csv``'s columns (the
    models' attributes after ``subset``)."""
    frame = pd.DataFrame(
        [{"model": r.unit.model.label, "subset": r.unit.subset, **r.summary.row()} for r in results]
    ).reindex(columns=subset_columns(task))
    models = list({r.unit.model.label: r.unit.model for r in results}.values())
    return with_attributes(frame, models, after="subset")


def subset_metrics(task: Task, metrics: MetricSet = "all") -> tuple[str, ...]:
    """The metrics correlated with the score across (model, subset) points."""
    if metrics == "core":
        return LAYER_METRICS
    return (*EXAMPLE_METRICS, *POOLED_METRICS, *(SEPARABILITY if task.labelled else ()))


def layer_table(results: Sequence[UnitResult], score: str) -> pd.DataFrame:
    """One row per (model, subset, layer) with the score and the per-layer metric means.

    ``layer`` is the model's own index (0 = embeddings), ``n_layers`` its transformer layers
    (:func:`model_layers`) and ``depth`` the layer's relative depth ``layer / n_layers``
    (:func:`~ctxvec.metrics.heads.relative_depth`: 0 = embeddings, 1 = the last layer).
    """
    rows = []
    for r in results:
        if not r.summary.layers:
            continue
        n_layers = model_layers(r)
        for k, layer in enumerate(r.summary.layers):
            rows.append(
                {
                    "model": r.unit.model.label,
                    "subset": r.unit.subset,
                    "layer": layer,
                    "n_layers": n_layers,
                    "depth": relative_depth(layer, n_layers),
                    score: r.summary.value(score),
                    **{name: r.summary.by_layer[name][k] for name in LAYER_METRICS},
                }
            )
    return pd.DataFrame(
        rows, columns=["model", "subset", "layer", "n_layers", "depth", score, *LAYER_METRICS]
    )


def model_layers(result: UnitResult) -> int:
    """The number of layers of the unit's model's measured stack, as the forward pass counted
    them (:func:`~ctxvec.inference.measured.model_depth`, kept in the unit's state)."""
    return int(result.summary.state[N_LAYERS])


def depth_grid(layers: pd.DataFrame) -> list[tuple[float, int | None]]:
    """The relative depths :func:`layer_correlations` correlates at, ascending, each with the
    layer index all models have there (``None`` where their indices differ).

    When every model has the same number of layers: every depth measured, so every layer (the
    depth and the index then say the same). Otherwise: only the depths that every model has
    exactly (2- and 6-layer models: 0, 1/2 and 1); the others are left out, not interpolated.
    """
    if layers.empty:
        return []
    if layers["n_layers"].nunique() == 1:
        depths = set(layers["depth"])
    else:
        depths = set.intersection(*(set(d) for _, d in layers.groupby("model")["depth"]))
    grid = []
    for depth in sorted(depths):
        indices = set(layers.loc[layers["depth"] == depth, "layer"])
        grid.append((float(depth), int(indices.pop()) if len(indices) == 1 else None))
    return grid


def layer_correlations(layers: pd.DataFrame, score: str) -> dict[str, list[dict[str, Any]]]:
    """Per metric, the correlation table at each relative depth of :func:`depth_grid`:
    ``{metric: [{"depth": d, "layer": l or None, "n_models": n, ...}]}``.

    Models of different depth are matched by relative depth (``layers.csv``'s ``depth``), never
    by index: a depth is correlated only where every model has a layer exactly there (depths
    that only some models have are left out of every level rather than interpolated), and
    ``layer`` is the index when all models have that index there (always when all models have
    the same number of layers; else only at depth 0). ``n_models`` says how many models the
    points come from; depths that fewer than 3 models have are left out (their correlations
    would compare one or two models).
    """
    if layers.empty:
        return {}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in LAYER_METRICS}
    for depth, layer in depth_grid(layers):
        points = layers[layers["depth"] == depth]
        n_models = points["model"].nunique()
        if n_models < 3:
            continue
        table = correlation_table(points, score, LAYER_METRICS)
        for name in LAYER_METRICS:
            entry = {"depth": depth, "layer": layer, "n_models": n_models}
            out[name].append({**entry, **table[name]})
    return out if any(out.values()) else {}


def model_table(
    task: Task,
    examples: pd.DataFrame,
    states: Mapping[str, Mapping[str, Any]],
    models: Sequence[ModelSpec] = (),
) -> pd.DataFrame:
    """One row per model over all its examples: the task's scores
    (:meth:`~ctxvec.tasks.base.Task.model_scores`, given each model's state) and the mean
    metrics, each with a bootstrap 95% CI; the attributes of ``models`` after ``model``."""
    rows = []
    for model, ex in examples.groupby("model", sort=False):
        row: dict[str, Any] = {"model": model, "n": len(ex)}
        row.update(task.model_scores(ex, states.get(model, {})))
        for metric in EXAMPLE_METRICS:
            if metric in ex:
                put_estimate(row, metric, ex[metric])
        rows.append(row)
    return with_attributes(pd.DataFrame(rows), models, after="model")
