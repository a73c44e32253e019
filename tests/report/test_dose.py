"""The report's dose-response section, from a hand-made intervention run."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from ctxvec.metrics.dose import panel_dose_response
from ctxvec.report.dose import dose_figure, outcome, plot_dose_response, section
from ctxvec.report.run import Run

LAMBDAS = (-1.0, 0.0, 1.0)
SEEDS = (0, 1, 2)


def _run(tmp_path: Path, effect: float) -> Run:
    """A run whose Variance rises 0.1 per unit lambda and whose accuracy moves ``effect``
    points per unit Variance, with a small seed-dependent wobble."""
    rows = []
    for lam, seed in itertools.product(LAMBDAS, SEEDS):
        variance = 0.4 + 0.1 * lam + 0.003 * seed
        for subset in range(2):
            rows.append(
                {
                    "model": f"variance-l{lam:g}-s{seed}",
                    "subset": subset,
                    "lambda": lam,
                    "seed": seed,
                    "statistic": "variance",
                    "variance": variance,
                    "accuracy": 70 + effect * variance + 0.5 * ((seed * 7 + subset) % 3),
                }
            )
    subsets = pd.DataFrame(rows)
    correlations = {"metrics": {}, "score": "accuracy"}
    correlations["dose_response"] = panel_dose_response(subsets, "accuracy")
    return Run(tmp_path, {}, subsets, pd.DataFrame(), correlations)


def test_the_figure_holds_every_member_and_the_means_over_seeds(tmp_path):
    run = _run(tmp_path, effect=50.0)
    spec = dose_figure(run.subsets, run.correlations["dose_response"])
    statistic, score, effect = spec.panels
    assert len(statistic.points) == len(LAMBDAS) * len(SEEDS) == len(effect.points)
    assert len(score.line) == len(LAMBDAS)
    assert [x for x, *_ in statistic.line] == list(LAMBDAS)
    means = run.subsets.groupby("lambda")["variance"].mean()
    assert [y for _, y, *_ in statistic.line] == pytest.approx(list(means), abs=1e-12)
    assert spec.lambda_range == (-1.0, 1.0)


def test_a_positive_effect_supports_and_a_negative_one_contradicts(tmp_path):
    assert outcome(_run(tmp_path, effect=50.0).correlations["dose_response"]) == "supports"
    assert outcome(_run(tmp_path, effect=-50.0).correlations["dose_response"]) == "contradicts"
    content = section(_run(tmp_path, effect=-50.0))
    assert content["outcome"] == "contradicts"
    assert any("contradicts it" in s for s in content["sentences"])
    assert "dose-plot" in content["figure"] and "shift from lambda 0" in content["table"]


def test_no_effect_cannot_decide(tmp_path):
    assert outcome(_run(tmp_path, effect=0.0).correlations["dose_response"]) == "cannot decide"


def test_the_static_files_are_written(tmp_path):
    run = _run(tmp_path, effect=50.0)
    written = plot_dose_response(run.subsets, run.correlations["dose_response"], tmp_path)
    assert [p.name for p in written] == ["dose_response.png", "dose_response.svg"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_a_run_without_lambdas_has_no_section(tmp_path):
    run = _run(tmp_path, effect=50.0)
    run.correlations.pop("dose_response")
    assert section(run) is None and plot_dose_response(run.subsets, None, tmp_path) == []
