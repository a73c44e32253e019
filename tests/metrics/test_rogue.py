"""Rogue dimensions (Timkey & van Schijndel 2021) against a brute-force loop and analytic cases.

The oracle transcribes the paper's Eq. 3, ``CC(f_i) = E[u_i v_i / (||u|| ||v||)]``, as a loop over
every ordered pair of distinct rows; the shares are the largest contributions over their sum.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ctxvec.inference.summaries import PooledSample, pooled_metrics
from ctxvec.metrics.geometry import ROGUE_MIN_COSINE, cosine_contributions, rogue_shares


def brute_force_contributions(x: np.ndarray) -> np.ndarray:
    pairs = list(itertools.permutations(range(len(x)), 2))
    total = np.zeros(x.shape[1])
    for s, t in pairs:
        total += x[s] * x[t] / (np.linalg.norm(x[s]) * np.linalg.norm(x[t]))
    return total / len(pairs)


def test_contributions_equal_the_pairwise_loop_and_sum_to_the_mean_cosine() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(23, 7)) + np.array([3.0, 0, 0, -1.0, 0, 0, 0.5])
    got = cosine_contributions(x.astype(np.float32))
    np.testing.assert_allclose(got, brute_force_contributions(x), atol=1e-7)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    cosines = unit @ unit.T
    mean_off_diagonal = (cosines.sum() - np.trace(cosines)) / (len(x) * (len(x) - 1))
    assert got.sum() == pytest.approx(mean_off_diagonal, abs=1e-7)
    shares = rogue_shares(x)
    largest = np.sort(brute_force_contributions(x))[::-1]
    assert shares[1] == pytest.approx(largest[0] / largest.sum(), rel=1e-6)
    assert shares[3] == pytest.approx(largest[:3].sum() / largest.sum(), rel=1e-6)


def test_one_huge_shared_dimension_carries_the_whole_cosine() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 32))
    x[:, 5] += 1000.0
    shares = rogue_shares(x)
    assert shares[1] == pytest.approx(1.0, abs=1e-3)
    assert shares[3] == pytest.approx(1.0, abs=1e-3)


def test_no_dimension_dominates_an_isotropic_cloud() -> None:
    rng = np.random.default_rng(2)
    d = 32
    # Shifted along the diagonal: every dimension contributes alike, about 1/d each.
    shifted = rng.normal(size=(3000, d)) + 1.0
    shares = rogue_shares(shifted)
    assert shares[1] == pytest.approx(1 / d, rel=0.3)
    assert shares[3] == pytest.approx(3 / d, rel=0.3)
    # Centred: the expected cosine is ~0, so a share would divide noise by noise.
    centred = rng.normal(size=(3000, d))
    assert abs(cosine_contributions(centred).sum()) < ROGUE_MIN_COSINE
    assert all(math.isnan(v) for v in rogue_shares(centred).values())


def test_pooled_metrics_report_the_shares() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.normal(size=(40, 8)).astype(np.float32)
    tokens[:, 2] += 50.0
    keys = np.column_stack([np.repeat(np.arange(4), 10), np.zeros(40), np.tile(np.arange(10), 4)])
    sample = PooledSample(tokens, keys.astype(np.int64), np.arange(0))
    got = pooled_metrics(sample, 0.5)
    shares = rogue_shares(tokens)
    assert got["rogue_top1"] == pytest.approx(shares[1])
    assert got["rogue_top3"] == pytest.approx(shares[3])
    assert got["rogue_top1"] > 0.9
