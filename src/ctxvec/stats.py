"""Correlations between task scores and context-vector metrics across study points.

:func:`correlate` gives Pearson's r with its two-sided p-value and Fisher-z confidence interval,
and Spearman's rho with its p-value. Wherever a value is undefined (too few points, a constant
input, a NaN or infinite value) it is NaN: no exception and no warning, so a table of many
metrics never stops on one degenerate column. NaNs are not dropped pairwise; a missing value
makes the whole correlation NaN, so every reported n is the n the statistic was computed on.

:func:`correlation_table` correlates at two levels: over every (model, subset) point, and over
per-model means. With only 5-6 models the model-level p-values are weak (|r| > 0.81 is needed
for p < 0.05); reading them is left to the report, not done here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

_KEYS = (
    "pearson_r",
    "pearson_p",
    "pearson_ci_low",
    "pearson_ci_high",
    "spearman_rho",
    "spearman_p",
)


def correlate(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Pearson and Spearman correlation of paired values, NaN where undefined.

    r and rho with their p-values need n >= 3 (with n = 2 they are +-1 trivially); the
    Fisher-z interval needs n >= 4 (its standard error is 1/sqrt(n - 3)).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise ValueError(f"x and y must be 1-D of equal length, got {xs.shape} and {ys.shape}")
    n = len(xs)
    out: dict[str, float] = {"n": n, **dict.fromkeys(_KEYS, math.nan)}
    if (
        n < 3
        or not (np.isfinite(xs).all() and np.isfinite(ys).all())
        or np.ptp(xs) == 0
        or np.ptp(ys) == 0
    ):
        return out
    # Near-constant inputs and r = +-1 (atanh(1) = inf) still make scipy warn.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        pearson = stats.pearsonr(xs, ys)
        spearman = stats.spearmanr(xs, ys)
        out["pearson_r"] = float(pearson.statistic)
        out["pearson_p"] = float(pearson.pvalue)
        out["spearman_rho"] = float(spearman.statistic)
        out["spearman_p"] = float(spearman.pvalue)
        if n >= 4:
            ci = pearson.confidence_interval(confidence)
            out["pearson_ci_low"] = float(ci.low)
            out["pearson_ci_high"] = float(ci.high)
    return out


def correlation_table(
    points: pd.DataFrame, score: str, metrics: Sequence[str], group: str = "model"
) -> dict[str, dict[str, dict[str, float]]]:
    """``{metric: {"subset_level": ..., "model_level": ...}}`` of :func:`correlate` results.

    ``subset_level`` correlates ``score`` with the metric over all rows; ``model_level`` over
    the per-``group`` means (groups in sorted order). A NaN in a group makes its mean NaN.
    """
    missing = [c for c in (score, group, *metrics) if c not in points.columns]
    if missing:
        raise ValueError(f"points has no column(s) {missing}; it has {list(points.columns)}")
    columns = list(dict.fromkeys([score, *metrics]))  # a metric may repeat or be the score
    means = points.groupby(group, sort=True)[columns].mean(skipna=False)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for metric in metrics:
        table[metric] = {
            "subset_level": correlate(points[score], points[metric]),
            "model_level": correlate(means[score], means[metric]),
        }
    return table
