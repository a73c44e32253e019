"""Correlations between task scores and context-vector metrics across study points.

:func:`correlate` gives Pearson's r with its two-sided p-value and Fisher-z confidence interval,
and Spearman's rho with its permutation p-value. Which p is what:

- ``pearson_p`` is the t-test of r (``scipy.stats.pearsonr``). It assumes the two variables are
  bivariate normal, which a handful of model means cannot show; it is reported beside the
  permutation p (``model_permutation``, below), and the verdict uses the permutation p.
- ``spearman_p`` is a permutation p of rho: the share of pairings of the ranks (x permuted
  against fixed y) whose rho is at least as extreme, two-sided, by :func:`_pairing_test`.
  It is exact over all ``n!`` pairings for ``n <= 8`` (8! = 40,320), else a seeded Monte Carlo
  of 9,999 random pairings; ``spearman_p_exact`` says which, and ``spearman_p_error`` is the
  Monte Carlo standard error ``sqrt(p (1 - p) / R)`` (0 when exact). It is never below
  ``2/n!``: the two-sided p is twice the smaller tail, and each tail holds at least the
  observed pairing, one of ``n!`` equally likely ones. ``scipy.stats.spearmanr``'s asymptotic
  p can fall below that with few points, and is not used.

Wherever a value is undefined (too few points, a constant input, a NaN or infinite value) it is
NaN: no exception and no warning, so a table of many metrics never stops on one degenerate
column. NaNs are not dropped pairwise; a missing value makes the whole correlation NaN, so
every reported n is the n the statistic was computed on.

:func:`correlation_table` correlates at the levels the study design allows. Points of one model
are not independent observations, so besides the plain subset-level correlation it reports:

- ``model_level``: the per-model means, the independent observations;
- ``within_model``: the repeated-measures correlation (Bakdash & Marusich 2017, "Repeated
  Measures Correlation", Front. Psychol. 8:456): the common slope of score on metric *inside*
  models, from the points centred on their model's means, tested with ``N - k - 1`` degrees of
  freedom;
- ``model_permutation``: a permutation test of the model-level Pearson r that permutes which
  model's mean metric goes with which model's mean score, by the same rule as ``spearman_p``
  (exact over all ``k!`` pairings for ``k <= 8``, else 9,999 seeded random ones); no normality
  assumed, and this is the p the verdict uses;
- ``critical_r``: the |r| the model-level correlation needs for p < 0.05 with this many models
  (0.81 with 6 models, 0.88 with 5), so a report can say when significance is out of reach.

:func:`bootstrap_ci` gives percentile-bootstrap intervals of a per-example statistic (a model's
score or mean metric over its examples), via ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import functools
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

# Pairing tests enumerate all n! pairings up to this n (8! = 40,320), else draw random ones.
EXACT_MAX_N = 8
MONTE_CARLO_RESAMPLES = 9999
# scipy.stats.permutation_test's tolerance: null values within this relative distance of the
# observed statistic count as equal to it (ties that rounding would otherwise split).
_TOLERANCE = 100 * float(np.finfo(np.float64).eps)


def correlate(
    x: Sequence[float],
    y: Sequence[float],
    confidence: float = 0.95,
    *,
    n_resamples: int = MONTE_CARLO_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Pearson and Spearman correlation of paired values, NaN where undefined.

    ``pearson_p`` is the t-test p of r, which assumes bivariate normality; the permutation p
    of :func:`model_permutation_test` does not, and is the one the verdict uses.
    ``spearman_rho`` is ``scipy.stats.spearmanr``'s; ``spearman_p`` is the two-sided
    permutation p of rho over pairings of the (tie-averaged) ranks: exact over all ``n!``
    pairings for ``n <= 8`` (or ``n! <= n_resamples``), else ``n_resamples`` random pairings
    drawn with ``seed`` (:func:`_pairing_test`). ``spearman_p_exact`` says which;
    ``spearman_p_error`` is the Monte Carlo standard error of ``spearman_p`` (0.0 when exact,
    NaN when p is). ``spearman_p`` is never below ``2/n!``.

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
    out: dict[str, Any] = {
        "n": n,
        **dict.fromkeys(_KEYS, math.nan),
        "spearman_p_exact": False,
        "spearman_p_error": math.nan,
    }
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
        if n >= 4:
            ci = pearson.confidence_interval(confidence)
            out["pearson_ci_low"] = float(ci.low)
            out["pearson_ci_high"] = float(ci.high)
    # Spearman's rho is Pearson's r of the ranks; ranks of non-constant values are not constant.
    test = _pairing_test(stats.rankdata(xs), stats.rankdata(ys), n_resamples, seed)
    out["spearman_p"] = test["p"]
    out["spearman_p_exact"] = test["exact"]
    out["spearman_p_error"] = test["error"]
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
    x: Sequence[float], y: Sequence[float], n_resamples: int = MONTE_CARLO_RESAMPLES, seed: int = 0
) -> dict[str, Any]:
    """Two-sided permutation test of Pearson's r between per-model values.

    The pairing of ``x`` and ``y`` is permuted (``x`` against fixed ``y``), by the rule of
    :func:`_pairing_test`: exact over all ``k!`` pairings of k models when ``k <= 8`` or
    ``k! <= n_resamples``, else ``n_resamples`` random pairings drawn with ``seed``. ``exact``
    says which and ``error`` is the Monte Carlo standard error of ``p`` (0.0 when exact). No
    normality is assumed. NaN where r is undefined.
    """
    xs = np.asarray(x, np.float64)
    ys = np.asarray(y, np.float64)
    n = len(xs)
    out: dict[str, Any] = {"n": n, "r": math.nan, "p": math.nan, "exact": False, "error": math.nan}
    if n < 3 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return out
    if np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return out
    out.update(_pairing_test(xs, ys, n_resamples, seed))
    return out


@functools.cache
def _all_pairings(n: int) -> np.ndarray:
    """The ``n!`` permutations of ``range(n)`` as rows, in lexicographic order (row 0 is the
    identity). Built from those of ``n - 1``: for each first element ``f``, the rest are the
    smaller permutations with every index ``>= f`` shifted up by one."""
    perms = np.zeros((1, 0), np.intp)
    for m in range(1, n + 1):
        longer = np.empty((m * len(perms), m), np.intp)
        longer[:, 0] = np.repeat(np.arange(m), len(perms))
        longer[:, 1:] = np.tile(perms, (m, 1))
        longer[:, 1:] += longer[:, 1:] >= longer[:, :1]
        perms = longer
    perms.flags.writeable = False
    return perms


@functools.lru_cache(maxsize=8)
def _random_pairings(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``n_resamples`` random permutations of ``range(n)`` as rows, drawn as
    ``scipy.stats.permutation_test`` draws them for ``permutation_type="pairings"`` (one
    ``rng.permuted`` over a tile of the indices), so the same seed gives scipy's pairings.
    Cached: the draw (10-20 ms for 9,999 x 52) depends on no data, and a study tests every
    metric, layer and attention cell over the same number of points."""
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(n), (n_resamples, 1)), axis=-1)
    perms.flags.writeable = False
    return perms


