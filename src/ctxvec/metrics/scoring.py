"""Task scores: official SQuAD 2.0 EM/F1 and classification accuracy/F1.

:func:`squad_v2_scores` reproduces the official ``evaluate-v2.0.py`` script number for number:
its answer normalisation, bag-of-tokens F1, max over gold answers, the strict no-answer
threshold and ``find_best_thresh``. Inputs are plain mappings keyed by question id instead of
the script's JSON files. Deliberate differences: a missing prediction raises
:class:`~ctxvec.errors.CtxvecError` (the script prints a line and silently drops the question,
which changes ``total``), and the script's precision-recall curves and histograms are left out.

:func:`classification_scores` returns fractions in ``[0, 1]``, whereas the SQuAD scores are
percentages, as the official script reports them; its F1 is :func:`f1_scores`, vectorised so
that the study's bootstrap uses the same rule (scikit-learn is the tests' oracle).
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Mapping, Sequence

import numpy as np

from ctxvec.errors import CtxvecError

# Every task score is reported as a percentage, as the official SQuAD script reports its own.
PERCENT = 100.0
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation and the articles a/an/the, collapse whitespace (official)."""
    text = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    # A space rather than nothing, as the script does: "1€the€2" gives two tokens, not one.
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(s: str) -> list[str]:
    """Tokens of a normalised answer; ``[]`` for the empty string."""
    if not s:
        return []
    return normalize_answer(s).split()


