"""Extractive QA: sliding-window encoding, batched inference, SQuAD 2.0 answer decoding.

Each (question, context) pair is encoded question first, the context cut into windows of at most
``max_length`` tokens overlapping by ``stride`` tokens, so no example is dropped. A window's
answer is searched among its ``n_best`` highest start and end logits over context tokens, with
``end >= start`` and at most ``max_answer_length`` tokens; the answer text is cut from the
original context through the offset mapping. The null score is the [CLS] position's start+end
logit (minimum over windows, as the reference SQuAD code); ``na_prob = null - best span score``
and the answer is ``""`` where ``na_prob > na_threshold``.

Context-vector metrics are computed per window; an example's value is the mean over its windows
weighted by each window's token count, which equals the single-window value for the ~97% of
SQuAD pairs that fit one window. ``baseline_compat`` reproduces the baseline instead: one window
only, examples longer than ``max_length`` skipped (and reported, never silently).
Scoring lives in :mod:`ctxvec.metrics.scoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ctxvec.data import QAExample
from ctxvec.errors import CtxvecError, require_at_least, require_finite
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.inference.summaries import PooledSample, check_defined, example_metrics
from ctxvec.loading import LoadedModel
from ctxvec.metrics.scoring import squad_v2_example_scores, squad_v2_scores
from ctxvec.tasks.predictions import Predictions
from ctxvec.tasks.windows import encode_windows


@dataclass(frozen=True)
class QASettings(PassSettings):
    """The QA study's settings: windows, span search and the no-answer threshold, beside the
    forward pass's (:class:`~ctxvec.inference.forward.PassSettings`)."""

    max_length: int = 384
    stride: int = 128
    n_best: int = 20
    max_answer_length: int = 30
    na_threshold: float = 0.0
    baseline_compat: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("--max-length", self.max_length, 2)
        require_at_least("--stride", self.stride, 0)
        if self.stride >= self.max_length:
            raise CtxvecError(
                f"--stride ({self.stride}) must be less than --max-length ({self.max_length})"
            )
        require_at_least("--n-best", self.n_best)
        require_at_least("--max-answer-length", self.max_answer_length)
        require_finite("--na-threshold", self.na_threshold)


def encode_qa(
    lm: LoadedModel, examples: Sequence[QAExample], settings: QASettings
) -> tuple[list[dict], list[int], list[str]]:
    """Tokenise examples into windows.

    Returns:
        The features (each with ``offsets``: a ``(start, end)`` character span for context
        tokens and ``None`` elsewhere), the example index of each feature, and the ids of
        examples skipped in baseline-compat mode.
    """
    tok = lm.tokenizer
    max_length, stride = settings.max_length, settings.stride
    if lm.max_positions is not None and max_length > lm.max_positions:
        # A shorter model keeps the windows' proportions (default: a third of the window).
        stride = min(stride, stride * lm.max_positions // max_length)
        max_length = lm.max_positions
    enc = encode_windows(
        tok,
        examples,
        max_length,
        stride,
        truncate=not settings.baseline_compat,
        model=lm.resolved.spec.label,
    )
    names = [n for n in lm.input_names if n != "attention_mask"]
    mapping = enc.get("overflow_to_sample_mapping", list(range(len(examples))))
    features, owners, skipped = [], [], []
    for i, owner in enumerate(mapping):
        ids = enc["input_ids"][i]
        if settings.baseline_compat and len(ids) > max_length:
            skipped.append(examples[owner].id)
            continue
        seq = enc.sequence_ids(i)
        feature = {n: enc[n][i] for n in names}
        feature["special_tokens_mask"] = enc["special_tokens_mask"][i]
        feature["offsets"] = [
            tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][i], seq, strict=True)
        ]
        feature["cls_index"] = _cls_index(ids, tok.cls_token_id)
        features.append(feature)
        owners.append(owner)
    return features, owners, skipped


