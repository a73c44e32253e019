"""ctxvec.metrics.stats against textbook formulas computed independently in numpy float64."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, permutation_test, rankdata, spearmanr, t

from ctxvec.metrics.stats import (
    bootstrap_ci,
    correlate,
    correlation_table,
    critical_r,
    model_permutation_test,
    repeated_measures_correlation,
)

KEYS = {
    "n",
    "pearson_r",
    "pearson_p",
    "pearson_ci_low",
    "pearson_ci_high",
    "spearman_rho",
    "spearman_p",
    "spearman_p_exact",
    "spearman_p_error",
}


def textbook_pearson(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    dx, dy = x - x.mean(), y - y.mean()
    return float((dx * dy).sum() / math.sqrt((dx**2).sum() * (dy**2).sum()))


def t_test_p(r, n):
    """Two-sided p of H0: rho = 0, via t = r sqrt((n - 2) / (1 - r^2)) with n - 2 dof."""
    stat = r * math.sqrt((n - 2) / (1 - r**2))
    return float(2 * t.sf(abs(stat), n - 2))


def fisher_ci(r, n, confidence):
    z = math.atanh(r)
    half = norm.ppf(0.5 + confidence / 2) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def scipy_pairing_p(x, y, seed=0):
    """scipy.stats.permutation_test's two-sided p of Pearson r over pairings (x permuted
    against fixed y): exact over all n! up to n = 8, else 9,999 pairings drawn with ``seed``."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    yc = y - y.mean()

    def r(a, axis=-1):
        a = a - a.mean(axis, keepdims=True)
        return (a * yc).sum(axis) / np.sqrt((a * a).sum(axis) * (yc @ yc))

    n_resamples = math.factorial(len(x)) if len(x) <= 8 else 9999
    result = permutation_test(
        (x,),
        r,
        permutation_type="pairings",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def brute_force_spearman_p(x, y):
    """Two-sided p of rho over every pairing (itertools), as scipy defines two-sided:
    twice the smaller tail, each tail counting pairings at least as extreme as observed."""
    rx, ry = rankdata(x), rankdata(y)
    observed = textbook_pearson(rx, ry)
    perms = np.array(list(itertools.permutations(rx)))  # every pairing, one per row
    dx, dy = perms - perms.mean(1, keepdims=True), ry - ry.mean()
    rhos = (dx * dy).sum(1) / np.sqrt((dx**2).sum(1) * (dy**2).sum())
    less = np.count_nonzero(rhos <= observed + 1e-12)
    greater = np.count_nonzero(rhos >= observed - 1e-12)
    return min(1.0, 2 * min(less, greater) / len(rhos))


def strict_correlate(x, y, **kwargs):
    """correlate() with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return correlate(x, y, **kwargs)


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_matches_textbook_formulas(confidence):
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = 0.6 * x + rng.normal(size=12)
    y[3] = y[5]  # a tie, so ranks are averaged
    out = strict_correlate(x, y, confidence=confidence)
    assert set(out) == KEYS
    assert out["n"] == 12 and isinstance(out["n"], int)
    assert all(isinstance(v, float) for k, v in out.items() if k not in {"n", "spearman_p_exact"})

    r = textbook_pearson(x, y)
    assert out["pearson_r"] == pytest.approx(r, rel=1e-12)
    assert out["pearson_p"] == pytest.approx(t_test_p(r, 12), rel=1e-9)
    low, high = fisher_ci(r, 12, confidence)
    assert out["pearson_ci_low"] == pytest.approx(low, rel=1e-12)
    assert out["pearson_ci_high"] == pytest.approx(high, rel=1e-12)

    rho = textbook_pearson(rankdata(x), rankdata(y))
    assert out["spearman_rho"] == pytest.approx(rho, rel=1e-12)
    # rho's p is a permutation p (12! pairings: 9,999 random ones), not the t approximation;
    # the two agree only roughly.
    assert out["spearman_p_exact"] is False
    assert out["spearman_p"] == pytest.approx(scipy_pairing_p(rankdata(x), rankdata(y)), rel=1e-12)
    assert out["spearman_p"] == pytest.approx(t_test_p(rho, 12), abs=0.03)


def test_hand_computed_small_case():
    # x = 1..4, y = 1, 3, 2, 4 (both are their own ranks, so rho = r):
    # dx = (-1.5, -0.5, 0.5, 1.5), dy = (-1.5, 0.5, -0.5, 1.5),
    # sum dx*dy = 2.25 - 0.25 - 0.25 + 2.25 = 4, sum dx^2 = sum dy^2 = 5 -> r = 4/5.
    out = strict_correlate([1, 2, 3, 4], [1, 3, 2, 4])
    assert out["pearson_r"] == pytest.approx(0.8)
    assert out["spearman_rho"] == pytest.approx(0.8)
    # t = 0.8 * sqrt(2 / 0.36) = 1.8856; two-sided with 2 dof -> p = 0.2
    assert out["pearson_p"] == pytest.approx(0.2)


def test_perfect_linear():
    out = strict_correlate([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 5.0, 7.0, 9.0, 11.0])
    assert out["pearson_r"] == pytest.approx(1.0)
    assert out["spearman_rho"] == pytest.approx(1.0)
    assert out["pearson_p"] == pytest.approx(0.0, abs=1e-12)
    assert out["pearson_ci_low"] == pytest.approx(1.0)
    assert out["pearson_ci_high"] == pytest.approx(1.0)
    assert strict_correlate([1, 2, 3, 4], [4, 3, 2, 1])["pearson_r"] == pytest.approx(-1.0)


def all_nan_but_n(out, n):
    """Every value NaN but ``n`` (and ``spearman_p_exact``, False: no test was run)."""
    return (
        out["n"] == n
        and out["spearman_p_exact"] is False
        and all(math.isnan(v) for k, v in out.items() if k not in {"n", "spearman_p_exact"})
    )


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([], []),
        ([1.0], [2.0]),
        ([1.0, 2.0], [2.0, 1.0]),  # n < 3: r = +-1 says nothing
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]),  # constant
        ([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0]),
        ([1.0, 2.0, np.nan, 4.0, 5.0], [1.0, 3.0, 2.0, 5.0, 4.0]),  # NaN: strict, not pairwise
        ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 3.0, 2.0, np.inf, 4.0]),
    ],
)
def test_undefined_cases_are_nan_without_warnings(x, y):
    assert all_nan_but_n(strict_correlate(x, y), len(x))


def test_n3_has_r_but_no_interval():
    out = strict_correlate([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    assert out["pearson_r"] == pytest.approx(0.5)
    assert out["spearman_rho"] == pytest.approx(0.5)
    assert not math.isnan(out["pearson_p"])
    assert math.isnan(out["pearson_ci_low"]) and math.isnan(out["pearson_ci_high"])


def test_near_constant_input_does_not_warn():
    out = strict_correlate([1.0, 1.0 + 1e-15, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert set(out) == KEYS


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="equal length"):
        correlate([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="confidence"):
        correlate([1, 2, 3, 4], [1, 2, 3, 5], confidence=95)


def strict_table(points, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return correlation_table(points, "score", ["metric"], **kwargs)


def test_correlation_table_levels():
    # Dyadic values, so the group means below are exact in float64 (ties and ranks stay exact).
    points = pd.DataFrame(
        {
            "model": ["m2", "m1", "m3", "m1", "m2", "m3", "m4", "m4"],
            "score": [0.5, 0.25, 1.0, 0.75, 0.75, 0.5, 0.0, 0.5],
            "metric": [2.0, 1.0, 5.0, 3.0, 4.0, 3.0, 0.0, 5.0],
        }
    )
    table = strict_table(points)
    assert set(table) == {"metric"}
    # Per-model means in sorted model order m1..m4:
    # score (0.25+0.75)/2=0.5, (0.5+0.75)/2=0.625, (1+0.5)/2=0.75, (0+0.5)/2=0.25
    # metric (1+3)/2=2, (2+4)/2=3, (5+3)/2=4, (0+5)/2=2.5
    score_means, metric_means = [0.5, 0.625, 0.75, 0.25], [2.0, 3.0, 4.0, 2.5]
    model = table["metric"]["model_level"]
    assert model == pytest.approx(correlate(score_means, metric_means))
    assert model["pearson_r"] == pytest.approx(textbook_pearson(score_means, metric_means))
    # ranks: score (2, 3, 4, 1), metric (1, 3, 4, 2)
    assert model["spearman_rho"] == pytest.approx(textbook_pearson([2, 3, 4, 1], [1, 3, 4, 2]))
    assert table["metric"]["model_level"]["n"] == 4
    assert table["metric"]["subset_level"] == pytest.approx(
        correlate(points["score"], points["metric"])
    )
    assert table["metric"]["subset_level"]["n"] == 8


def test_correlation_table_nan_makes_group_mean_nan():
    points = pd.DataFrame(
        {
            "g": ["a", "a", "b", "b", "c", "c", "d", "d"],
            "score": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "metric": [1.0, np.nan, 2.0, 2.0, 4.0, 3.0, 5.0, 6.0],
        }
    )
    table = strict_table(points, group="g")
    assert all_nan_but_n(table["metric"]["model_level"], 4)
    assert all_nan_but_n(table["metric"]["subset_level"], 8)


def test_correlation_table_missing_column():
    points = pd.DataFrame({"model": ["a"], "score": [1.0]})
    with pytest.raises(ValueError, match="metric"):
        correlation_table(points, "score", ["metric"])


def ancova_slope_p(points, score, metric, group):
    """Oracle for rmcorr's p: t-test of the common slope in OLS score ~ group dummies + metric."""
    dummies = pd.get_dummies(points[group]).to_numpy(np.float64)
    design = np.column_stack([dummies, points[metric].to_numpy(np.float64)])
    y = points[score].to_numpy(np.float64)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    df = len(y) - design.shape[1]
    sigma2 = resid @ resid / df
    se = math.sqrt(sigma2 * np.linalg.inv(design.T @ design)[-1, -1])
    return float(2 * t.sf(abs(coef[-1] / se), df)), df


def test_repeated_measures_correlation_matches_ancova():
    rng = np.random.default_rng(5)
    models = np.repeat(["a", "b", "c", "d", "e"], 4)
    offset = np.repeat(rng.normal(scale=5, size=5), 4)  # big between-model differences
    metric = rng.normal(size=20) + offset
    score = 0.5 * (metric - offset) + rng.normal(scale=0.5, size=20) - 3 * offset
    points = pd.DataFrame({"model": models, "score": score, "metric": metric})
    got = repeated_measures_correlation(points, "score", "metric")
    want_p, df = ancova_slope_p(points, "score", "metric", "model")
    assert got["df"] == df == 20 - 5 - 1
    assert got["p"] == pytest.approx(want_p, rel=1e-9)
    centred = points[["score", "metric"]] - points.groupby("model")[["score", "metric"]].transform(
        "mean"
    )
    assert got["r"] == pytest.approx(textbook_pearson(centred["score"], centred["metric"]))
    # Across models the relation is negative, inside them positive: the levels disagree.
    assert got["r"] > 0.5
    assert correlate(score, metric)["pearson_r"] < 0


def test_repeated_measures_correlation_undefined_cases():
    one_point_each = pd.DataFrame(
        {"model": ["a", "b", "c"], "score": [1, 2, 3], "metric": [3, 1, 2]}
    )
    assert math.isnan(repeated_measures_correlation(one_point_each, "score", "metric")["r"])
    flat = pd.DataFrame({"model": list("aabb"), "score": [1, 1, 2, 2], "metric": [0, 1, 0, 1]})
    assert math.isnan(repeated_measures_correlation(flat, "score", "metric")["p"])


def test_model_permutation_test_known_exact_p():
    # 4 models in perfect linear order: of the 4! = 24 pairings only the identity and its
    # reverse reach |r| = 1, so the exact two-sided p is 2/24.
    got = model_permutation_test([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
    assert got["exact"] and got["r"] == pytest.approx(1.0)
    assert got["p"] == pytest.approx(2 / 24)
    assert got["error"] == 0.0


def test_model_permutation_test_matches_brute_force_enumeration():
    x = np.array([0.31, 0.27, 0.25, 0.33, 0.29])
    y = np.array([84.0, 79.5, 71.0, 87.4, 82.0])
    observed = abs(textbook_pearson(x, y))
    perms = list(itertools.permutations(y))
    hits = sum(abs(textbook_pearson(x, p)) >= observed - 1e-12 for p in perms)
    got = model_permutation_test(x, y)
    assert got["exact"]
    assert got["p"] == pytest.approx(hits / len(perms))
    assert math.isnan(model_permutation_test([1, 1, 1], [1, 2, 3])["p"])


def test_critical_r_is_where_the_p_value_crosses_alpha():
    assert critical_r(6) == pytest.approx(0.811, abs=1e-3)  # docs/study.md: 0.81 with 6
    assert critical_r(5) == pytest.approx(0.878, abs=1e-3)
    for n in (5, 6, 20):
        r = critical_r(n)
        assert t_test_p(r, n) == pytest.approx(0.05)
    assert math.isnan(critical_r(2))


def test_bootstrap_ci():
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    rng = np.random.default_rng(0)
    sample = rng.normal(10, 2, size=2000)
    low, high = bootstrap_ci(sample, n_resamples=4000)
    half = 1.96 * sample.std() / math.sqrt(len(sample))
    assert low == pytest.approx(sample.mean() - half, abs=0.02)
    assert high == pytest.approx(sample.mean() + half, abs=0.02)
    # Paired samples are resampled together: the interval of a difference of paired means.
    a = rng.normal(size=500)
    low, high = bootstrap_ci(a, a + 1.0, statistic=lambda x, y, axis: (y - x).mean(axis))
    assert low == pytest.approx(1.0) and high == pytest.approx(1.0)
    assert all(math.isnan(v) for v in bootstrap_ci([1.0]))


def test_correlation_table_reports_every_level():
    points = pd.DataFrame(
        {
            "model": list("aabbccdd"),
            "score": [1.0, 2.0, 2.0, 3.5, 3.0, 4.0, 4.0, 6.0],
            "metric": [0.1, 0.2, 0.25, 0.3, 0.3, 0.45, 0.5, 0.6],
        }
    )
    row = strict_table(points, group="model")["metric"]
    assert set(row) == {
        "subset_level", "model_level", "within_model", "model_permutation", "critical_r"
    }  # fmt: skip
    assert row["within_model"] == repeated_measures_correlation(points, "score", "metric")
    means = points.groupby("model")[["score", "metric"]].mean()
    assert row["model_permutation"]["r"] == pytest.approx(row["model_level"]["pearson_r"])
    assert row["model_permutation"] == model_permutation_test(means["score"], means["metric"])
    assert row["critical_r"] == {"n": 4, "alpha": 0.05, "r": critical_r(4)}


def test_spearman_p_of_four_perfectly_ranked_models_is_2_of_24():
    # Of the 4! = 24 pairings only the observed one reaches rho = 1 and its mirror rho = -1.
    x, y = [0.1, 0.4, 0.5, 0.9], [70.0, 71.0, 80.0, 86.0]
    out = strict_correlate(x, y)
    assert out["spearman_rho"] == 1.0
    assert out["spearman_p"] == 2 / 24
    assert out["spearman_p_exact"] is True and out["spearman_p_error"] == 0.0
    scipy_p = permutation_test(
        (x,),
        lambda a: spearmanr(a, y).statistic,
        permutation_type="pairings",
        alternative="two-sided",
        n_resamples=math.inf,
    ).pvalue
    assert out["spearman_p"] == pytest.approx(scipy_p, rel=1e-12)
    assert strict_correlate(x, y[::-1])["spearman_p"] == 2 / 24


@pytest.mark.parametrize("n", [5, 6, 7, 8])
def test_spearman_p_is_exact_over_all_pairings_up_to_8(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = 0.8 * x + rng.normal(size=n)
    out = strict_correlate(x, y)
    assert out["spearman_p_exact"] is True and out["spearman_p_error"] == 0.0
    assert out["spearman_p"] == pytest.approx(brute_force_spearman_p(x, y), rel=1e-12)


def test_spearman_p_with_ties_matches_scipy():
    x = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 6.0]
    y = [0.2, 0.1, 0.4, 0.4, 0.4, 0.9, 0.7]
    out = strict_correlate(x, y)
    assert out["spearman_rho"] == pytest.approx(textbook_pearson(rankdata(x), rankdata(y)))
    assert out["spearman_p"] == pytest.approx(scipy_pairing_p(rankdata(x), rankdata(y)))
    assert out["spearman_p"] == pytest.approx(brute_force_spearman_p(x, y))


def test_spearman_p_monte_carlo_above_8():
    rng = np.random.default_rng(12)
    x = rng.normal(size=12)
    y = 0.5 * x + rng.normal(size=12)
    out = strict_correlate(x, y)
    assert out["spearman_p_exact"] is False
    p = out["spearman_p"]
    assert out["spearman_p_error"] == pytest.approx(math.sqrt(p * (1 - p) / 9999))
    assert out["spearman_p_error"] > 0
    assert strict_correlate(x, y) == out  # seed 0 by default: reproducible
    assert strict_correlate(x, y, seed=1)["spearman_p"] == pytest.approx(p, abs=5 * 0.005)
    # The same random pairings as scipy.stats.permutation_test for the same seed.
    assert p == pytest.approx(scipy_pairing_p(rankdata(x), rankdata(y)), rel=1e-12)
    assert p == pytest.approx(spearmanr(x, y).pvalue, abs=0.03)


def test_no_pairing_p_below_2_over_n_factorial():
    # Random data, and the most extreme pairings (perfectly ranked, reversed) where the floor
    # is reached up to n = 8; above, a Monte Carlo p of 9,999 pairings is at least 2/10,000.
    rng = np.random.default_rng(0)
    for n in range(3, 11):
        floor = 2 / math.factorial(n)
        ordered = np.arange(n, dtype=np.float64)
        cases = [(ordered, ordered), (ordered, -ordered)]
        cases += [(rng.normal(size=n), rng.normal(size=n)) for _ in range(5)]
        cases += [(ordered, 2 * ordered + rng.normal(scale=0.1, size=n)) for _ in range(3)]
        for x, y in cases:
            assert correlate(x, y)["spearman_p"] >= floor
            assert model_permutation_test(x, y)["p"] >= floor
        if n <= 8:
            assert correlate(ordered, ordered)["spearman_p"] == floor
            assert model_permutation_test(ordered, -ordered)["p"] == floor
        else:
            assert correlate(ordered, ordered)["spearman_p"] == 2 / 10_000


def test_spearman_p_undefined_is_nan():
    out = strict_correlate([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0])
    assert math.isnan(out["spearman_p"]) and math.isnan(out["spearman_p_error"])
    assert out["spearman_p_exact"] is False


def test_model_permutation_test_exact_up_to_8_then_monte_carlo():
    rng = np.random.default_rng(8)
    x8 = rng.normal(size=8)
    y8 = 0.7 * x8 + rng.normal(size=8)
    got = model_permutation_test(x8, y8)
    assert got["exact"] and got["error"] == 0.0
    assert got["p"] == pytest.approx(scipy_pairing_p(x8, y8), rel=1e-12)
    assert got["r"] == pytest.approx(textbook_pearson(x8, y8))
    x9 = rng.normal(size=9)
    y9 = 0.7 * x9 + rng.normal(size=9)
    got = model_permutation_test(x9, y9)
    assert not got["exact"]
    assert got["p"] == pytest.approx(scipy_pairing_p(x9, y9), rel=1e-12)
    assert got["error"] == pytest.approx(math.sqrt(got["p"] * (1 - got["p"]) / 9999))
    assert model_permutation_test(x9, y9, seed=3) != got
