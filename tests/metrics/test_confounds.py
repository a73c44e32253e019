"""Confounds (ctxvec.metrics.confounds) against independent computations: the textbook partial
correlation formula, least-squares residuals by numpy, the OLS t-test of statsmodels, scipy's
permutation test, and statsmodels' MixedLM fitted directly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from ctxvec.metrics.confounds import confounds, mixed_model, partial_correlation, verdict


def residual_r(x: np.ndarray, y: np.ndarray, regressors: np.ndarray) -> float:
    """Pearson r of the least-squares residuals of x and y on ``regressors`` (numpy lstsq)."""
    rx = x - regressors @ np.linalg.lstsq(regressors, x, rcond=None)[0]
    ry = y - regressors @ np.linalg.lstsq(regressors, y, rcond=None)[0]
    return float(stats.pearsonr(rx, ry).statistic)


def test_one_numeric_control_gives_the_textbook_partial_correlation() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=7)
    x, y = z + rng.normal(size=7), 2 * z + rng.normal(size=7)
    got = partial_correlation(x, y, pd.DataFrame({"steps": z}))
    rxy, rxz, ryz = (stats.pearsonr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    want = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    assert got["r"] == pytest.approx(want, abs=1e-12)
    assert (got["n"], got["k"], got["df"]) == (7, 1, 4)
    # The partial r's t-test is the t-test of x's coefficient in y ~ x + z.
    ols = sm.OLS(y, sm.add_constant(np.column_stack([x, z]))).fit()
    assert got["p"] == pytest.approx(ols.pvalues[1], rel=1e-9)


def test_categorical_and_numeric_controls_are_residualised_as_dummies_and_values() -> None:
    rng = np.random.default_rng(2)
    family = np.array(["bert", "roberta", "albert", "bert", "roberta", "albert", "bert", "xlnet"])
    steps = rng.integers(100, 1000, size=8).astype(float)
    x, y = rng.normal(size=8), rng.normal(size=8)
    controls = pd.DataFrame({"family": family, "steps": steps})
    got = partial_correlation(x, y, controls)
    levels = sorted(set(family))[1:]  # one dummy per level but the first
    regressors = np.column_stack(
        [np.ones(8), *[(family == f).astype(float) for f in levels], steps]
    )
    assert got["k"] == 4 and got["df"] == 8 - 2 - 4
    assert got["r"] == pytest.approx(residual_r(x, y, regressors), abs=1e-12)


def test_the_permutation_p_is_scipys_over_the_residual_pairings_and_at_least_2_over_n_factorial():
    rng = np.random.default_rng(3)
    z = rng.normal(size=6)
    x, y = 3 * z + rng.normal(size=6) * 0.1, z + rng.normal(size=6) * 0.1
    x[np.argsort(y)] = np.sort(x)  # the residuals' pairing as extreme as may be
    got = partial_correlation(x, y, pd.DataFrame({"z": z}))
    regressors = np.column_stack([np.ones(6), z])
    rx = x - regressors @ np.linalg.lstsq(regressors, x, rcond=None)[0]
    ry = y - regressors @ np.linalg.lstsq(regressors, y, rcond=None)[0]
    yc = ry - ry.mean()

    def r(a: np.ndarray, axis: int = -1) -> np.ndarray:  # rx permuted against fixed ry
        a = a - a.mean(axis, keepdims=True)
        return (a * yc).sum(axis) / np.sqrt((a * a).sum(axis) * (yc @ yc))

    scipy_p = stats.permutation_test(
        (rx,), r, permutation_type="pairings", vectorized=True, n_resamples=math.factorial(6)
    ).pvalue
    assert got["permutation_p"] == pytest.approx(scipy_p, abs=1e-12)
    assert got["exact"] and got["permutation_p"] >= 2 / math.factorial(6)


def test_a_relationship_through_steps_alone_vanishes_when_steps_is_controlled() -> None:
    steps = np.arange(1.0, 9.0) * 1000
    # Noise exactly orthogonal to [1, steps] and to each other: the residuals, so r = 0.
    basis = np.linalg.qr(np.column_stack([np.ones(8), steps, np.eye(8)[:, :2]]))[0]
    score = 0.01 * steps + 0.5 * basis[:, 2]
    metric = 0.0002 * steps + 0.01 * basis[:, 3]
    plain = stats.pearsonr(score, metric).statistic
    got = partial_correlation(score, metric, pd.DataFrame({"steps": steps}))
    assert plain > 0.95
    assert got["r"] == pytest.approx(0.0, abs=1e-9) and got["permutation_p"] > 0.5
    points = pd.DataFrame({"model": [f"m{i}" for i in range(8)], "steps": steps})
    points = points.assign(f1=score, variance=metric)
    block = confounds(points, "f1", ["variance"], controls=["steps"])
    entry = block["metrics"]["variance"]
    assert entry["plain"]["p"] < 0.05 and entry["mixed"] is None
    assert entry["verdict"] == {"outcome": "vanishes when controlled", "by": "partial"}


@pytest.mark.parametrize(
    ("x", "controls", "reason"),
    [
        ([1.0, 2, 3, 5], {"a": [1.0, 2, 4, 3], "b": [0.0, 1, 1, 0]}, "degree of freedom"),
        ([1.0, 2, 3, 5, 4], {"steps": [2.0, 4, 6, 10, 8]}, "determine the score"),
        ([1.0, 2, 3, 5, 4], {"seed": [1, 1, 1, 1, 1]}, "collinear"),
        ([1.0, 2, 3, 5, 4], {"family": ["a", "b", None, "a", "b"]}, "lacks a value"),
    ],
)
def test_undefined_partial_correlations_are_nan_with_a_reason(x, controls, reason) -> None:
    y = np.linspace(0, 1, len(x)) ** 2
    got = partial_correlation(x, y, pd.DataFrame(controls))
    assert math.isnan(got["r"]) and math.isnan(got["permutation_p"]) and reason in got["reason"]


def mixed_points(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(8):
        family = "abcd"[m % 4]
        level = {"a": 0.0, "b": 3.0, "c": -2.0, "d": 1.0}[family]
        for k in range(3):
            v = rng.normal()
            rows.append(
                {"model": f"m{m}", "subset": k, "family": family, "variance": v,
                 "f1": 60 + level + 2 * v + rng.normal()}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_the_mixed_model_is_statsmodels_mixedlm_with_a_random_intercept_per_group() -> None:
    points = mixed_points()
    got = mixed_model(points, "f1", "variance", "family")
    fit = smf.mixedlm("f1 ~ variance", points, groups=points["family"]).fit(reml=True)
    assert got["slope"] == pytest.approx(fit.params["variance"], rel=1e-9)
    assert got["se"] == pytest.approx(fit.bse["variance"], rel=1e-9)
    assert got["p"] == pytest.approx(fit.pvalues["variance"], rel=1e-9)
    low, high = fit.conf_int().loc["variance"]
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert (got["n"], got["groups"]) == (24, 4)


def test_a_mixed_model_with_one_group_is_nan_with_a_reason() -> None:
    points = mixed_points().assign(family="all")
    got = mixed_model(points, "f1", "variance", "family")
    assert math.isnan(got["slope"]) and "1 group(s)" in got["reason"] and not got["converged"]


def test_a_boundary_fit_is_recorded_not_raised() -> None:
    """No between-group spread at all: statsmodels warns that the fit is on the boundary."""
    points = mixed_points()
    points["f1"] = 60 + 2 * points["variance"]  # exact line, groups identical
    got = mixed_model(points, "f1", "variance", "family")
    assert got["slope"] == pytest.approx(2.0, rel=1e-6)
    assert got["converged"] is False and got["warnings"]


@pytest.mark.parametrize(
    ("plain", "controlled", "outcome"),
    [
        ((0.9, 0.01), (0.8, 0.02), "holds"),
        ((0.9, 0.01), (0.1, 0.70), "vanishes when controlled"),
        ((0.9, 0.01), (-0.8, 0.01), "vanishes when controlled"),
        ((0.1, 0.60), (0.9, 0.01), "appears when controlled"),
        ((0.1, 0.60), (0.2, 0.50), "neither"),
        ((0.9, 0.01), (math.nan, math.nan), "undefined"),
    ],
)
def test_the_verdict_rule(plain, controlled, outcome) -> None:
    assert verdict(*plain, *controlled) == outcome
