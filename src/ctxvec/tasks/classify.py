"""Sequence classification: label matching, batched inference, predictions.

The model's label order is read from its config (``id2label``) and matched to the dataset's
labels by name (``neg``/``negative``, ``pos``/``positive``, case-insensitive). Models with generic
names (``LABEL_0``, ``LABEL_1``) or integer labels without names are matched by integer id, which
must lie within the model's labels; ``label_names`` (``--label-names neg,pos``) names the integer
labels of a local file so they are matched by name instead. Any other mismatch is an error: a
silent label swap would invert every score.

Texts longer than ``max_length`` tokens are truncated (the row says so); ``baseline_compat``
skips them instead, as the baseline did, and reports their ids. Scoring lives in
:mod:`ctxvec.metrics.scoring`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ctxvec.data import TextDataset, TextExample
from ctxvec.errors import CtxvecError, require_at_least
from ctxvec.inference.forward import PassSettings, run_forward
from ctxvec.inference.summaries import PooledSample, check_defined, example_metrics
from ctxvec.loading import LoadedModel
from ctxvec.metrics.scoring import classification_scores
from ctxvec.tasks.predictions import Predictions

SYNONYMS = {"neg": "negative", "pos": "positive"}


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
        require_at_least("--max-length", self.max_length, 2)
        if self.label_names is not None and not all(
            isinstance(n, str) and n.strip() for n in self.label_names
        ):
            raise CtxvecError(
                f"--label-names {self.label_names} must be non-empty names, e.g. neg,pos"
            )


@dataclass(frozen=True)
class LabelMap:
    """How dataset labels become model label ids."""

    to_model: Mapping[int | str, int]
    id2label: Mapping[int, str]
    positive: int | None  # model id of the positive class for binary F1, if any


def _norm(name: str) -> str:
    name = name.strip().lower()
    return SYNONYMS.get(name, name)


def match_labels(
    id2label: Mapping[int, str],
    dataset: TextDataset,
    label_names: Sequence[str] | None = None,
) -> LabelMap:
    """Match a model's ``id2label`` to a dataset's labels.

    Args:
        id2label: the model's label names by id.
        dataset: the data; its integer labels are named by ``dataset.label_names`` if known.
        label_names: names of the data's integer labels 0, 1, ... (overrides the dataset's), so
            that a local file with integer labels is matched by name, not by position.

    Raises:
        CtxvecError: the dataset has labels the model does not know.
    """
    id2label = {int(k): str(v) for k, v in id2label.items()}
    generic = all(re.fullmatch(r"LABEL_\d+", v) for v in id2label.values())
    by_name = {_norm(v): k for k, v in id2label.items()}
    names = list(label_names) if label_names else dataset.label_names
    values = sorted({e.label for e in dataset.examples}, key=str)
    to_model: dict[int | str, int] = {}
    for value in values:
        if isinstance(value, str) or (names and not generic):
            name = value if isinstance(value, str) else _name_of(value, names)
            if generic:
                raise CtxvecError(
                    f"dataset label '{name}' cannot be matched: the model's labels are unnamed "
                    f"({', '.join(id2label.values())}); use integer labels in the data"
                )
            if _norm(name) not in by_name:
                raise CtxvecError(
                    f"dataset label '{name}' is not one of the model's labels "
                    f"({', '.join(id2label.values())}); fix the data or pick a matching model"
                )
            to_model[value] = by_name[_norm(name)]
        else:
            if value not in id2label:
                raise CtxvecError(
                    f"dataset label {value} is outside the model's labels "
                    f"{sorted(id2label)}; fix the data or pick a matching model"
                )
            to_model[value] = value
    positive = by_name.get("positive")
    if positive is None and len(id2label) == 2:
        positive = 1
    return LabelMap(to_model, id2label, positive)


def _name_of(value: int, names: Sequence[str]) -> str:
    if not 0 <= value < len(names):
        raise CtxvecError(f"dataset label {value} has no name in {names}; fix the data")
    return names[value]


def predict_cls(
    lm: LoadedModel,
    examples: Sequence[TextExample],
    labels: LabelMap,
    settings: ClsSettings = ClsSettings(),
    progress: bool = True,
    first_example: int = 0,
) -> Predictions:
    """Classify every example and measure its context vectors.

    ``first_example`` is the index of ``examples[0]`` in its unit: a shard of a unit seeds its
    token sample as the whole unit would.

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
        feature = {n: enc[n][i] for n in names}
        feature["special_tokens_mask"] = enc["special_tokens_mask"][i]
        features.append(feature)
        kept.append(i)
    keys = [(first_example + i, 0) for i in kept]
    out = run_forward(
        lm, features, "cls", settings, desc=lm.resolved.spec.label, progress=progress, seeds=keys
    )
    rows = []
    probs = (
        torch.softmax(torch.from_numpy(out.logits).double(), -1).numpy()
        if features
        else np.zeros((0, 0))
    )
    for f, i in enumerate(kept):
        example = examples[i]
        metrics = example_metrics(out, [f])
        check_defined(metrics, example.id, lm.resolved.spec.label)
        gold = labels.to_model[example.label]
        pred = int(np.argmax(out.logits[f]))
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
    sample = PooledSample.of_pass(out, keys, range(len(features))) if rows else None
    return Predictions(pd.DataFrame(rows), skipped, sample, out.layers, out.kernels)


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
    return {k: 100.0 * v for k, v in scores.items()}
