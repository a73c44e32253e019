"""Attention statistics in a study (``--attention-stats N``): merged per unit, tabled, correlated.

Each unit's shards return per-input statistics of the unit's attention sample
(:func:`ctxvec.tasks.heads.head_inputs`); :func:`merge_heads` averages them in the unit's order
into one row per head (:func:`ctxvec.metrics.heads.combine_statistics`), which the unit's summary
keeps. :func:`attention_table` gives ``attention.csv``: one row per (model, subset, layer, head)
and, with ``head = "mean"``, the layer's mean over its heads.

Models of different depth share one axis by **relative depth** ``layer / n_layers`` in four
bins (:func:`ctxvec.metrics.heads.depth_bin`): ``lower`` (<= 1/3), ``middle`` (<= 2/3),
``upper`` (below 1) and ``last`` (the last layer alone, where the task head reads). A 6-layer
model has layers 1-2 lower, 3-4 middle, 5 upper and 6 last; a 12-layer one 1-4, 5-8, 9-11 and
12; a 2-layer one has no lower or upper layer. A unit's value in a bin is the mean over the
bin's layers of the layer means over heads (:func:`ctxvec.metrics.heads.depth_bin_means`).
:func:`attention_correlations` correlates each statistic in each bin with the score, with the
study's own statistics (:func:`ctxvec.metrics.stats.correlation_table`), over the models that
have the bin (at least 3). Heads are never matched one to one across models: they are not
comparable that way (see docs/attention.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ctxvec.metrics.heads import (
    DEPTH_BINS,
    STATISTICS,
    combine_statistics,
    depth_bin,
    depth_bin_means,
    relative_depth,
)
from ctxvec.metrics.registry import CORRELATED_HEAD_STATISTICS
from ctxvec.metrics.stats import correlation_table
from ctxvec.study.units import UnitResult

if TYPE_CHECKING:
    from ctxvec.study.shards import ShardResult

# The statistics correlated with the score (the uniform baseline is the input length's, not a
# head's); the QA shares only where the task has a question and a context.
CORRELATED = CORRELATED_HEAD_STATISTICS
COLUMNS = [
    "model",
    "subset",
    "n_layers",
    "layer",
    "relative_depth",
    "depth_bin",
    "head",
    *STATISTICS,
    "n_inputs",
    "n_skipped",
]


def merge_heads(parts: Sequence[ShardResult]) -> dict[str, Any]:
    """A unit's attention statistics from its shards, given in shard order (so the inputs are
    in the unit's order)."""
    heads = [p.heads for p in parts if p.heads is not None]
    per_input = [s for h in heads for s in h.per_input]
    table = combine_statistics(per_input) if per_input else None
    return {
        "n_inputs": len(per_input),
        "used": [i for h in heads for i in h.used],
        "skipped": [i for h in heads for i in h.skipped],
        "seconds": sum(p.heads_seconds for p in parts),
        # Lists of Python floats: JSON keeps them exactly (the unit cache stores the summary).
        "table": None if table is None else table.to_dict("list"),
    }


def attention_table(results: Sequence[UnitResult]) -> pd.DataFrame:
    """``attention.csv``: per unit, one row per (layer, head), then per layer its mean."""
    frames = []
    for r in results:
        entry = r.summary.attention
        if not entry or entry["table"] is None:
            continue
        heads = pd.DataFrame(entry["table"])
        means = heads.drop(columns="head").groupby("layer", as_index=False).mean()
        means["head"] = "mean"
        frame = pd.concat([heads.astype({"head": object}), means], ignore_index=True)
        n_layers = int(heads["layer"].max())
        frame["model"] = r.unit.model.label
        frame["subset"] = r.unit.subset
        frame["n_layers"] = n_layers
        frame["relative_depth"] = [relative_depth(int(layer), n_layers) for layer in frame["layer"]]
        frame["depth_bin"] = [depth_bin(int(layer), n_layers) for layer in frame["layer"]]
        frame["n_inputs"] = entry["n_inputs"]
        frame["n_skipped"] = len(entry["skipped"])
        frame = frame.sort_values(["layer", "head"], key=_head_order, kind="stable")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True).reindex(columns=COLUMNS)


def _head_order(column: pd.Series) -> pd.Series:
    """Heads in number order with the layer's mean after them."""
    if column.name != "head":
        return column
    return column.map(lambda h: np.inf if h == "mean" else h)


def depth_points(attention: pd.DataFrame, subsets: pd.DataFrame, score: str) -> pd.DataFrame:
    """Per (model, subset): the score and each statistic's value in each depth bin, in columns
    ``{statistic}:{bin}`` (NaN where the model has no layer in the bin)."""
    stats = [s for s in CORRELATED if s in attention and attention[s].notna().any()]
    binned = depth_bin_means(attention, stats).set_index(["model", "subset", "depth_bin"])
    wide = binned.unstack("depth_bin")
    wide.columns = [f"{stat}:{b}" for stat, b in wide.columns]
    wide = wide.reset_index()
    return subsets[["model", "subset", score]].merge(wide, on=["model", "subset"], how="inner")


def attention_correlations(
    attention: pd.DataFrame, subsets: pd.DataFrame, score: str
) -> dict[str, Any]:
    """``correlations.json``'s ``"attention"``: per statistic and depth bin, the correlations
    with the score over the models that have the bin (cells of fewer than 3 models left out)."""
    points = depth_points(attention, subsets, score)
    cells: dict[str, dict[str, Any]] = {}
    for column in points.columns[3:]:
        stat, where = column.split(":")
        have = points[points[column].notna()]
        n_models = have["model"].nunique()
        if n_models < 3:
            continue
        table = correlation_table(have, score, [column])[column]
        cells.setdefault(stat, {})[where] = {"n_models": n_models, **table}
    return {
        "score": score,
        "bins": {
            "lower": "layer / n_layers <= 1/3",
            "middle": "1/3 < layer / n_layers <= 2/3",
            "upper": "2/3 < layer / n_layers < 1",
            "last": "the last layer",
        },
        "statistics": {
            stat: {b: cells[stat][b] for b in DEPTH_BINS if b in cells[stat]}
            for stat in CORRELATED
            if stat in cells
        },
    }
