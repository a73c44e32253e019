"""Dose-response of an intervention panel, against scipy's regression and hand-made panels."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ctxvec.metrics.dose import dose_response, panel_dose_response

LAMBDAS = (-1.0, -0.5, 0.0, 0.5, 1.0)
SEEDS = (0, 1, 2)


def _panel(noise: float = 0.0, subsets: int = 2, rng_seed: int = 0) -> pd.DataFrame:
    """(model, subset) points: the statistic rises 0.2 per unit lambda from a per-seed offset,
    the score rises 30 points per unit statistic, plus optional noise."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for lam, seed in itertools.product(LAMBDAS, SEEDS):
        for subset in range(subsets):
            stat = 0.5 + 0.01 * seed + 0.2 * lam + noise * rng.normal()
            rows.append(
                {
                    "model": f"l{lam}-s{seed}",
                    "subset": subset,
                    "lambda": lam,
                    "seed": seed,
                    "variance": stat,
                    "accuracy": 60 + 30 * stat + noise * rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def test_a_noiseless_panel_gives_the_true_slopes_and_shifts():
    result = dose_response(_panel(), "accuracy", "variance")
    assert result["n_models"] == 15 and result["n_replicates"] == 3
    assert result["statistic_slope"]["slope"] == pytest.approx(0.2, abs=1e-12)
    assert result["effect"]["slope"] == pytest.approx(30.0, abs=1e-9)
    assert result["effect"]["r"] == pytest.approx(1.0, abs=1e-12)
    for entry in result["per_dose"]:
        assert entry["statistic_shift"]["mean"] == pytest.approx(0.2 * entry["dose"], abs=1e-12)
        assert entry["score_shift"]["mean"] == pytest.approx(6.0 * entry["dose"], abs=1e-9)
        # Every seed shifts by the same amount: the interval has no width.
        low, high = entry["statistic_shift"]["ci_low"], entry["statistic_shift"]["ci_high"]
        assert high - low == pytest.approx(0.0, abs=1e-12)


def test_slopes_and_means_match_numpy_on_a_noisy_panel():
    points = _panel(noise=0.05)
    result = dose_response(points, "accuracy", "variance")
    means = points.groupby("model").mean(numeric_only=True)
    expected_moved = stats.linregress(means["lambda"], means["variance"]).slope
    expected_effect = stats.linregress(means["variance"], means["accuracy"]).slope
    assert result["statistic_slope"]["slope"] == pytest.approx(expected_moved, rel=1e-10)
    assert result["effect"]["slope"] == pytest.approx(expected_effect, rel=1e-10)
    assert result["effect"]["r"] == pytest.approx(
        np.corrcoef(means["variance"], means["accuracy"])[0, 1], rel=1e-10
    )
    by_dose = means.groupby("lambda")["variance"].mean()
    for entry in result["per_dose"]:
        assert entry["statistic"]["mean"] == pytest.approx(by_dose[entry["dose"]], rel=1e-12)
        assert entry["statistic"]["ci_low"] <= entry["statistic"]["mean"]
        assert entry["statistic"]["mean"] <= entry["statistic"]["ci_high"]
    # The slope's interval resamples whole seeds: it contains the full panel's slope.
    moved = result["statistic_slope"]
    assert moved["ci_low"] <= moved["slope"] <= moved["ci_high"]


def test_the_paired_shift_is_each_seeds_difference_from_its_own_twin():
    points = _panel(noise=0.05, subsets=1)
    result = dose_response(points, "accuracy", "variance")
    frame = points.set_index(["lambda", "seed"])["variance"]
    for entry in result["per_dose"]:
        expected = np.mean([frame[(entry["dose"], s)] - frame[(0.0, s)] for s in SEEDS])
        assert entry["statistic_shift"]["mean"] == pytest.approx(expected, abs=1e-12)


def test_the_permutation_p_respects_the_panels_size():
    result = dose_response(_panel(), "accuracy", "variance")
    # 15 members: a Monte Carlo test of 9,999 pairings, p >= 2 / 10,000.
    assert result["effect"]["p"] >= 2 / 10_000
    assert not result["effect"]["p_exact"]


def test_a_model_with_two_doses_is_refused():
    points = _panel()
    points.loc[0, "lambda"] = 7.0
    with pytest.raises(ValueError, match="more than one"):
        dose_response(points, "accuracy", "variance")


def test_without_a_zero_dose_the_shifts_are_undefined():
    points = _panel()
    points = points[points["lambda"] != 0]
    result = dose_response(points, "accuracy", "variance")
    assert all(math.isnan(e["statistic_shift"]["mean"]) for e in result["per_dose"])
    assert result["statistic_slope"]["slope"] == pytest.approx(0.2, abs=1e-12)


def test_a_panel_is_an_intervention_panel_only_with_its_attributes():
    points = _panel()
    assert panel_dose_response(points, "accuracy") is None  # no statistic attribute
    points["statistic"] = "variance"
    result = panel_dose_response(points, "accuracy")
    assert result is not None and result["statistic"] == "variance"
    points["statistic"] = "cse"  # names no column of the points
    assert panel_dose_response(points, "accuracy") is None
