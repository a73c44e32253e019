"""The study's answer at a glance: does this panel support, contradict or not decide the hypothesis?

The hypothesis: models that score higher have more discriminative context vectors, so the
score's model-level correlation with a metric has the sign the metric registry predicts
(``discriminative``: ``higher`` -> r > 0, ``lower`` -> r < 0). :func:`decide` applies one rule to
each headline metric (the baseline's Variance and CSE) as ``correlations.json`` holds it: a
permutation p below :data:`ALPHA` with r of the predicted sign *supports* the hypothesis, with the
opposite sign it *contradicts* it; anything else (p >= ALPHA, fewer than :data:`MIN_MODELS`
models, r or p undefined) *cannot decide*, and the text says why. :func:`answer` writes the
verdicts as the sentences that the report, the terminal summary and the notebook view open with
(numbers by :mod:`~ctxvec.report.numbers`); :func:`~ctxvec.report.figures.forest` draws them.

Nothing is recomputed. Left out: the other metrics, the subset-level and within-model rows (the
correlation table has them), and any correction for testing two metrics at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ctxvec.metrics.registry import REGISTRY, label
from ctxvec.report.numbers import interval, missing, number, p_value

if TYPE_CHECKING:
    from ctxvec.report.run import Run

ALPHA = 0.05
# Pearson's r across models needs three points (metrics.stats leaves it empty below).
MIN_MODELS = 3
HEADLINE = ("variance", "cse")
PREDICTED = {"higher": 1, "lower": -1}

Outcome = Literal["supports", "contradicts", "cannot decide"]
Reason = Literal["few models", "undefined", "not significant"]


@dataclass(frozen=True)
class Verdict:
    """What the panel says about the hypothesis through one metric.

    Attributes:
        metric: its registry name; ``outcome``: the rule's answer; ``reason``: why the panel
            cannot decide (``None`` when it decides).
        n: models; ``critical``: the |r| a model-level Pearson r needs for p < ALPHA with them.
        r, low, high: the model-level Pearson r and its 95% CI; ``p``: its permutation p.
        predicted: the sign of r the hypothesis predicts, 1 or -1.
    """

    metric: str
    outcome: Outcome
    reason: Reason | None
    n: int
    r: float | None
    low: float | None
    high: float | None
    p: float | None
    critical: float | None
    predicted: int


@dataclass(frozen=True)
class Answer:
    """The verdicts as text: one ``lead`` sentence, one finding per metric, what they mean."""

    verdicts: tuple[Verdict, ...]
    lead: str
    findings: tuple[tuple[str, str], ...]  # (metric, sentence)
    explanation: str


def _value(value: float | None) -> float | None:
    return None if missing(value) else float(value)


def decide(metric: str, levels: Mapping[str, Any], n_models: int) -> Verdict:
    """The rule for one metric with a direction in the registry, from its entry in
    ``correlations.json``'s ``metrics``."""
    model = levels.get("model_level") or {}
    r, p = _value(model.get("pearson_r")), _value((levels.get("model_permutation") or {}).get("p"))
    predicted = PREDICTED[REGISTRY[metric].discriminative or ""]
    reason: Reason | None = None
    if n_models < MIN_MODELS:
        reason = "few models"
    elif r is None or p is None:
        reason = "undefined"
    elif p >= ALPHA:
        reason = "not significant"
    outcome: Outcome = "cannot decide"
    if reason is None and r is not None:
        outcome = "supports" if r * predicted > 0 else "contradicts"
    low, high = _value(model.get("pearson_ci_low")), _value(model.get("pearson_ci_high"))
    critical = _value((levels.get("critical_r") or {}).get("r"))
    return Verdict(metric, outcome, reason, n_models, r, low, high, p, critical, predicted)


def estimate_text(verdict: Verdict) -> str:
    """``model-level r = -0.21 [-0.68, 0.39], permutation p = 0.629``."""
    band = interval(verdict.low, verdict.high)
    return (
        f"model-level r = {number(verdict.r)}{' ' + band if band else ''}, "
        f"permutation p = {p_value(verdict.p)}"
    )


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _models(n: int) -> str:
    return f"{n} model" + ("" if n == 1 else "s")


def _sign(direction: int) -> str:
    return "r > 0" if direction > 0 else "r < 0"


