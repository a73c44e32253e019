"""Sequence classification: batched inference, predictions, scores, behind the task contract.

Each model's labels are matched to the dataset's by :mod:`ctxvec.tasks.labels` (by name, never
silently by position). Texts longer than ``max_length`` tokens are truncated (the row says so);
``baseline_compat`` skips them instead, as the baseline did, and reports their ids. Scoring
lives in :mod:`ctxvec.metrics.scoring`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ctxvec.data import TextDataset, TextExample, load_text_dataset
from ctxvec.errors import require_at_least
from ctxvec.inference.forward import Keep, PassSettings, run_forward
from ctxvec.inference.summaries import PooledSample, check_defined, example_metrics
from ctxvec.loading import Head, LoadedModel
from ctxvec.metrics.heads import QUESTION, SPECIAL
from ctxvec.metrics.scoring import PERCENT, classification_scores, f1_scores
from ctxvec.metrics.stats import put_estimate
from ctxvec.tasks.base import Predictions, Reading, Task
from ctxvec.tasks.heads import EncodedInput, read_label, too_long
from ctxvec.tasks.labels import (
    LabelMap,
    check_label_names,
    head_labels,
    label_names,
    match_labels,
)

# What the forward pass keeps of a classification head's output: the class logits, and the
# sentence vectors the separability metrics pool.
KEEP = Keep(per_feature=("logits",), sentence=True)


@dataclass(frozen=True)
class ClsSettings(PassSettings):
    """The classification study's settings beside the forward pass's
    (:class:`~ctxvec.inference.forward.PassSettings`)."""

    max_length: int = 512
    # Names of the data's integer labels 0, 1, ... (e.g. ("neg", "pos")) for matching by name.
    label_names: tuple[str, ...] | None = None
    baseline_compat: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("max_length", self.max_length, 2)
        check_label_names(self.label_names, "neg,pos")


def predict_cls(
    lm: LoadedModel,
    examples: Sequence[TextExample],
    labels: LabelMap,
    settings: ClsSettings = ClsSettings(),
    progress: bool = True,
    first_example: int = 0,
    reference: Sequence[TextExample] = (),
) -> Predictions:
    """Classify every example and measure its context vectors.

    ``first_example`` is the index of ``examples[0]`` in its unit: a shard of a unit seeds its
    token sample as the whole unit would. With ``settings.standardise``, ``reference`` holds the
    texts (cut at ``max_length``) whose tokens give the per-dimension statistics of the cosine
    metrics.

    Returns:
        One row per example that was run, with columns ``id``, ``label`` (gold, model label id),
        ``prediction`` (model label id), ``label_name``, ``prediction_name``, ``probability`` (of
        the predicted label), ``correct``, ``n_tokens``, ``truncated`` and the metrics of
        :func:`~ctxvec.inference.summaries.example_metrics`; the ids skipped in baseline-compat
        mode; the pooled sample of the subset-level metrics.
    """
    max_length = settings.max_length
    if lm.max_positions is not None:
        max_length = min(max_length, lm.max_positions)
    names = [n for n in lm.input_names if n != "attention_mask"]
    enc = lm.tokenizer(
        [e.text for e in examples],
        truncation=not settings.baseline_compat,
        max_length=max_length if not settings.baseline_compat else None,
        return_special_tokens_mask=True,
        return_overflowing_tokens=False,
        return_length=False,
    )
    # A second, untruncated length pass only where truncation may have happened.
    full_lengths = _full_lengths(lm, examples, enc, max_length)
    features, kept, skipped = [], [], []
    for i, example in enumerate(examples):
        if settings.baseline_compat and full_lengths[i] > max_length:
            skipped.append(example.id)
            continue
        features.append(_feature(enc, names, i))
        kept.append(i)
    keys = [(first_example + i, 0) for i in kept]
    out = run_forward(
        lm,
        features,
        KEEP,
        settings,
        desc=lm.resolved.spec.label,
        progress=progress,
        seeds=keys,
        reference=_reference_features(lm, reference, names, max_length),
    )
    rows = []
    logits = out.outputs.get("logits")
    probs = (
        torch.softmax(torch.from_numpy(logits).double(), -1).numpy()
        if features
        else np.zeros((0, 0))
    )
    for f, i in enumerate(kept):
        example = examples[i]
        metrics = example_metrics(out, [f])
        check_defined(metrics, example.id, lm.resolved.spec.label)
        gold = labels.to_model[example.label]
        pred = int(np.argmax(logits[f]))
        rows.append(
            {
                "id": example.id,
                "label": gold,
                "prediction": pred,
                "label_name": labels.id2label[gold],
                "prediction_name": labels.id2label[pred],
                "probability": float(probs[f, pred]),
                "correct": pred == gold,
                "n_tokens": int(out.n_tokens[f]),
                "truncated": bool(full_lengths[i] > max_length),
                **metrics,
            }
        )
    sample = PooledSample.of_pass(out, keys) if rows else None
    return Predictions(
        pd.DataFrame(rows),
        skipped,
        sample,
        out.layers,
        out.kernels,
        {"positive": labels.positive},
    )


def _reference_features(
    lm: LoadedModel, examples: Sequence[TextExample], names: Sequence[str], max_length: int
) -> list[dict[str, Any]]:
    """The reference texts as features, each cut at ``max_length`` tokens."""
    if not examples:
        return []
    enc = lm.tokenizer(
        [e.text for e in examples],
        truncation=True,
        max_length=max_length,
        return_special_tokens_mask=True,
    )
    return [_feature(enc, names, i) for i in range(len(examples))]


def _feature(enc: Mapping, names: Sequence[str], i: int) -> dict[str, Any]:
    """Text ``i`` of a tokenizer's batch encoding as a pass feature: the model's inputs and the
    special-tokens mask."""
    return {**{n: enc[n][i] for n in names}, "special_tokens_mask": enc["special_tokens_mask"][i]}


def _full_lengths(
    lm: LoadedModel, examples: Sequence[TextExample], enc: Mapping, max_length: int
) -> list[int]:
    lengths = [len(ids) for ids in enc["input_ids"]]
    long = [i for i, n in enumerate(lengths) if n >= max_length]
    if long:
        full = lm.tokenizer([examples[i].text for i in long], truncation=False)["input_ids"]
        for i, ids in zip(long, full, strict=True):
            lengths[i] = len(ids)
    return lengths


def cls_scores(rows: pd.DataFrame, positive: int | None) -> dict[str, float]:
    """Accuracy, F1 (of the ``positive`` model label id) and macro F1 of :func:`predict_cls`'s
    rows, x100: on the scale of the SQuAD scores."""
    scores = classification_scores(rows["label"].tolist(), rows["prediction"].tolist(), positive)
    return {k: PERCENT * v for k, v in scores.items()}


def encode_text(lm: LoadedModel, text: str, limit: int, truncate: bool = False) -> EncodedInput:
    """One text as one sequence; longer than ``limit`` is an error unless ``truncate``."""
    enc = lm.tokenizer(
        text, truncation=truncate, max_length=limit if truncate else None,
        return_special_tokens_mask=True,
    )  # fmt: skip
    if len(enc["input_ids"]) > limit:
        raise too_long(lm, len(enc["input_ids"]), limit)
    special = np.asarray(enc["special_tokens_mask"], bool)
    return EncodedInput(dict(enc), np.where(special, SPECIAL, QUESTION).astype(np.int8))


class ClassificationTask(Task):
    """Sequence classification (this module's functions behind the contract)."""

    name = "cls"
    title = "Sequence classification"
    description = "sequence classification"
    settings_type = ClsSettings
    head = Head("AutoModelForSequenceClassification", "sequence-classification")
    keep = KEEP
    default_split = "test"
    default_subsets = (4, 500)
    scores = ("f1", "accuracy", "macro_f1")
    columns = ("n_truncated", "f1", "accuracy", "macro_f1")
    input_fields = ("text",)
    labelled = True

    def load_data(self, source: str, split: str, strict: bool = False) -> TextDataset:
        return load_text_dataset(source, split)

    def part(self, dataset: TextDataset, examples: Sequence[TextExample]) -> TextDataset:
        return TextDataset(list(examples), dataset.source, dataset.label_names, dataset.fingerprint)

    def predict(
        self,
        lm: LoadedModel,
        dataset: TextDataset,
        settings: ClsSettings,
        progress: bool = True,
        first_example: int = 0,
        reference: TextDataset | None = None,
    ) -> Predictions:
        labels = match_labels(lm.model.config.id2label, dataset, settings.label_names)
        return predict_cls(
            lm,
            dataset.examples,
            labels,
            settings,
            progress,
            first_example,
            reference.examples if reference is not None else (),
        )

    def subset_scores(
        self, rows: pd.DataFrame, settings: ClsSettings, state: Mapping[str, Any]
    ) -> dict[str, float]:
        return {"n_truncated": int(rows["truncated"].sum()), **cls_scores(rows, state["positive"])}

    def model_scores(self, rows: pd.DataFrame, state: Mapping[str, Any]) -> dict[str, float]:
        # F1 of the positive class (macro F1 without one), resampled as (label, prediction)
        # pairs.
        out: dict[str, float] = {}
        f1 = functools.partial(f1_scores, positive=state.get("positive"))
        put_estimate(out, "f1", rows["label"], rows["prediction"], statistic=f1, scale=PERCENT)
        put_estimate(out, "accuracy", rows["correct"].astype(float), scale=PERCENT)
        return out

    def class_labels(self, rows: pd.DataFrame) -> list:
        return rows["label"].tolist()

    def encode_one(
        self, lm: LoadedModel, example: TextExample, limit: int, truncate: bool = False
    ) -> EncodedInput:
        return encode_text(lm, example.text, limit, truncate)

    def inputs_of(self, example: TextExample) -> dict[str, str]:
        return {"text": example.text}

    def head_config(self, dataset: TextDataset) -> dict[str, Any]:
        return head_labels(dataset)

    def training_texts(self, examples: Sequence[TextExample]) -> list[str]:
        return [e.text for e in examples]

    def training_features(
        self,
        tokenizer: Any,
        examples: Sequence[TextExample],
        dataset: TextDataset,
        max_length: int,
        stride: int,
        unanswerable: bool = True,
    ) -> list[dict[str, Any]]:
        to_id = {v: i for i, v in enumerate(sorted(label_names(dataset), key=str))}
        texts = [e.text for e in examples]
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        names = [n for n in tokenizer.model_input_names if n in enc]
        return [
            {**{n: enc[n][i] for n in names}, "labels": to_id[e.label]}
            for i, e in enumerate(examples)
        ]

    def dev_score(
        self,
        lm: LoadedModel,
        dev: Sequence[TextExample],
        dataset: TextDataset,
        max_length: int,
        stride: int,
    ) -> dict[str, Any]:
        labels = match_labels(lm.model.config.id2label, dataset)
        settings = ClsSettings(max_length=max_length)
        rows = predict_cls(lm, dev, labels, settings, progress=False).rows
        accuracy = cls_scores(rows, None)["accuracy"]
        return {"metric": "accuracy", "value": round(accuracy, 3), "n": len(rows)}

    def read(self, lm: LoadedModel, inputs: Mapping[str, str], limit: int) -> Reading:
        """The predicted label (by the model's ``id2label``) and its softmax probability."""
        encoded = encode_text(lm, inputs["text"], limit)
        return Reading(encoded, *read_label(lm, encoded))
