"""Dose-response of an intervention panel: did lambda move the statistic, and did the score follow?

An intervention panel (``ctxvec intervene``) holds one fine-tuned checkpoint per (lambda, seed):
the same base, data and hyper-parameters, with ``task loss - lambda * R`` for one context-vector
statistic ``R`` (positive lambda raises it). Seed twins differ only in lambda, so the panel is a
controlled experiment. :func:`dose_response` reads its points (one row per (model, subset) with
the model's ``lambda`` and ``seed`` attributes, as ``subsets.csv`` holds them) and answers three
questions over the per-model means:

- **per dose**: the statistic and the score at each lambda, mean over seeds with a percentile
  bootstrap interval over seeds, and their shift from lambda = 0 *paired by seed* (each seed's
  value minus its own lambda = 0 twin's), with its interval;
- **did the intervention move the statistic**: the least-squares slope of the statistic on
  lambda over every member, with a cluster-bootstrap interval (resampling whole seeds, each with
  all its lambdas: the seeds are the independent replicates);
- **the effect of the statistic on the score**: the least-squares slope of the score on the
  statistic over every member (score points per unit of the statistic), its cluster-bootstrap
  interval over seeds, and Pearson's r with its permutation p
  (:func:`~ctxvec.metrics.stats.model_permutation_test`: never below what the panel's size
  allows).

Intervals come from :func:`~ctxvec.metrics.stats.bootstrap_ci` (``scipy.stats.bootstrap``,
percentile, 2,000 seeded resamples). With few seeds they are
coarse: 3 seeds give only 10 distinct resamples, and the result says how many seeds there were.
Left out: dose-response curve fitting beyond a line, and any test across statistics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.metrics.stats import bootstrap_ci, model_permutation_test


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y`` on ``x``; NaN when ``x`` is constant."""
    if len(x) < 2 or np.ptp(x) == 0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def _estimate(values: np.ndarray, seed: int) -> dict[str, float]:
    """Mean of per-seed values with its bootstrap interval over seeds."""
    low, high = bootstrap_ci(values, seed=seed)
    return {"mean": float(np.mean(values)), "ci_low": low, "ci_high": high}


def dose_response(
    points: pd.DataFrame,
    score: str,
    statistic: str,
    *,
    dose: str = "lambda",
    replicate: str = "seed",
    model: str = "model",
    seed: int = 0,
) -> dict[str, Any]:
    """The dose-response of an intervention panel (see the module doc).

    Args:
        points: one row per (model, subset) with the columns ``model``, ``dose``,
            ``replicate``, ``score`` and ``statistic``.
        score: the task score's column; ``statistic``: the intervened statistic's column.
        dose, replicate: the columns of lambda and of the seed.
        seed: seeds the bootstrap.

    Returns:
        ``{"statistic", "score", "dose", "replicate", "n_models", "n_replicates",
        "per_dose": [...], "statistic_slope": {...}, "effect": {...}}`` (``docs/outputs.md``).

    Raises:
        ValueError: a column is missing, or a model has more than one dose or replicate.
    """
    missing = [c for c in (model, dose, replicate, score, statistic) if c not in points.columns]
    if missing:
        raise ValueError(f"points have no column(s) {missing}")
    keys = points.groupby(model, sort=True)[[dose, replicate]].nunique()
    if (keys > 1).any().any():
        raise ValueError(f"a model has more than one {dose} or {replicate}")
    means = points.groupby(model, sort=True).agg(
        {dose: "first", replicate: "first", score: "mean", statistic: "mean"}
    )
    means = means.dropna(subset=[dose, replicate])
    means[dose] = means[dose].astype(float)
    replicates = np.array(sorted(means[replicate].unique()))
    zero = means[means[dose] == 0].set_index(replicate)
    per_dose = []
    for level, rows in means.groupby(dose, sort=True):
        entry: dict[str, Any] = {"dose": float(level), "n": len(rows)}
        for column, key in ((statistic, "statistic"), (score, "score")):
            entry[key] = _estimate(rows[column].to_numpy(float), seed)
            twins = rows.set_index(replicate)[column].sub(zero[column]).dropna()
            entry[f"{key}_shift"] = (
                _estimate(twins.to_numpy(float), seed)
                if len(twins)
                else {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
            )
        per_dose.append(entry)

    # The members of each seed, as row indices: a resample of seeds takes all their rows.
    members = [np.flatnonzero(means[replicate].to_numpy() == r) for r in replicates]
    columns = {c: means[c].to_numpy(float) for c in (dose, statistic, score)}

    def over(picked: np.ndarray, x: str, y: str) -> float:
        """The slope of ``y`` on ``x`` over the members of the resampled seeds (indices)."""
        rows = np.concatenate([members[int(i)] for i in picked])
        return _slope(columns[x][rows], columns[y][rows])

    seeds = np.arange(len(replicates))
    x_dose, x_stat, y_score = columns[dose], columns[statistic], columns[score]
    moved = _slope(x_dose, x_stat)
    moved_ci = bootstrap_ci(
        seeds, statistic=lambda g: over(g, dose, statistic), seed=seed, vectorized=False
    )
    effect = _slope(x_stat, y_score)
    effect_ci = bootstrap_ci(
        seeds, statistic=lambda g: over(g, statistic, score), seed=seed, vectorized=False
    )
    test = model_permutation_test(x_stat, y_score)
    return {
        "statistic": statistic,
        "score": score,
        "dose": dose,
        "replicate": replicate,
        "n_models": len(means),
        "n_replicates": len(replicates),
        "per_dose": per_dose,
        "statistic_slope": {"slope": moved, "ci_low": moved_ci[0], "ci_high": moved_ci[1]},
        "effect": {
            "slope": effect,
            "ci_low": effect_ci[0],
            "ci_high": effect_ci[1],
            "r": test["r"],
            "p": test["p"],
            "p_exact": test["exact"],
        },
    }


# The attributes an intervention panel's models carry (``ctxvec intervene`` writes them).
DOSE, REPLICATE, STATISTIC = "lambda", "seed", "statistic"


def panel_dose_response(points: pd.DataFrame, score: str) -> dict[str, Any] | None:
    """:func:`dose_response` of a study's points when its panel is an intervention panel: the
    models carry ``lambda`` and ``seed`` attributes and one ``statistic`` attribute naming a
    column of the points (the intervened statistic); None otherwise."""
    if not {DOSE, REPLICATE, STATISTIC} <= set(points.columns):
        return None
    named = points[STATISTIC].dropna().unique()
    if len(named) != 1 or named[0] not in points.columns or points[DOSE].nunique() < 2:
        return None
    return dose_response(points, score, str(named[0]), dose=DOSE, replicate=REPLICATE)