def _finding(v: Verdict, score: str, same_score: str | None) -> str:
    name = label(v.metric)
    if v.reason == "few models":
        return f"{name}: cannot decide; r across models needs {MIN_MODELS} models, not {v.n}."
    if v.r is None:
        why = (
            f"every model has the same {score} ({same_score})"
            if same_score is not None
            else f"{name} or {score} does not vary across models, or is missing for one"
        )
        return f"{name}: cannot decide; the model-level r is undefined: {why}."
    if v.r > 0:
        observed = f"{name}: {score} rises with {name} ({estimate_text(v)})"
    elif v.r < 0:
        observed = f"{name}: {score} falls as {name} rises ({estimate_text(v)})"
    else:
        observed = f"{name}: {score} does not change with {name} ({estimate_text(v)})"
    higher = "higher" if v.r > 0 else "lower"
    if v.outcome == "supports":
        return (
            f"{observed}: supports the hypothesis; the better-scoring models have {higher} "
            f"{name}, that is, more discriminative context vectors by this measure."
        )
    if v.outcome == "contradicts":
        return (
            f"{observed}: contradicts the hypothesis, which predicts {_sign(v.predicted)}; "
            f"the better-scoring models have {higher} {name}, that is, less discriminative "
            "context vectors by this measure."
        )
    alpha, critical = number(ALPHA), number(v.critical)
    if v.p is None:
        why = "the run holds no permutation p"
    elif v.critical is None:  # a run written before correlations.json kept critical_r
        why = f"p >= {alpha}"
    elif abs(v.r) > v.critical:
        # Pearson's own p would pass; the permutation test, which the rule reads, does not.
        why = f"|r| passes {critical}, Pearson's threshold, but the permutation p is >= {alpha}"
    else:
        why = f"p >= {alpha}, and |r| would need to exceed {critical}"
    return f"{observed}: cannot decide; {why}."


def _lead(verdicts: Sequence[Verdict], n: int) -> str:
    clauses = []
    for outcome in ("supports", "contradicts", "cannot decide"):
        names = [label(v.metric) for v in verdicts if v.outcome == outcome]
        if names:
            clauses.append(f"{outcome} {'it' if clauses else 'the hypothesis'} for {_and(names)}")
    critical, reach = verdicts[0].critical, ""
    if n < MIN_MODELS:
        reach = f" (a correlation across models needs at least {MIN_MODELS})"
    elif critical is not None:
        reach = f" (it can detect only a model-level |r| > {number(critical)})"
    return f"With {_models(n)} and alpha = {number(ALPHA)}, this panel {_and(clauses)}{reach}."


def _explanation(verdicts: Sequence[Verdict], score: str) -> str:
    signs = [
        f"{_sign(direction)} for {_and(names)}"
        for direction in (1, -1)
        if (names := [label(v.metric) for v in verdicts if v.predicted == direction])
    ]
    return (
        "The hypothesis (better models, more discriminative context vectors) predicts "
        f"{'; '.join(signs)}. r: Pearson's r with {score} over per-model means, 95% CI; p: a "
        'permutation test over models. "Cannot decide" is evidence neither for nor against it.'
    )


def answer(correlations: Mapping[str, Any], same_score: str | None = None) -> Answer | None:
    """The verdicts on the headline metrics the run measured, as text; ``None`` without any.

    Args:
        correlations: ``correlations.json`` as read.
        same_score: the score every model has, formatted, when all have the same one (it says
            why r is undefined).
    """
    measured = [m for m in HEADLINE if m in correlations["metrics"]]
    if not measured:
        return None
    first = correlations["metrics"][measured[0]].get("model_level") or {}
    n = int(correlations.get("n_models", first.get("n", 0)))
    verdicts = tuple(decide(m, correlations["metrics"][m], n) for m in measured)
    score = label(correlations["score"])
    return Answer(
        verdicts=verdicts,
        lead=_lead(verdicts, n),
        findings=tuple((v.metric, _finding(v, score, same_score)) for v in verdicts),
        explanation=_explanation(verdicts, score),
    )


def answer_of(run: Run) -> Answer | None:
    """The run's answer (:func:`answer`), naming the score when every model has the same."""
    same_score = None
    if run.score in run.subsets.columns:
        means = run.subsets.groupby("model")[run.score].mean()
        if len(means) and means.nunique() == 1:
            same_score = number(means.iloc[0], ".1f")
    return answer(run.correlations, same_score)
