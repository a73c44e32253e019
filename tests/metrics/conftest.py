"""Fixtures of the metrics' tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch


def _padded(
    examples: list[np.ndarray], side: str, fill: float
) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(e) for e in examples)
    hidden = np.full((len(examples), width, examples[0].shape[1]), fill, np.float32)
    mask = np.zeros((len(examples), width), bool)
    for i, e in enumerate(examples):
        cols = slice(width - len(e), width) if side == "left" else slice(0, len(e))
        hidden[i, cols] = e
        mask[i, cols] = True
    return torch.from_numpy(hidden), torch.from_numpy(mask)


@pytest.fixture(scope="session")
def padded() -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``padded(examples, side, fill)``: ``[n, d]`` examples as one batch padded on ``side``
    ("left" or "right") with the value ``fill``, and its mask of real tokens."""
    return _padded
