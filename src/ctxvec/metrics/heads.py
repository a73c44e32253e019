"""Per-head attention statistics, each as its paper defines it.

For one input's weights ``[layers, heads, n, n]`` (rows are queries and sum to 1) and a segment
code per token (:data:`SPECIAL`, :data:`QUESTION` or the text, :data:`CONTEXT`):

- **entropy** of each query row after mixing in :data:`ENTROPY_SMOOTHING` of the uniform
  distribution over the keys the query can see, averaged over rows, beside its uniform baseline,
  the same average of ``log`` (keys seen) (Clark, Khandelwal, Levy & Manning 2019, "What Does
  BERT Look At?", BlackboxNLP);
- **mean distance** ``sum_ij a_ij |i - j|`` over the total attention, pooled over every query
  of every input (Vig & Belinkov 2019, "Analyzing the Structure of Attention in a Transformer
  Language Model", BlackboxNLP);
- the **share on special tokens**, and for QA the shares from question tokens to context tokens
  and back.

An encoder's query sees all ``n`` keys (uniform entropy ``log n``); a causal model's query ``i``
(decoder-only, :attr:`ctxvec.loading.LoadedModel.causal`) sees keys ``0..i`` only (uniform
entropy ``log(i + 1)``), and its weights on the other keys are 0 on the eager path. Only the
entropy and its baseline need the mask; the other statistics sum weights, where masked keys add
nothing, except that a QA share is taken over the queries that can see the other segment at
all (a question read first cannot see the context: NaN, not a structural 0).

:func:`input_statistics` gives one input's statistics in additive form and
:func:`combine_statistics` averages them over inputs into one row per head. Getting the
weights is the attention views' job (:mod:`ctxvec.attention`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ctxvec.errors import CtxvecError
from ctxvec.metrics.registry import HEAD_STATISTICS

# Clark et al. (2019) mix this much of the uniform distribution into every row before the log.
ENTROPY_SMOOTHING = 1e-4
# Segment codes per token.
SPECIAL, QUESTION, CONTEXT = -1, 0, 1
# attention.csv's statistics, declared (with labels) in ctxvec.metrics.registry.
STATISTICS = HEAD_STATISTICS


def input_statistics(
    weights: np.ndarray, segment: np.ndarray, causal: bool = False
) -> dict[str, np.ndarray]:
    """Per-head statistics of one input, in the additive form :func:`combine_statistics` needs.

    Args:
        weights: ``[layers, heads, n, n]`` attention, rows (queries) summing to 1.
        segment: ``[n]`` codes: -1 special, 0 question/text, 1 context.
        causal: query ``i`` sees keys ``0..i`` only (a decoder-only model), not all ``n``.

    Returns:
        ``[layers, heads]`` arrays: ``entropy`` (smoothed over the keys each query sees, mean
        over query rows), ``special_share``, ``question_to_context``, ``context_to_question``
        (NaN without both segments, or when no query of the first can see the second),
        ``distance_sum`` (sum over queries of the attention-weighted |i - j|), and the scalars
        ``uniform_entropy`` (mean over rows of log(keys seen): log n, or causal the mean of
        log(i + 1)) and ``n_queries`` (n).
    """
    weights = np.asarray(weights, np.float64)
    n = weights.shape[-1]
    visible = visible_keys(n, causal)
    # Keys each query sees: n for every row of an encoder, i + 1 for causal row i.
    seen = visible.sum(1, keepdims=True).astype(np.float64) if causal else np.float64(n)
    # No BLAS call here (einsum without optimize does not use one): between a study's eager
    # forwards, BLAS threads spinning beside torch's slowed the whole pass down by half.
    smooth = weights * (1 - ENTROPY_SMOOTHING)
    smooth += ENTROPY_SMOOTHING / seen
    if causal:
        smooth[..., ~visible] = 1.0  # p log p = 0: keys a query cannot see are no outcome of it
    entropy = -np.einsum("...ij,...ij->...", smooth, np.log(smooth)) / n
    del smooth
    positions = np.arange(n)
    distance = np.abs(positions[:, None] - positions[None, :]).astype(np.float64)
    question, context = segment == QUESTION, segment == CONTEXT
    return {
        "entropy": entropy,
        "uniform_entropy": np.float64(np.log(seen).mean()),
        "distance_sum": np.einsum("...ij,ij->...", weights, distance),
        "n_queries": np.float64(n),
        "special_share": weights[..., segment == SPECIAL].sum(-1).mean(-1),
        "question_to_context": _share(weights, question, context, visible),
        "context_to_question": _share(weights, context, question, visible),
    }


def visible_keys(n: int, causal: bool) -> np.ndarray:
    """``[n, n]`` bool, query (row) by key: all True, or causal the lower triangle (``j <= i``)."""
    return np.tri(n, dtype=bool) if causal else np.ones((n, n), bool)


def _share(
    weights: np.ndarray, rows: np.ndarray, cols: np.ndarray, visible: np.ndarray
) -> np.ndarray:
    # Over the queries that can see a key of `cols`: a causal question read first sees no context.
    rows = rows & visible[:, cols].any(1)
    if not rows.any():
        return np.full(weights.shape[:2], np.nan)
    return weights[..., rows, :][..., cols].sum(-1).mean(-1)


def combine_statistics(per_input: Sequence[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Average per-input statistics over inputs, one row per head.

    Entropy, its uniform baseline and the shares are means over inputs (Clark et al. 2019
    average per document); the baseline is averaged exactly as the entropy is (over an input's
    rows, then over inputs), so for a causal model it is the mean of ``log(i + 1)`` over rows and
    inputs, and ``entropy_ratio`` (mean entropy over mean baseline) is 1 for attention uniform
    over the keys each query sees. The mean distance is pooled over every query token of every
    input (Vig & Belinkov 2019: sum of attention-weighted distances over total attention).

    Returns:
        Columns ``layer``, ``head`` (both from 1), ``entropy``, ``uniform_entropy``,
        ``entropy_ratio`` (entropy / uniform), ``mean_distance``, ``special_share``,
        ``question_to_context``, ``context_to_question``, ``n_inputs``.
    """
    if not per_input:
        raise CtxvecError("no inputs to compute attention statistics over")
    stack = {k: np.stack([np.asarray(s[k]) for s in per_input]) for k in per_input[0]}
    entropy = stack["entropy"].mean(0)
    uniform = float(stack["uniform_entropy"].mean())
    n_layers, n_heads = entropy.shape
    layer, head = np.meshgrid(np.arange(1, n_layers + 1), np.arange(1, n_heads + 1), indexing="ij")
    shares = {}
    for k in ("question_to_context", "context_to_question"):
        defined = ~np.isnan(stack[k])
        with np.errstate(invalid="ignore"):  # all-NaN heads (no QA input) stay NaN
            shares[k] = np.nansum(stack[k], 0) / defined.sum(0)
    table = {
        "layer": layer.ravel(),
        "head": head.ravel(),
        "entropy": entropy.ravel(),
        "uniform_entropy": np.full(entropy.size, uniform),
        "entropy_ratio": (entropy / uniform).ravel(),
        "mean_distance": (stack["distance_sum"].sum(0) / stack["n_queries"].sum()).ravel(),
        "special_share": stack["special_share"].mean(0).ravel(),
        **{k: v.ravel() for k, v in shares.items()},
        "n_inputs": len(per_input),
    }
    return pd.DataFrame(table)


