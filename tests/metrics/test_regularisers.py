"""The differentiable statistics of interventions, against the formulas written out with numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ctxvec.metrics import geometry, regularisers
from ctxvec.metrics.context import context_vector_metrics

LENGTHS = (7, 4, 6)  # real tokens of each example; the rest of each row is padding


def _batch(hidden: int = 5, layers: int = 3, seed: int = 0):
    """``layers`` hidden states ``[3, 7, hidden]`` (float64) and the ``[3, 7]`` mask."""
    g = torch.Generator().manual_seed(seed)
    n = max(LENGTHS)
    states = tuple(
        torch.randn(len(LENGTHS), n, hidden, generator=g, dtype=torch.float64)
        + torch.randn(hidden, generator=g, dtype=torch.float64)  # off-centre, as real states
        for _ in range(layers)
    )
    mask = torch.arange(n)[None, :] < torch.tensor(LENGTHS)[:, None]
    return states, mask


def _variance(h: np.ndarray) -> float:
    """The baseline's Variance of one example's ``[n, d]`` tokens."""
    z = (h - h.mean(1, keepdims=True)) / h.std(1, keepdims=True)
    return float(z.var(0).mean())


def _cse(h: np.ndarray) -> float:
    """CSE of one example: mean squared (1 - cosine) over all token pairs, diagonal included."""
    u = h / np.linalg.norm(h, axis=1, keepdims=True)
    return float(((1 - u @ u.T) ** 2).mean())


def _isoscore_star(points: np.ndarray, zeta: float, c0: np.ndarray) -> float:
    """IsoScore* as Rudman & Eickhoff (2024) write it (their isoscore_star): shrink, singular
    values, normalise to sqrt(n), isotropy defect, rescale."""
    n = points.shape[1]
    cov = (1 - zeta) * np.cov(points.T) + zeta * c0
    pcs = np.linalg.svd(cov, compute_uv=False)
    pcs_norm = pcs * math.sqrt(n) / np.linalg.norm(pcs)
    defect = np.linalg.norm(pcs_norm - 1) / math.sqrt(2 * (n - math.sqrt(n)))
    return ((n - defect**2 * (n - math.sqrt(n))) ** 2 - n) / (n * (n - 1))


def _unpadded(states, mask, layer: int) -> list[np.ndarray]:
    return [states[layer][b, : int(mask[b].sum())].numpy() for b in range(len(LENGTHS))]


@pytest.mark.parametrize(("statistic", "formula"), [("variance", _variance), ("cse", _cse)])
def test_per_example_statistics_are_the_formula_over_real_tokens(statistic, formula):
    states, mask = _batch()
    layers = [1, 2]
    value = regularisers.regulariser_value(statistic, states, mask, layers)
    expected = np.mean([np.mean([formula(h) for h in _unpadded(states, mask, i)]) for i in layers])
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(expected, abs=1e-12)
    # The study's own float32 values of the same tokens.
    study = np.mean(
        [context_vector_metrics(states[i].float(), mask)[statistic].mean().item() for i in layers]
    )
    assert value.item() == pytest.approx(study, abs=1e-6)


def test_isoscore_star_is_the_papers_algorithm_on_the_pooled_real_tokens():
    states, mask = _batch(hidden=4)
    layers = [0, 2]
    pooled = np.concatenate([h for i in layers for h in _unpadded(states, mask, i)])
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    c0 = a @ a.T + np.eye(4)
    for zeta in (0.0, 0.3, 1.0):
        value = regularisers.regulariser_value(
            "isoscore", states, mask, layers, zeta, torch.from_numpy(c0)
        )
        assert value.item() == pytest.approx(_isoscore_star(pooled, zeta, c0), abs=1e-6)
    # Without shrinkage it is IsoScore, as the study computes it.
    zero = regularisers.isoscore_star(torch.from_numpy(pooled))
    assert zero.item() == pytest.approx(geometry.isoscore(pooled, min_points_per_dim=1), abs=1e-9)


def test_isoscore_star_of_an_isotropic_and_a_one_dimensional_cloud():
    rng = np.random.default_rng(0)
    isotropic = torch.from_numpy(rng.normal(size=(20_000, 6)))
    assert regularisers.isoscore_star(isotropic).item() == pytest.approx(1.0, abs=0.01)
    line = torch.from_numpy(rng.normal(size=(500, 1)) * np.arange(1, 7))
    assert regularisers.isoscore_star(line).item() == pytest.approx(0.0, abs=1e-9)
    # Full shrinkage towards an isotropic C0 is isotropic whatever the points.
    assert regularisers.isoscore_star(line, 1.0, torch.eye(6)).item() == pytest.approx(1.0)


@pytest.mark.parametrize("statistic", regularisers.STATISTICS)
def test_gradients_match_finite_differences(statistic):
    states, mask = _batch(hidden=4, layers=2)
    states = tuple(s.requires_grad_() for s in states)
    c0 = torch.eye(4, dtype=torch.float64) + 0.3

    def value(*hidden):
        return regularisers.regulariser_value(statistic, hidden, mask, [0, 1], 0.2, c0)

    assert torch.autograd.gradcheck(value, states)
    # Padding gets no gradient: it is not part of the statistic.
    grads = torch.autograd.grad(value(*states), states)
    assert all(g[~mask].abs().max() == 0 for g in grads)


def test_unknown_statistic_and_missing_shrinkage_matrix_are_refused():
    states, mask = _batch()
    with pytest.raises(ValueError, match="unknown statistic"):
        regularisers.regulariser_value("rank", states, mask, [1])
    with pytest.raises(ValueError, match="c0"):
        regularisers.regulariser_value("isoscore", states, mask, [1], zeta=0.5)
