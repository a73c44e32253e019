"""Variance and CSE against the baseline's per-example formula and analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ctxvec.metrics.context import context_vector_metrics


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("fill", [0.0, 7.5])
def test_batched_equals_per_example_formula(oracles, padded, side: str, fill: float) -> None:
    rng = np.random.default_rng(0)
    examples = [rng.normal(size=(n, 24)).astype(np.float32) * 3 + 1 for n in (1, 2, 5, 17, 40)]
    hidden, mask = padded(examples, side, fill)
    got = context_vector_metrics(hidden, mask)
    for i, e in enumerate(examples):
        assert got["variance"][i].item() == pytest.approx(oracles.variance(e), abs=1e-6)
        assert got["cse"][i].item() == pytest.approx(oracles.cse(e), abs=1e-6)
        assert got["n_tokens"][i].item() == len(e)


def test_analytic_cases(padded) -> None:
    # Identical token vectors: no spread across tokens and cosine 1 everywhere.
    same = np.tile(np.arange(1.0, 9.0), (6, 1)).astype(np.float32)
    # One-hot tokens: cosine 0 off the diagonal, so CSE = (n^2 - n) / n^2 = 1 - 1/n.
    onehot = np.eye(6, 8, dtype=np.float32)
    hidden, mask = padded([same, onehot], "right", 0.0)
    got = context_vector_metrics(hidden, mask)
    assert got["variance"][0].item() == pytest.approx(0.0, abs=1e-6)
    assert got["cse"][0].item() == pytest.approx(0.0, abs=1e-6)
    assert got["cse"][1].item() == pytest.approx(1 - 1 / 6, abs=1e-6)
    # Opposite vectors: cosine -1 off the diagonal, (1 - (-1))^2 = 4 on n^2 - n entries.
    opposite = np.stack([np.ones(8), -np.ones(8)]).astype(np.float32)
    opposite[:, 0] = [2.0, -2.0]
    got = context_vector_metrics(*padded([opposite], "right", 0.0))
    assert got["cse"][0].item() == pytest.approx(4 * 2 / 4, abs=1e-6)
    # Two tokens whose standardised rows are z and -z: variance of each dim is z_d^2, whose
    # mean over dims is the row's population variance, i.e. 1.
    assert got["variance"][0].item() == pytest.approx(1.0, abs=1e-6)


def test_bfloat16_hidden_states_are_measured_in_float32(oracles, padded) -> None:
    rng = np.random.default_rng(1)
    e = rng.normal(size=(12, 16)).astype(np.float32)
    hidden, mask = padded([e], "right", 0.0)
    got = context_vector_metrics(hidden.bfloat16(), mask)
    assert got["variance"].dtype == torch.float32
    rounded = hidden.bfloat16().float()[0].numpy()
    assert got["variance"][0].item() == pytest.approx(oracles.variance(rounded), abs=1e-6)


def test_constant_or_zero_token_vector_is_flagged_as_nan(padded) -> None:
    e = np.random.default_rng(2).normal(size=(4, 8)).astype(np.float32)
    e[2] = 0.0
    got = context_vector_metrics(*padded([e], "right", 0.0))
    assert np.isnan(got["variance"][0].item())
    assert np.isnan(got["cse"][0].item())


def test_padding_content_never_leaks(padded) -> None:
    rng = np.random.default_rng(3)
    e = rng.normal(size=(5, 8)).astype(np.float32)
    a = context_vector_metrics(*padded([e, np.zeros((30, 8), np.float32) + 1], "right", 0.0))
    b = context_vector_metrics(
        *padded([e, rng.normal(size=(30, 8)).astype(np.float32)], "right", 1e6)
    )
    assert a["variance"][0].item() == b["variance"][0].item()
    assert a["cse"][0].item() == b["cse"][0].item()
