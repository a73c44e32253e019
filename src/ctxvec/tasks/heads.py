"""Eager attention of single inputs: the forward pass, weights and segment codes.

This is the part of the attention views the study shares (``--attention-stats``): one input at
a time (no batch, so no padding ever enters the weights), on the eager attention path, the only
one that returns weights. Each task encodes its own inputs (:meth:`ctxvec.tasks.base.Task.
encode_one`: a QA pair question first as one whole window; a text as one sequence, cut at the
limit only when asked, as the study's metric pass cuts it). Segment codes come from the
tokenizer's special-tokens mask and, for QA, the context's offsets, never from positions (XLNet
puts its special tokens last).

:func:`head_inputs` runs examples through this path and returns their per-head statistics
(:mod:`ctxvec.metrics.heads`; a causal model's, :attr:`ctxvec.loading.LoadedModel.causal`, over
the keys each query sees) averaged over the inputs that fit. Predictions and figures are the
attention views' job (:mod:`ctxvec.attention`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ctxvec.errors import CtxvecError, InputTooLongError, first_line
from ctxvec.inference.forward import media_batch
from ctxvec.inference.kernels import cpu_kernels
from ctxvec.loading import LoadedModel
from ctxvec.metrics.heads import SPECIAL as SPECIAL_CODE
from ctxvec.metrics.heads import combine_statistics, input_statistics

# Models without a position limit (XLNet) still get one: weights grow with the square of n.
DEFAULT_MAX_LENGTH = 512


def input_limit(lm: LoadedModel, max_length: int | None) -> int:
    """Longest input in tokens: ``max_length`` within the model's limit (512 without one)."""
    limit = lm.max_positions or DEFAULT_MAX_LENGTH
    if max_length is not None:
        limit = min(limit, max_length) if lm.max_positions else max_length
    return limit


def check_full_attention(lm: LoadedModel) -> None:
    """Stop with one line for a model whose attention runs within windows (Swin-like): before
    any pass, so a study with ``--attention-stats`` loses nothing."""
    if lm.media is not None and lm.media.windowed:
        raise CtxvecError(
            f"model '{lm.resolved.spec.label}' attends within windows of its patches, so no "
            "layer has attention over the whole image to draw or summarise; study it without "
            "--attention-stats, or use a ViT-like model"
        )


def switch_to_eager(lm: LoadedModel) -> None:
    """Put the model on the eager attention path, or say in one line why it cannot go there."""
    check_full_attention(lm)
    try:
        lm.model.set_attn_implementation("eager")
    except (ValueError, ImportError) as e:
        raise no_attentions(lm, first_line(e)) from None
    if getattr(lm.model.config, "_attn_implementation", "eager") != "eager":
        raise no_attentions(lm, f"it runs '{lm.model.config._attn_implementation}' attention")


@contextmanager
def eager_attention(lm: LoadedModel) -> Iterator[None]:
    """The model on the eager path for the block, then back on the one it had (the study's
    metric pass runs on the faster fused paths, and a worker keeps its model for later units)."""
    before = getattr(lm.model.config, "_attn_implementation", None)
    switch_to_eager(lm)
    try:
        yield
    finally:
        if before is not None and before != "eager":
            lm.model.set_attn_implementation(before)


def no_attentions(lm: LoadedModel, why: str) -> CtxvecError:
    return CtxvecError(
        f"model '{lm.resolved.spec.label}' cannot return attention weights ({why}); "
        "pick a checkpoint whose architecture has an eager attention path"
    )


def too_long(lm: LoadedModel, n: int, limit: int) -> InputTooLongError:
    return InputTooLongError(
        f"the input has {n} tokens, more than the {limit} that '{lm.resolved.spec.label}' takes "
        "here; shorten the text or context (or raise --max-length where the model allows it)"
    )


@dataclass
class EncodedInput:
    """One input ready for :func:`forward_attentions`.

    Attributes:
        feature: the tokenizer's fields for the input (QA: :func:`ctxvec.tasks.qa.encode_qa`'s
            feature, with ``offsets`` and ``cls_index``; an image or audio input: its
            preprocessor's arrays and real ``length``), from a task's
            :meth:`~ctxvec.tasks.base.Task.encode_one`.
        segment: ``[n_tokens]`` int8: -1 special token, 0 question (or the text, the patches,
            the frames), 1 context; None where the model's output tells the number of tokens
            (audio frames: :func:`media_segments` of the weights).
    """

    feature: dict[str, Any]
    segment: np.ndarray | None