def _pairing_test(xs: np.ndarray, ys: np.ndarray, n_resamples: int, seed: int) -> dict[str, Any]:
    """Two-sided permutation test of Pearson's r of ``xs`` and ``ys`` over their pairings.

    Given ranks it tests Spearman's rho, which is their Pearson r. ``xs`` is permuted against
    fixed ``ys`` (permuting both would repeat each pairing ``n!`` times). Exact over all ``n!``
    pairings when ``n <= EXACT_MAX_N`` or ``n! <= n_resamples``; else ``n_resamples``
    pairings drawn with ``numpy.random.default_rng(seed)``. Returns ``r``, ``p``, ``exact``
    and ``error`` (the Monte Carlo standard error ``sqrt(p (1 - p) / n_resamples)``, 0.0 when
    exact). Both inputs must be finite and non-constant.

    The p-value is ``scipy.stats.permutation_test``'s for ``permutation_type="pairings"`` (its
    tolerance, its +1 adjustment of random tests, the same random pairings for the same
    seed), computed here in numpy: scipy builds 8! = 40,320 pairings through Python tuples
    (0.15 s a call), and this runs a few hundred times a study. The tests check the two agree.

    The p-value is never below ``2/n!``, by construction: exact, the observed pairing is the
    identity permutation (row 0 of the null distribution, so equal to the observed r bit for
    bit) and counts on both sides, so ``p = 2 min(#<=, #>=) / n! >= 2/n!``; random, each side
    counts the observed pairing once more, so ``p >= 2/(R + 1)``, and a random test is used
    only when ``n! > R``, so ``R + 1 <= n!``.
    """
    n = len(xs)
    exact = n <= EXACT_MAX_N or math.factorial(n) <= n_resamples
    xc = xs - xs.mean()
    yc = ys - ys.mean()
    scale = math.sqrt(float(xc @ xc) * float(yc @ yc))
    perms = _all_pairings(n) if exact else _random_pairings(n, n_resamples, seed)
    # einsum, not @: a matrix-vector product this small gains nothing from BLAS threads.
    null = np.einsum("ij,j->i", xc[perms], yc) / scale
    observed = float(null[0]) if exact else float(np.einsum("j,j->", xc, yc) / scale)
    gamma = abs(observed) * _TOLERANCE
    adjustment = 0 if exact else 1
    total = len(perms) + adjustment
    less = (int(np.count_nonzero(null <= observed + gamma)) + adjustment) / total
    greater = (int(np.count_nonzero(null >= observed - gamma)) + adjustment) / total
    p = min(1.0, 2 * min(less, greater))
    assert p >= 2 / math.factorial(n), "a pairing test's p fell below 2/n!"  # see the docstring
    error = 0.0 if exact else math.sqrt(p * (1 - p) / n_resamples)
    return {"r": max(-1.0, min(1.0, observed)), "p": p, "exact": exact, "error": error}


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
    vectorized: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over examples (paired when several samples).

    ``statistic`` takes the samples (resampled together, row by row) and an ``axis`` keyword,
    as ``scipy.stats.bootstrap`` expects, or with ``vectorized=False`` one resample at a time
    and no ``axis`` (e.g. a cluster bootstrap whose sample is the clusters' indices). Returns
    ``(nan, nan)`` for fewer than 2 examples.
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
            vectorized=vectorized,
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
