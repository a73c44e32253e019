"""Confounds: does a score-metric relationship across models survive what else differs?

Checkpoints of a panel differ in family, size, training steps and seed at once, so a
correlation of the score with a metric across models may only reflect one of these. Given
model attributes (a panel's ``[models.attributes]``), this module reports beside the plain
model-level correlation:

- :func:`partial_correlation`: the correlation of the per-model mean score and metric once the
  chosen controls are regressed out of both (Baba, Shibata & Sibuya 2004: the partial
  correlation is the correlation of the two residuals). Both are regressed by least squares on
  an intercept and the controls (a categorical control as dummy columns, one per level but the
  first; a numeric one as it is); r is the Pearson r of the residuals; ``p`` is the t-test with
  ``n - 2 - k`` degrees of freedom (k control columns), which equals the t-test of the metric's
  coefficient in ``score ~ metric + controls``; ``permutation_p`` permutes the residuals'
  pairing (:func:`ctxvec.metrics.stats._pairing_test`, never below ``2/n!``; it ignores the k
  degrees of freedom the controls took, so with many controls it is the less cautious of the
  two).
- :func:`mixed_model`: statsmodels' linear mixed model (``MixedLM``, REML) of the score on the
  metric over the (model, subset) points, with a random intercept per group (by default the
  ``family`` attribute): the slope is the within-and-between-family association once each
  family may have its own level.
- :func:`verdict`: "holds", "vanishes when controlled", "appears when controlled", "neither"
  (or "undefined"), from the plain permutation p and the controlled one.

:func:`confounds` assembles all three per metric from a ``subsets.csv`` table (attribute
columns included): the ``confounds`` block of ``correlations.json``. Undefined values are NaN
with a ``reason``; nothing here raises on degenerate data. Left out: nested random effects
(subsets within models within families), random slopes, and any correction for testing many
metrics.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ctxvec.errors import first_line
from ctxvec.metrics.stats import MONTE_CARLO_RESAMPLES, _pairing_test, model_permutation_test

Outcome = Literal[
    "holds", "vanishes when controlled", "appears when controlled", "neither", "undefined"
]
ALPHA = 0.05
# Residuals whose norm is below this share of the centred input's are taken as zero: the
# controls determine that variable.
_DETERMINED = 1e-9


def design(controls: pd.DataFrame) -> np.ndarray:
    """The regressors ``[n, 1 + k]``: an intercept, then each numeric control as it is and each
    other control (text, boolean) as dummy columns of its levels but the first (sorted)."""
    columns = [np.ones(len(controls))]
    for name in controls.columns:
        values = controls[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            columns.append(values.to_numpy(np.float64))
        else:
            dummies = pd.get_dummies(values.astype(str), drop_first=True, dtype=np.float64)
            columns += [dummies[c].to_numpy() for c in dummies.columns]
    return np.column_stack(columns)


def partial_correlation(
    x: Sequence[float],
    y: Sequence[float],
    controls: pd.DataFrame,
    *,
    n_resamples: int = MONTE_CARLO_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Partial correlation of ``x`` and ``y`` (one value per model) given ``controls`` (one row
    per model, one column per attribute; see the module docstring for the rule).

    Returns ``n``, ``k`` (control columns), ``df`` (``n - 2 - k``), ``r``, ``p`` (t-test),
    ``permutation_p`` with ``exact`` and ``error`` as :func:`_pairing_test` gives them, and
    ``reason``: None, or why r is NaN (too few models for the controls, a missing or constant
    value, controls that determine x or y, or collinear controls).
    """
    xs = np.asarray(x, np.float64)
    ys = np.asarray(y, np.float64)
    regressors = design(controls)
    n, k = len(xs), regressors.shape[1] - 1
    out: dict[str, Any] = {
        "n": n, "k": k, "df": n - 2 - k, "r": math.nan, "p": math.nan,
        "permutation_p": math.nan, "exact": False, "error": math.nan, "reason": None,
    }  # fmt: skip
    if controls.isna().to_numpy().any() or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return {**out, "reason": "a model lacks a value of a control, the score or the metric"}
    if n - 2 - k < 1:
        return {**out, "reason": f"{n} models leave no degree of freedom after {k} control(s)"}
    if np.linalg.matrix_rank(regressors) < k + 1:
        return {**out, "reason": "the controls are collinear (one is determined by the others)"}
    coefficients = np.linalg.lstsq(regressors, np.column_stack([xs, ys]), rcond=None)[0]
    residuals = np.column_stack([xs, ys]) - regressors @ coefficients  # [n, 2]
    spread = np.linalg.norm(np.column_stack([xs, ys]) - [xs.mean(), ys.mean()], axis=0)
    for j, what in enumerate(("score", "metric")):
        if np.linalg.norm(residuals[:, j]) <= _DETERMINED * max(spread[j], 1e-300):
            return {**out, "reason": f"the controls determine the {what} (nothing is left)"}
    test = _pairing_test(residuals[:, 0], residuals[:, 1], n_resamples, seed)
    r, df = test["r"], n - 2 - k
    p = 0.0 if abs(r) == 1 else float(2 * stats.t.sf(abs(r) * math.sqrt(df / (1 - r * r)), df))
    return {
        **out, "r": r, "p": p, "permutation_p": test["p"], "exact": test["exact"],
        "error": test["error"],
    }  # fmt: skip