def _cls_index(ids: Sequence[int], cls_id: int | None) -> int:
    if cls_id is not None and cls_id in ids:
        return list(ids).index(cls_id)
    return 0


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """The highest-scoring valid span of one window.

    Args:
        start_logits, end_logits: ``[n_tokens]`` logits of the window (no padding).
        offsets: per token, its character span in the context, or ``None`` outside the context.
        n_best: how many top start and end positions to combine.
        max_answer_length: longest answer in tokens.

    Returns:
        ``(score, start_char, end_char)`` of the best span, or ``None`` when no span is valid.
    """
    in_context = np.array([o is not None for o in offsets])
    if not in_context.any():
        return None
    masked_start = np.where(in_context, start_logits, -np.inf)
    masked_end = np.where(in_context, end_logits, -np.inf)
    top_starts = np.argsort(-masked_start, kind="stable")[:n_best]
    top_ends = np.argsort(-masked_end, kind="stable")[:n_best]
    best: tuple[float, int, int] | None = None
    for s in top_starts:
        if not in_context[s]:
            continue
        for e in top_ends:
            if not in_context[e] or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[0]:
                best = (score, offsets[s][0], offsets[e][1])
    return best


def predict_qa(
    lm: LoadedModel,
    examples: Sequence[QAExample],
    settings: QASettings = QASettings(),
    progress: bool = True,
    first_example: int = 0,
) -> Predictions:
    """Answer every example and measure its context vectors.

    ``first_example`` is the index of ``examples[0]`` in its unit: a shard of a unit seeds its
    token sample as the whole unit would.

    Returns:
        One row per example that was run, with columns ``id``, ``prediction``, ``gold_answers``,
        ``has_answer``, ``na_prob``, ``exact``, ``f1``, ``n_tokens``, ``n_windows`` and the
        metrics of :func:`~ctxvec.inference.summaries.example_metrics`; the ids skipped in
        baseline-compat mode; the pooled sample of the subset-level metrics.
    """
    features, owners, skipped = encode_qa(lm, examples, settings)
    keys = _window_keys(owners, first_example)
    out = run_forward(
        lm, features, "qa", settings, desc=lm.resolved.spec.label, progress=progress, seeds=keys
    )
    by_example: dict[int, list[int]] = {}
    for f, owner in enumerate(owners):
        by_example.setdefault(owner, []).append(f)
    rows = []
    for owner, feats in by_example.items():
        example = examples[owner]
        null = min(
            float(out.start_logits[f][features[f]["cls_index"]])
            + float(out.end_logits[f][features[f]["cls_index"]])
            for f in feats
        )
        spans = [
            best_span(
                out.start_logits[f],
                out.end_logits[f],
                features[f]["offsets"],
                settings.n_best,
                settings.max_answer_length,
            )
            for f in feats
        ]
        spans = [s for s in spans if s is not None]
        if spans:
            score, a, b = max(spans, key=lambda s: s[0])
            na_prob, text = null - score, example.context[a:b].strip()
        else:
            na_prob, text = float("inf"), ""
        prediction = "" if na_prob > settings.na_threshold else text
        metrics = example_metrics(out, feats)
        check_defined(metrics, example.id, lm.resolved.spec.label)
        exact, f1 = squad_v2_example_scores(example.answers, prediction)
        rows.append(
            {
                "id": example.id,
                "prediction": prediction,
                "gold_answers": list(example.answers),
                "has_answer": bool(example.answers),
                "na_prob": na_prob,
                "exact": float(exact),
                "f1": float(f1),
                "n_tokens": int(out.n_tokens[feats].sum()),
                "n_windows": len(feats),
                **metrics,
            }
        )
    sample = PooledSample.of_pass(out, keys) if rows else None
    return Predictions(pd.DataFrame(rows), skipped, sample, out.layers, out.kernels)


def _window_keys(owners: Sequence[int], first_example: int) -> list[tuple[int, int]]:
    """(example index in the unit, window index in the example) of each feature."""
    seen: dict[int, int] = {}
    keys = []
    for owner in owners:
        keys.append((first_example + owner, seen.get(owner, 0)))
        seen[owner] = seen.get(owner, 0) + 1
    return keys


def qa_scores(rows: pd.DataFrame, na_threshold: float = 0.0) -> dict[str, float]:
    """The official SQuAD 2.0 scores (percentages) of :func:`predict_qa`'s rows."""
    ids = rows["id"]
    return squad_v2_scores(
        dict(zip(ids, rows["gold_answers"], strict=True)),
        dict(zip(ids, rows["prediction"], strict=True)),
        dict(zip(ids, rows["na_prob"], strict=True)),
        na_threshold=na_threshold,
    )
