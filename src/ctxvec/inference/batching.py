"""Batches for the forward pass: length-sorted groups of features, padded into tensors.

A text feature holds token ids (its length: their number); an image or audio feature holds the
preprocessor's arrays and its real ``length`` (audio samples or mel frames; 1 for an image,
whose arrays all have one shape), padded with zeros along the last axis by
:func:`collate_arrays`.

On a CPU the cost of a batch is its padding, so features are grouped by length with at most
:data:`MAX_PADDING` of a batch's width padded; on a GPU each new shape can cost a kernel plan, so
there batches have a fixed size and widths rounded up to :data:`GPU_WIDTH_MULTIPLE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

Feature = Mapping[str, Sequence[int]]  # text; image and audio features hold arrays
# Largest share of a batch's width a feature may be padded by (see length_sorted_batches).
MAX_PADDING = 0.05
GPU_WIDTH_MULTIPLE = 64


def feature_length(feature: Mapping) -> int:
    """How long a feature is: its tokens (text) or its real ``length`` (image, audio)."""
    return int(feature["length"]) if "length" in feature else len(feature["input_ids"])


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_padding: float = MAX_PADDING
) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on memory).

    A batch holds at most ``batch_size`` features; a new one starts where the next feature is
    shorter than the batch's first by more than ``max_padding`` of that length, so no feature
    is padded by more than that share (sorted fixed-size batches of 32 carried 13% padding
    tokens on 200 SQuAD pairs, 25% on 100; this rule, 2%).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last and len(last) < batch_size and lengths[i] >= (1 - max_padding) * lengths[last[0]]:
            last.append(i)
        else:
            batches.append([i])
    return batches


def collate(
    features: Sequence[Feature],
    input_names: Sequence[str],
    pad_values: Mapping[str, int],
    padding_side: Literal["left", "right"],
    multiple: int = 1,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pad a batch of features into tensors, ``multiple`` dividing the padded width.

    Returns:
        The model inputs (``[batch, n_tokens]`` each, ``attention_mask`` included) and the
        ``[batch, n_tokens]`` bool special-tokens mask (False on padding).
    """
    width = -(-max(len(f["input_ids"]) for f in features) // multiple) * multiple
    names = [n for n in input_names if n != "attention_mask"]
    arrays = {n: np.full((len(features), width), pad_values.get(n, 0), np.int64) for n in names}
    attention = np.zeros((len(features), width), np.int64)
    special = np.zeros((len(features), width), bool)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        cols = slice(width - n, width) if padding_side == "left" else slice(0, n)
        for name in names:
            arrays[name][row, cols] = f[name]
        attention[row, cols] = 1
        special[row, cols] = f["special_tokens_mask"]
    inputs = {n: torch.from_numpy(a) for n, a in arrays.items()}
    inputs["attention_mask"] = torch.from_numpy(attention)
    return inputs, torch.from_numpy(special)


def collate_arrays(
    features: Sequence[Mapping], input_names: Sequence[str]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stack a batch of image or audio features, zero-padding the axis their sizes differ on
    (the time axis of audio; images all have one shape) and their attention masks.

    Returns:
        The model inputs (``pixel_values`` ``[batch, channels, height, width]``,
        ``input_values`` ``[batch, n_samples]``, ``input_features`` ``[batch, mels, frames]``
        or ``[batch, frames, features]``, float32; where ``input_names`` holds one, the
        ``attention_mask`` ``[batch, time]`` each feature carries, padded with 0) and
        ``[batch]`` the real lengths.
    """
    inputs = {}
    for name in input_names:
        arrays = [np.asarray(f[name], np.int64 if name == "attention_mask" else np.float32)
                  for f in features]  # fmt: skip
        shape = np.array([a.shape for a in arrays]).max(0)
        batch = np.zeros((len(arrays), *shape), arrays[0].dtype)
        for row, a in enumerate(arrays):
            batch[(row, *(slice(0, k) for k in a.shape))] = a
        inputs[name] = torch.from_numpy(batch)
    return inputs, torch.tensor([int(f["length"]) for f in features])
