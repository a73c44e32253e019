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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ctxvec.data import QADataset, QAExample, load_qa_dataset
from ctxvec.errors import ParameterError, require_at_least, require_finite
from ctxvec.inference.forward import Keep, PassSettings, run_forward
from ctxvec.inference.kernels import cpu_kernels
from ctxvec.inference.summaries import PooledSample, check_defined, example_metrics
from ctxvec.loading import Head, LoadedModel
from ctxvec.metrics.heads import CONTEXT, QUESTION, SPECIAL
from ctxvec.metrics.scoring import PERCENT, squad_v2_example_scores, squad_v2_scores
from ctxvec.metrics.stats import put_estimate
from ctxvec.tasks.base import Predictions, Reading, Task
from ctxvec.tasks.heads import EncodedInput, forward_attentions, too_long
from ctxvec.tasks.windows import (
    best_span,
    encode_windows,
    no_answer_position,
    training_windows,
)

# What the forward pass keeps of a QA head's output: the span logits of every real token, and
# the sentence vectors the study's cross-model similarity compares (ctxvec.study.similarity).
KEEP = Keep(per_token=("start_logits", "end_logits"), sentence=True)


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
        require_at_least("max_length", self.max_length, 2)
        require_at_least("stride", self.stride, 0)
        if self.stride >= self.max_length:
            raise ParameterError(
                "stride",
                f"({self.stride}) must be less than max_length ({self.max_length})",
                others=("max_length",),
            )
        require_at_least("n_best", self.n_best)
        require_at_least("max_answer_length", self.max_answer_length)
        require_finite("na_threshold", self.na_threshold)


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
        feature["cls_index"] = no_answer_position(ids, tok.cls_token_id)
        features.append(feature)
        owners.append(owner)
    return features, owners, skipped