def forward_attentions(lm: LoadedModel, feature: dict[str, Any]) -> Any:
    """The model's output for one input, with ``attentions`` (the model must be eager).

    Call it inside :func:`ctxvec.inference.kernels.cpu_kernels`, as the attention views and
    :func:`head_inputs` do: the packed linear layers make it faster on a CPU, and the views and
    the study then compute the same weights."""
    if lm.media is not None:
        inputs, _ = media_batch(lm, [feature])
    else:
        names = [n for n in lm.input_names if n != "attention_mask"]
        inputs = {n: torch.tensor([feature[n]], device=lm.device) for n in names}
        inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    with torch.inference_mode():
        out = lm.model(**inputs, output_attentions=True, return_dict=True)
    found = self_attentions(out)
    if not found or any(a is None for a in found):
        raise no_attentions(lm, "the forward pass returned none")
    return out


def read_label(lm: LoadedModel, encoded: EncodedInput) -> tuple[Any, str, float]:
    """One input through the eager path and a classification head: the output (with its
    attentions), the predicted label's name (the model's ``id2label``) and its softmax
    probability."""
    with cpu_kernels(lm.model):
        out = forward_attentions(lm, encoded.feature)
    probs = torch.softmax(out.logits[0].double().cpu(), -1)
    label = int(torch.argmax(probs))
    return out, str(lm.model.config.id2label.get(label, label)), float(probs[label])


def media_segments(lm: LoadedModel, n_tokens: int) -> np.ndarray:
    """``[n_tokens]`` int8 segment codes of an image or audio input: -1 for its leading
    [CLS]-like tokens, 0 for its patches or frames."""
    segment = np.zeros(n_tokens, np.int8)
    segment[: lm.media.n_special] = SPECIAL_CODE
    return segment


def self_attentions(out: Any) -> tuple[torch.Tensor, ...] | None:
    """The per-layer self-attentions of an output: an encoder-decoder's encoder's (the stack a
    study measures by default; its decoder's and cross-attentions are left out), else the
    model's own."""
    return getattr(out, "encoder_attentions", None) or getattr(out, "attentions", None)


def attention_weights(out: Any) -> np.ndarray:
    """``[layers, heads, n, n]`` float32 from the per-layer ``[1, heads, n, n]`` tensors."""
    return torch.cat([a.float() for a in self_attentions(out)]).cpu().numpy()


@dataclass
class HeadInputs:
    """Per-input statistics (:func:`ctxvec.metrics.heads.input_statistics`) of the examples
    that fit, their ids, and the ids of those left out as too long."""

    per_input: list[dict[str, np.ndarray]]
    used: list[str]
    skipped: list[str]

    def table(self) -> pd.DataFrame:
        """One row per head, averaged over the inputs (:func:`combine_statistics`)."""
        return combine_statistics(self.per_input)


def head_inputs(
    lm: LoadedModel,
    encode: Callable[[LoadedModel, Any, int, bool], EncodedInput],
    examples: Sequence[Any],
    max_length: int | None = None,
    truncate: bool = False,
    kernels: bool = True,
) -> HeadInputs:
    """Every example through the eager path, one at a time, in order.

    ``encode`` is the task's :meth:`~ctxvec.tasks.base.Task.encode_one`. The model must
    already be eager (:func:`switch_to_eager` or :func:`eager_attention`).
    Inputs longer than the limit (:func:`input_limit`) are skipped and listed; texts are cut
    there instead when ``truncate``. ``kernels=False`` (a study's ``--kernels off``) keeps
    PyTorch's own linear layers.
    """
    limit = input_limit(lm, max_length)
    found = HeadInputs([], [], [])
    with cpu_kernels(lm.model, enabled=kernels):
        for example in examples:
            try:
                encoded = encode(lm, example, limit, truncate)
            except InputTooLongError:
                found.skipped.append(example.id)
                continue
            weights = attention_weights(forward_attentions(lm, encoded.feature))
            segment = encoded.segment
            if segment is None:
                segment = media_segments(lm, weights.shape[-1])
            found.per_input.append(input_statistics(weights, segment, lm.causal))
            found.used.append(example.id)
    return found
