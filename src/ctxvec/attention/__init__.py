"""Attention views: one input's attention weights, prediction and per-head statistics, drawn.

:mod:`~ctxvec.attention.weights` runs one input on the eager path and keeps its weights,
:mod:`~ctxvec.attention.inputs` turns what a user gave into that input and crops views,
:mod:`~ctxvec.attention.statistics` averages per-head statistics (defined in
:mod:`ctxvec.metrics.heads`) over a subset, :mod:`~ctxvec.attention.plots` draws the figures
and :mod:`~ctxvec.attention.viewer` writes the offline HTML viewer.
"""

from ctxvec.attention.inputs import parse_token_range, resolve_inputs, select_tokens
from ctxvec.attention.statistics import SubsetStatistics, subset_statistics
from ctxvec.attention.weights import Attention, attend, load_for_attention

__all__ = [
    "Attention",
    "SubsetStatistics",
    "attend",
    "load_for_attention",
    "parse_token_range",
    "resolve_inputs",
    "select_tokens",
    "subset_statistics",
]
