"""Variance and CSE kernels at realistic sizes against a float64 per-example oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

from ctxvec.metrics.context import context_vector_metrics


def oracle(h: np.ndarray) -> tuple[float, float]:
    """docs/study.md's formulas on one example, in float64 with scipy."""
    h = h.astype(np.float64)
    variance = float(np.var(scipy.stats.zscore(h, axis=1), axis=0).mean())
    cse = float(np.mean(scipy.spatial.distance.cdist(h, h, "cosine") ** 2))
    return variance, cse


@pytest.mark.parametrize(("hidden", "lengths"), [(384, (384, 200, 3)), (64, (300, 65, 64, 1))])
def test_realistic_sizes_match_float64_oracle(hidden: int, lengths: tuple[int, ...]) -> None:
    # Transformer-like vectors: a shared offset, a few large outlier dimensions, token noise.
    # Both Gram branches run: n <= hidden ([n, n]) in the first case, n > hidden in the second.
    rng = np.random.default_rng(0)
    offset = rng.normal(size=hidden) * 0.5
    offset[:3] = [12.0, -9.0, 6.0]
    examples = [
        (offset + rng.normal(size=(n, hidden)) * rng.uniform(0.3, 2.0)).astype(np.float32)
        for n in lengths
    ]
    width = max(lengths)
    batch = np.full((len(examples), width, hidden), 3.0, np.float32)
    mask = np.zeros((len(examples), width), bool)
    for i, e in enumerate(examples):
        batch[i, : len(e)] = e
        mask[i, : len(e)] = True
    got = context_vector_metrics(torch.from_numpy(batch), torch.from_numpy(mask))
    for i, e in enumerate(examples):
        variance, cse = oracle(e)
        assert abs(got["variance"][i].item() - variance) < 1e-6
        assert abs(got["cse"][i].item() - cse) < 1e-6
