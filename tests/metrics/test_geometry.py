"""The field's representation metrics against analytic answers and scikit-learn.

Self-similarity and intra-sentence similarity are computed with Variance and CSE
(:func:`ctxvec.metrics.context_vector_metrics`, float32); effective rank and the pooled
metrics in :mod:`ctxvec.metrics.geometry` (float64).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import silhouette_score

from ctxvec.errors import TooFewPointsError
from ctxvec.metrics.context import context_vector_metrics
from ctxvec.metrics.geometry import (
    class_separability,
    effective_rank,
    fisher_ratio,
    isoscore,
    random_token_baseline,
)


def self_similarity(hidden, mask):
    return context_vector_metrics(hidden, mask)["self_similarity"]


def intra_sentence_similarity(hidden, mask):
    return context_vector_metrics(hidden, mask)["intra_similarity"]


@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_metrics_equal_the_unbatched_formula(oracles, padded, side: str) -> None:
    rng = np.random.default_rng(0)
    examples = [rng.normal(size=(n, 16)).astype(np.float32) + 0.5 for n in (2, 5, 11, 30)]
    hidden, mask = padded(examples, side, 3.0)
    got = (self_similarity(hidden, mask), intra_sentence_similarity(hidden, mask),
           effective_rank(hidden, mask))  # fmt: skip
    for i, e in enumerate(examples):
        for metric, want in zip(got, oracles.geometry(e), strict=True):
            assert metric[i].item() == pytest.approx(want, abs=1e-6)


def test_analytic_cases(padded) -> None:
    same = np.tile(np.arange(1.0, 9.0), (6, 1))
    onehot = np.eye(6, 8)
    hidden, mask = padded([same.astype(np.float32), onehot.astype(np.float32)], "right", 0.0)
    # Identical vectors: all cosines 1, rank one.
    assert self_similarity(hidden, mask)[0].item() == pytest.approx(1.0, abs=1e-6)
    assert intra_sentence_similarity(hidden, mask)[0].item() == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(hidden, mask)[0].item() == pytest.approx(1.0)
    # Orthonormal tokens: cosines 0, each at 1/sqrt(n) from the mean, equal singular values.
    assert self_similarity(hidden, mask)[1].item() == pytest.approx(0.0, abs=1e-6)
    assert intra_sentence_similarity(hidden, mask)[1].item() == pytest.approx(
        1 / math.sqrt(6), abs=1e-6
    )
    assert effective_rank(hidden, mask)[1].item() == pytest.approx(6.0)
    # Two opposite vectors: cosine -1.
    opposite = torch.tensor([[[1.0, 2.0], [-1.0, -2.0]]])
    assert self_similarity(opposite, torch.ones(1, 2, dtype=torch.bool)).item() == -1.0


def test_random_token_baseline_uses_pairs_of_different_examples_only() -> None:
    # Each example's tokens are one direction repeated; pairs inside an example would add 1s.
    tokens = np.repeat(np.eye(4), 25, axis=0)
    owners = np.repeat(np.arange(4), 25)
    assert random_token_baseline(tokens, owners) == 0.0
    rng = np.random.default_rng(1)
    iso = rng.normal(size=(4000, 64))
    assert abs(random_token_baseline(iso, np.arange(4000) // 10)) < 0.01
    shifted = iso + 3.0  # a common offset: every cosine is high
    assert random_token_baseline(shifted, np.arange(4000) // 10) > 0.85
    with pytest.raises(ValueError, match="at least 2 examples"):
        random_token_baseline(iso[:5], np.zeros(5))


def test_isoscore_analytic_cases() -> None:
    rng = np.random.default_rng(2)
    d = 16
    assert isoscore(rng.normal(size=(20000, d))) == pytest.approx(1.0, abs=0.01)
    rank_one = np.outer(rng.normal(size=2000), rng.normal(size=d))
    assert isoscore(rank_one) == pytest.approx(0.0, abs=1e-6)
    # Variance spread equally over exactly k of d dimensions, in a random rotation: (k-1)/(d-1).
    k = 5
    flat = np.zeros((20000, d))
    flat[:, :k] = rng.choice([-1.0, 1.0], size=(20000, k))
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    assert isoscore(flat @ rotation) == pytest.approx((k - 1) / (d - 1), abs=0.01)
    # Scale and shift do not matter.
    cloud = rng.normal(size=(3000, d)) * np.linspace(1, 4, d)
    assert isoscore(cloud) == pytest.approx(isoscore(7 * cloud + 3), abs=1e-9)
    with pytest.raises(TooFewPointsError, match="needs at least 80 points"):
        isoscore(rng.normal(size=(79, d)))


def test_class_separability() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(60, 8)) + np.r_[6.0, np.zeros(7)]
    b = rng.normal(size=(60, 8)) - np.r_[6.0, np.zeros(7)]
    x, y = np.vstack([a, b]), np.repeat([0, 1], 60)
    out = class_separability(x, y)
    assert out["probe_accuracy"] == 1.0
    assert out["silhouette"] == pytest.approx(silhouette_score(x, y, metric="cosine"))
    assert out["silhouette"] > 0.5 and out["fisher_ratio"] > 3
    # Hand-worked Fisher ratio: class means -1 and +1 on a line, within-class spread 1 each.
    line = np.array([[-2.0], [0.0], [0.0], [2.0]])
    # overall mean 0; between: 2*(1)^2 + 2*(1)^2 = 4; within: 1+1+1+1 = 4.
    assert fisher_ratio(line, [0, 0, 1, 1]) == pytest.approx(1.0)
    mixed = class_separability(rng.normal(size=(200, 8)), rng.integers(0, 2, 200))
    assert 0.3 < mixed["probe_accuracy"] < 0.7 and mixed["fisher_ratio"] < 0.1
    with pytest.raises(ValueError, match="at least 2 classes"):
        class_separability(x, np.zeros(len(x)))
