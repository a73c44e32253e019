"""Correlations between task scores and context-vector metrics across study points.

:func:`correlate` gives Pearson's r with its two-sided p-value and Fisher-z confidence interval,
and Spearman's rho with its p-value. Wherever a value is undefined (too few points, a constant
input, a NaN or infinite value) it is NaN: no exception and no warning, so a table of many
metrics never stops on one degenerate column. NaNs are not dropped pairwise; a missing value
makes the whole correlation NaN, so every reported n is the n the statistic was computed on.

:func:`correlation_table` correlates at the levels the study design allows. Points of one model
are not independent observations, so besides the plain subset-level correlation it reports:

- ``model_level``: the per-model means, the independent observations;
- ``within_model``: the repeated-measures correlation (Bakdash & Marusich 2017, "Repeated
  Measures Correlation", Front. Psychol. 8:456): the common slope of score on metric *inside*
  models, from the points centred on their model's means, tested with ``N - k - 1`` degrees of
  freedom;
- ``model_permutation``: a permutation test of the model-level Pearson r that permutes which
  model's mean metric goes with which model's mean score (exact over all ``k!`` pairings when
  that is at most ``n_resamples``), via ``scipy.stats.permutation_test``;
- ``critical_r``: the |r| the model-level correlation needs for p < 0.05 with this many models
  (0.81 with 6 models, 0.88 with 5), so a report can say when significance is out of reach.

:func:`bootstrap_ci` gives percentile-bootstrap intervals of a per-example statistic (a model's
score or mean metric over its examples), via ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

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
    """Per metric, the correlations of ``score`` with it at every level (see the module doc).

    ``subset_level`` correlates over all rows, ``model_level`` over the per-``group`` means
    (groups in sorted order; a NaN in a group makes its mean NaN), ``within_model`` inside
    groups, ``model_permutation`` tests the model-level r by permutation, and ``critical_r``
    is the |r| needed for p < 0.05 at the model level.
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
            "within_model": repeated_measures_correlation(points, score, metric, group),
            "model_permutation": model_permutation_test(means[score], means[metric]),
            "critical_r": {"n": len(means), "alpha": 0.05, "r": critical_r(len(means))},
        }
    return table


def repeated_measures_correlation(
    points: pd.DataFrame, score: str, metric: str, group: str = "model"
) -> dict[str, float]:
    """Within-group correlation of ``score`` and ``metric`` (rmcorr, Bakdash & Marusich 2017).

    Each point is centred on its group's means; r is the Pearson correlation of the centred
    values, and its p-value comes from ``t = r sqrt(df / (1 - r^2))`` with
    ``df = N - k - 1`` (N points, k groups), which equals the t-test of the common slope in the
    ANCOVA ``score ~ group + metric``. NaN where undefined (df < 1, no within-group spread, or a
    NaN value).
    """
    frame = points[[group, score, metric]]
    n, k = len(frame), frame[group].nunique()
    df = n - k - 1
    out: dict[str, float] = {"n": n, "groups": k, "df": df, "r": math.nan, "p": math.nan}
    values = frame[[score, metric]].to_numpy(np.float64)
    if df < 1 or not np.isfinite(values).all():
        return out
    centred = frame[[score, metric]] - frame.groupby(group)[[score, metric]].transform("mean")
    x, y = centred[score].to_numpy(), centred[metric].to_numpy()
    sxx, syy = float(x @ x), float(y @ y)
    if sxx <= 0 or syy <= 0:
        return out
    r = float(np.clip((x @ y) / math.sqrt(sxx * syy), -1.0, 1.0))
    out["r"] = r
    out["p"] = (
        0.0 if abs(r) == 1 else float(2 * stats.t.sf(abs(r) * math.sqrt(df / (1 - r * r)), df))
    )
    return out


def model_permutation_test(
    x: Sequence[float], y: Sequence[float], n_resamples: int = 9999, seed: int = 0
) -> dict[str, float]:
    """Two-sided permutation test of Pearson's r between per-model values.

    The pairing of ``x`` and ``y`` is permuted (``permutation_type="pairings"`` on ``x``); with
    k models the test is exact when ``k! <= n_resamples``. NaN where r is undefined.
    """
    xs = np.asarray(x, np.float64)
    ys = np.asarray(y, np.float64)
    n = len(xs)
    out: dict[str, float] = {"n": n, "r": math.nan, "p": math.nan, "exact": False}
    if n < 3 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return out
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return out

    yc = ys - ys.mean()

    def pearson(a: np.ndarray, axis: int = -1) -> np.ndarray:
        a = a - a.mean(axis, keepdims=True)
        return (a * yc).sum(axis) / np.sqrt((a * a).sum(axis) * (yc @ yc))

    # Permuting x alone gives all k! pairings (scipy would permute both samples: (k!)^2).
    result = stats.permutation_test(
        (xs,),
        pearson,
        permutation_type="pairings",
        n_resamples=n_resamples,
        alternative="two-sided",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    out.update(
        r=float(result.statistic),
        p=float(result.pvalue),
        exact=math.factorial(n) <= n_resamples,
    )
    return out


def critical_r(n: int, alpha: float = 0.05) -> float:
    """Smallest |r| whose two-sided Pearson p-value is below ``alpha`` with ``n`` points."""
    if n < 3:
        return math.nan
    t_crit = stats.t.ppf(1 - alpha / 2, n - 2)
    return float(t_crit / math.sqrt(n - 2 + t_crit**2))


def bootstrap_ci(
    *samples: Sequence[float],
    statistic: Callable[..., float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over examples (paired when several samples).

    ``statistic`` takes the samples (resampled together, row by row) and an ``axis`` keyword,
    as ``scipy.stats.bootstrap`` expects. Returns ``(nan, nan)`` for fewer than 2 examples.
    """
    arrays = [np.asarray(s, np.float64) for s in samples]
    if len(arrays[0]) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # degenerate (constant) samples give a zero-width CI
        result = stats.bootstrap(
            tuple(arrays),
            statistic,
            paired=len(arrays) > 1,
            vectorized=True,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def put_estimate(
    row: dict[str, Any],
    name: str,
    *samples: Sequence[float],
    statistic: Callable[..., float] = np.mean,
    scale: float = 1.0,
) -> None:
    """Put ``statistic`` of ``samples`` (x ``scale``) in ``row[name]``, with its bootstrap
    interval (:func:`bootstrap_ci`) in ``row[name + "_ci_low"]`` and ``row[name + "_ci_high"]``."""
    arrays = [np.asarray(s, np.float64) for s in samples]
    low, high = bootstrap_ci(*arrays, statistic=statistic)
    row[name] = scale * float(statistic(*arrays, axis=-1))
    row[f"{name}_ci_low"], row[f"{name}_ci_high"] = scale * low, scale * high