def available_statistics(table: pd.DataFrame) -> list[str]:
    """The statistics present (not all-NaN) in a table from :func:`combine_statistics`."""
    return [s for s in STATISTICS if s in table and not table[s].isna().all()]


# Relative depth bins of a layer (docs/attention.md): models of different depth on one axis.
DEPTH_BINS = ("lower", "middle", "upper", "last")


def relative_depth(layer: int, n_layers: int) -> float:
    """A layer's relative depth ``layer / n_layers``: 0 the embeddings, 1 the last of the model's
    ``n_layers`` transformer layers. The one rule that puts models of different depth on one
    axis (``attention.csv``'s depth bins, ``layers.csv``'s ``depth``); a float division, so equal
    fractions (1/2, 3/6) give equal floats."""
    return layer / n_layers


def depth_bin(layer: int, n_layers: int) -> str:
    """The bin of a 1-based layer: ``lower`` (layer / n_layers <= 1/3), ``middle`` (<= 2/3),
    ``upper`` (below 1) or ``last`` (the last layer alone, where the task head reads)."""
    if layer == n_layers:
        return "last"
    depth = relative_depth(layer, n_layers)
    return "lower" if depth <= 1 / 3 else "middle" if depth <= 2 / 3 else "upper"


def depth_bin_means(attention: pd.DataFrame, statistics: Sequence[str]) -> pd.DataFrame:
    """Per (model, subset, depth bin) of an ``attention.csv`` table: each statistic's mean over
    the bin's layers of their means over heads (the ``head == "mean"`` rows)."""
    # Read back from CSV the column is text ("1", "mean"); in memory it holds ints and "mean".
    means = attention[attention["head"].astype(str) == "mean"]
    keys = ["model", "subset", "depth_bin"]
    return means.groupby(keys, sort=False)[list(statistics)].mean().reset_index()