def exact_match(gold: str, pred: str) -> int:
    """1 when the normalised strings are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str, pred: str) -> float:
    """Bag-of-tokens F1; when either side has no tokens, 1.0 only if both are empty."""
    gold_toks = answer_tokens(gold)
    pred_toks = answer_tokens(pred)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    num_same = sum((collections.Counter(gold_toks) & collections.Counter(pred_toks)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def squad_v2_example_scores(gold_answers: Sequence[str], prediction: str) -> tuple[int, float]:
    """(EM, F1) of one prediction, each maximised separately over the gold answers.

    Gold answers that normalise to the empty string are dropped; if none is left, the gold is
    ``[""]`` (unanswerable), so only an empty prediction scores.
    """
    golds = [a for a in gold_answers if normalize_answer(a)] or [""]
    return (
        max(exact_match(g, prediction) for g in golds),
        max(token_f1(g, prediction) for g in golds),
    )


def squad_v2_scores(
    gold: Mapping[str, Sequence[str]],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float] | None = None,
    na_threshold: float = 1.0,
) -> dict[str, float]:
    """Official SQuAD 2.0 evaluation of ``predictions`` against ``gold`` (id -> answer texts).

    An empty answer list means the question is unanswerable. Where ``na_probs[id] >
    na_threshold`` the model is taken to abstain: the question scores 1 if unanswerable, else 0.
    Without ``na_probs`` every no-answer probability is 0 and the best-threshold keys are left
    out, as in the script. Scores are percentages; ``*total`` keys are question counts (int).
    Predictions for ids not in ``gold`` are ignored.
    """
    if not gold:
        raise CtxvecError("no questions to score: the gold answer mapping is empty")
    missing = [qid for qid in gold if qid not in predictions]
    if missing:
        raise CtxvecError(
            f"missing prediction for {len(missing)} question(s), e.g. {missing[0]!r}; "
            "predict every question (an empty string means no answer)"
        )
    if na_probs is not None:
        missing = [qid for qid in gold if qid not in na_probs]
        if missing:
            raise CtxvecError(
                f"missing no-answer probability for {len(missing)} question(s), "
                f"e.g. {missing[0]!r}; give one for every question or none at all"
            )
    probs = na_probs if na_probs is not None else dict.fromkeys(gold, 0.0)

    # len(), not truth: answer lists may be arrays (rows read back from parquet).
    has_ans = {qid: len(answers) > 0 for qid, answers in gold.items()}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for qid, answers in gold.items():
        exact_raw[qid], f1_raw[qid] = squad_v2_example_scores(answers, predictions[qid])

    def thresholded(raw: dict[str, float]) -> dict[str, float]:
        return {
            qid: float(not has_ans[qid]) if probs[qid] > na_threshold else score
            for qid, score in raw.items()
        }

    exact = thresholded(exact_raw)
    f1 = thresholded(f1_raw)
    out: dict[str, float] = {}
    groups = (
        ("", list(gold)),
        ("HasAns_", [qid for qid in gold if has_ans[qid]]),
        ("NoAns_", [qid for qid in gold if not has_ans[qid]]),
    )
    for prefix, qids in groups:
        if qids:
            out[f"{prefix}exact"] = 100.0 * sum(exact[q] for q in qids) / len(qids)
            out[f"{prefix}f1"] = 100.0 * sum(f1[q] for q in qids) / len(qids)
            out[f"{prefix}total"] = len(qids)

    if na_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            best, thresh = _best_threshold(raw, predictions, na_probs, has_ans)
            out[f"best_{name}"] = best
            out[f"best_{name}_thresh"] = thresh
    return out


def _best_threshold(
    raw: Mapping[str, float],
    predictions: Mapping[str, str],
    na_probs: Mapping[str, float],
    has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """The official ``find_best_thresh``: best score over thresholds, and where it is reached.

    Abstaining everywhere scores the number of unanswerable questions; lowering the abstention
    one question at a time (ascending ``na_prob``, ties in ``na_probs``' own key order, as the
    script's stable sort does) adds an answerable question's raw score, or costs 1 for an
    unanswerable one whose raw prediction string is non-empty.
    """
    cur = best = float(sum(not v for v in has_ans.values()))
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in raw:
            continue
        if has_ans[qid]:
            cur += raw[qid]
        elif predictions[qid]:
            cur -= 1
        if cur > best:
            best = cur
            best_thresh = float(na_probs[qid])
    return 100.0 * best / len(raw), best_thresh


def f1_scores(
    labels: np.ndarray, preds: np.ndarray, positive: int | None, axis: int = -1
) -> np.ndarray:
    """F1 of class ``positive`` (macro F1 over the classes seen without one) along ``axis``.

    As scikit-learn's ``f1_score(..., labels=[positive], average="macro", zero_division=0)``
    (or ``labels=classes, average="macro"``): precision and recall that are undefined count as
    0. Vectorised, so a bootstrap scores every resample in one call (``labels`` and ``preds`` of
    shape ``[n_resamples, n]`` with ``axis=-1``); macro F1 then averages over the classes of the
    whole input, also in a resample that lacks one of them.
    """
    labels, preds = np.asarray(labels), np.asarray(preds)
    classes = [positive] if positive is not None else np.union1d(labels, preds)
    scores = []
    for c in classes:
        tp = ((labels == c) & (preds == c)).sum(axis)
        wrong = ((labels == c) != (preds == c)).sum(axis)  # false positives + false negatives
        denominator = 2 * tp + wrong
        scores.append(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
    return np.mean(scores, axis=0)


def classification_scores(
    y_true: Sequence[int], y_pred: Sequence[int], positive_label: int | None
) -> dict[str, float]:
    """Accuracy, F1 and macro F1 as fractions in ``[0, 1]`` (not percentages).

    ``f1`` is the F1 of class ``positive_label`` (binary F1 for a two-class task; 0 when that
    class never occurs in truth or prediction); with ``positive_label=None`` it equals
    ``macro_f1``, the unweighted mean over the classes seen in ``y_true`` or ``y_pred``.
    Undefined precision/recall count as 0 (:func:`f1_scores`; checked against scikit-learn in
    the tests).
    """
    labels, preds = np.asarray(y_true), np.asarray(y_pred)
    if len(labels) != len(preds):
        raise CtxvecError(
            f"classification scores need one prediction per label, got {len(preds)} for "
            f"{len(labels)}"
        )
    macro = float(f1_scores(labels, preds, None))
    f1 = macro if positive_label is None else float(f1_scores(labels, preds, positive_label))
    return {"accuracy": float(np.mean(labels == preds)), "f1": f1, "macro_f1": macro}