def predict_qa(
    lm: LoadedModel,
    examples: Sequence[QAExample],
    settings: QASettings = QASettings(),
    progress: bool = True,
    first_example: int = 0,
    reference: Sequence[QAExample] = (),
) -> Predictions:
    """Answer every example and measure its context vectors.

    ``first_example`` is the index of ``examples[0]`` in its unit: a shard of a unit seeds its
    token sample as the whole unit would. With ``settings.standardise``, ``reference`` holds the
    examples whose windows give the per-dimension statistics of the cosine metrics.

    Returns:
        One row per example that was run, with columns ``id``, ``prediction``, ``gold_answers``,
        ``has_answer``, ``na_prob``, ``exact``, ``f1``, ``n_tokens``, ``n_windows`` and the
        metrics of :func:`~ctxvec.inference.summaries.example_metrics`; the ids skipped in
        baseline-compat mode; the pooled sample of the subset-level metrics.
    """
    features, owners, skipped = encode_qa(lm, examples, settings)
    keys = _window_keys(owners, first_example)
    out = run_forward(
        lm,
        features,
        KEEP,
        settings,
        desc=lm.resolved.spec.label,
        progress=progress,
        seeds=keys,
        reference=encode_qa(lm, reference, settings)[0] if reference else (),
    )
    start_logits, end_logits = out.outputs["start_logits"], out.outputs["end_logits"]
    by_example: dict[int, list[int]] = {}
    for f, owner in enumerate(owners):
        by_example.setdefault(owner, []).append(f)
    rows = []
    for owner, feats in by_example.items():
        example = examples[owner]
        null = min(
            float(start_logits[f][features[f]["cls_index"]])
            + float(end_logits[f][features[f]["cls_index"]])
            for f in feats
        )
        spans = [
            best_span(
                start_logits[f],
                end_logits[f],
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


def encode_pair(lm: LoadedModel, question: str, context: str, limit: int) -> EncodedInput:
    """A QA pair as one whole window (question first; too long is an error, never cut)."""
    example = QAExample("input", question, context)
    # One whole input, never windows: the stride does not apply.
    settings = QASettings(max_length=limit, stride=0, baseline_compat=True)
    features, _, skipped = encode_qa(lm, [example], settings)
    if skipped:
        raise too_long(lm, len(lm.tokenizer(question.lstrip(), context)["input_ids"]), limit)
    feature = features[0]
    special = np.asarray(feature["special_tokens_mask"], bool)
    segment = np.where(special, SPECIAL, QUESTION).astype(np.int8)
    segment[[o is not None for o in feature["offsets"]]] = CONTEXT
    return EncodedInput(feature, segment)


class QATask(Task):
    """Extractive QA with SQuAD 2.0 scoring (this module's functions behind the contract)."""

    name = "qa"
    title = "SQuAD-style QA"
    description = "extractive QA (SQuAD 2.0 scoring)"
    settings_type = QASettings
    head = Head("AutoModelForQuestionAnswering", "question-answering")
    keep = KEEP
    default_split = "validation"
    default_subsets = (4, 200)
    scores = ("f1", "exact", "best_f1")
    columns = (
        "f1",
        "exact",
        "HasAns_f1",
        "NoAns_f1",
        "best_f1",
        "best_f1_thresh",
        "best_exact",
    )
    input_fields = ("question", "context")

    def load_data(self, source: str, split: str, strict: bool = False) -> QADataset:
        return load_qa_dataset(source, split, strict)

    def pool(self, dataset: QADataset, settings: QASettings) -> list[QAExample]:
        if settings.baseline_compat:  # the baseline used answerable questions only
            return [e for e in dataset.examples if e.answers]
        return list(dataset.examples)

    def predict(
        self,
        lm: LoadedModel,
        dataset: QADataset,
        settings: QASettings,
        progress: bool = True,
        first_example: int = 0,
        reference: QADataset | None = None,
    ) -> Predictions:
        return predict_qa(
            lm,
            dataset.examples,
            settings,
            progress,
            first_example,
            reference.examples if reference is not None else (),
        )

    def subset_scores(
        self, rows: pd.DataFrame, settings: QASettings, state: Mapping[str, Any]
    ) -> dict[str, float]:
        return qa_scores(rows, settings.na_threshold)

    def model_scores(self, rows: pd.DataFrame, state: Mapping[str, Any]) -> dict[str, float]:
        # Means of per-example EM/F1: the official totals.
        out: dict[str, float] = {}
        for name in ("f1", "exact"):
            put_estimate(out, name, rows[name], scale=PERCENT)
        return out

    def encode_one(
        self, lm: LoadedModel, example: QAExample, limit: int, truncate: bool = False
    ) -> EncodedInput:
        return encode_pair(lm, example.question, example.context, limit)

    def inputs_of(self, example: QAExample) -> dict[str, str]:
        return {"question": example.question, "context": example.context}

    def group_of(self, example: QAExample) -> str:
        return example.context  # the questions of one paragraph

    def training_texts(self, examples: Sequence[QAExample]) -> list[str]:
        return [e.question for e in examples] + sorted({e.context for e in examples})

    def training_features(
        self,
        tokenizer: Any,
        examples: Sequence[QAExample],
        dataset: QADataset,
        max_length: int,
        stride: int,
        unanswerable: bool = True,
    ) -> list[dict[str, Any]]:
        features = training_windows(tokenizer, examples, max_length, stride)
        if not unanswerable:  # windows whose target is "no answer" left out
            cls_id = tokenizer.cls_token_id
            features = [
                f
                for f in features
                if f["start_positions"] != no_answer_position(f["input_ids"], cls_id)
            ]
        return features

    def dev_score(
        self,
        lm: LoadedModel,
        dev: Sequence[QAExample],
        dataset: QADataset,
        max_length: int,
        stride: int,
    ) -> dict[str, Any]:
        settings = QASettings(max_length=max_length, stride=stride)
        rows = predict_qa(lm, dev, settings, progress=False).rows
        return {"metric": "f1", "value": round(qa_scores(rows)["f1"], 3), "n": len(rows)}

    def read(
        self,
        lm: LoadedModel,
        inputs: Mapping[str, str],
        limit: int,
        n_best: int = 20,
        max_answer_length: int = 30,
        na_threshold: float = 0.0,
    ) -> Reading:
        """The answer as the study decodes it, with the best span's tokens and probability
        (softmax of its start x softmax of its end)."""
        encoded = encode_pair(lm, inputs["question"], inputs["context"], limit)
        feature = encoded.feature
        with cpu_kernels(lm.model):
            out = forward_attentions(lm, feature)
        start = out.start_logits[0].float().cpu().numpy()
        end = out.end_logits[0].float().cpu().numpy()
        offsets = feature["offsets"]
        cls = feature["cls_index"]
        null = float(start[cls] + end[cls])
        best = best_span(start, end, offsets, n_best, max_answer_length)
        span, probability, na_prob, answer = None, 0.0, float("inf"), ""
        if best is not None:
            score, a, b = best
            first = next(i for i, o in enumerate(offsets) if o is not None and o[0] == a)
            last = max(i for i, o in enumerate(offsets) if o is not None and o[1] == b)
            span = (first, last)
            p_start = torch.softmax(torch.from_numpy(start).double(), -1)[first]
            p_end = torch.softmax(torch.from_numpy(end).double(), -1)[last]
            probability = float(p_start * p_end)
            na_prob = null - score
            answer = inputs["context"][a:b].strip() if na_prob <= na_threshold else ""
        return Reading(encoded, out, answer, probability, span, na_prob)