def mixed_model(points: pd.DataFrame, score: str, metric: str, group: str) -> dict[str, Any]:
    """``score ~ 1 + metric`` over ``points`` with a random intercept per ``group`` value,
    fitted by statsmodels' ``mixedlm`` (REML).

    The slope is in score points (``subsets.csv``'s scale, x100) per unit of the metric.
    Returns ``slope``, ``se``, ``p`` (Wald z-test), ``ci_low``/``ci_high`` (95% Wald
    interval), ``group_variance`` (the random intercepts' variance), ``n`` points,
    ``groups``, ``converged`` (statsmodels' flag, False too when it warned that the fit did
    not converge), ``warnings`` (statsmodels' warnings, first lines) and ``reason`` (None, or
    why the numbers are NaN: fewer than 2 groups or 3 points, a missing or constant value, a
    singular fit). Rows with a missing score, metric or group are left out.
    """
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    # Plain names in the formula: a column name need not be a valid formula term.
    data = pd.DataFrame({"y": points[score], "x": points[metric], "g": points[group]}).dropna()
    data["g"] = data["g"].astype(str)
    n, groups = len(data), data["g"].nunique()
    out: dict[str, Any] = {
        "slope": math.nan, "se": math.nan, "p": math.nan, "ci_low": math.nan,
        "ci_high": math.nan, "group_variance": math.nan, "n": n, "groups": groups,
        "converged": False, "warnings": [], "reason": None,
    }  # fmt: skip
    if groups < 2 or n < 3:
        return {**out, "reason": f"{n} point(s) in {groups} group(s); needs 3 in 2 groups"}
    if np.ptp(data["x"]) == 0 or np.ptp(data["y"]) == 0:
        return {**out, "reason": "the score or the metric is constant"}
    # The fit's warnings are recorded, not shown: a boundary or singular fit is a result here.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm("y ~ x", data, groups=data["g"]).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as e:
            return {**out, "reason": f"the fit failed: {first_line(e)}"}
        slope, se = float(fit.fe_params["x"]), float(fit.bse_fe["x"])
        low, high = (float(v) for v in fit.conf_int(alpha=ALPHA).loc["x"])
        out.update(
            slope=slope, se=se, p=float(fit.pvalues["x"]), ci_low=low, ci_high=high,
            group_variance=float(fit.cov_re.iloc[0, 0]),
        )  # fmt: skip
    diverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    out["converged"] = bool(fit.converged) and not diverged
    out["warnings"] = list(dict.fromkeys(first_line(w.message) for w in caught))
    if not math.isfinite(se):
        out.update(p=math.nan, ci_low=math.nan, ci_high=math.nan, reason="a singular fit")
    return out


def verdict(plain_r: float, plain_p: float, controlled_r: float, controlled_p: float) -> Outcome:
    """What controlling does to a relationship (p below :data:`ALPHA`: significant).

    "vanishes when controlled": the plain one is significant and the controlled one is not, or
    has the opposite sign; "holds": both significant, same sign; "appears when controlled":
    only the controlled one is significant; "neither"; "undefined" when a value is NaN.
    """
    if any(math.isnan(v) for v in (plain_r, plain_p, controlled_r, controlled_p)):
        return "undefined"
    plain, controlled = plain_p < ALPHA, controlled_p < ALPHA
    if plain and (not controlled or np.sign(plain_r) * np.sign(controlled_r) < 0):
        return "vanishes when controlled"
    if plain:
        return "holds"
    return "appears when controlled" if controlled else "neither"


def confounds(
    points: pd.DataFrame,
    score: str,
    metrics: Sequence[str],
    controls: Sequence[str] = (),
    group: str | None = None,
    model: str = "model",
) -> dict[str, Any]:
    """The ``confounds`` block of ``correlations.json`` from ``subsets.csv``'s rows.

    Per metric: ``plain`` (the model-level permutation test of the per-model means,
    :func:`~ctxvec.metrics.stats.model_permutation_test`), ``partial`` (with ``controls``;
    else None), ``mixed`` (with a ``group``; else None) and ``verdict`` with ``by``: the
    partial correlation's permutation p when there are controls, else the mixed model's Wald
    p (None when neither was computed). Per-model attributes are the first row's of the model.
    """
    columns = list(dict.fromkeys([score, *metrics]))
    means = points.groupby(model, sort=True)[columns].mean(skipna=False)
    attributes = points.groupby(model, sort=True)[list(controls)].first()
    block: dict[str, Any] = {"controls": list(controls), "group": group, "metrics": {}}
    for metric in metrics:
        plain = model_permutation_test(means[score], means[metric])
        entry: dict[str, Any] = {"plain": plain, "partial": None, "mixed": None, "verdict": None}
        if controls:
            entry["partial"] = partial_correlation(means[score], means[metric], attributes)
        if group is not None:
            entry["mixed"] = mixed_model(points, score, metric, group)
        by = "partial" if controls else "mixed" if group is not None else None
        if by is not None:
            controlled = entry[by]
            r, p = (
                (controlled["r"], controlled["permutation_p"])
                if by == "partial"
                else (controlled["slope"], controlled["p"])
            )
            entry["verdict"] = {"outcome": verdict(plain["r"], plain["p"], r, p), "by": by}
        block["metrics"][metric] = entry
    return block
