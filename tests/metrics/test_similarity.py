"""Linear CKA and mutual k-NN (:mod:`ctxvec.metrics.similarity`) against their definitions:
the HSIC formula with the centring matrix, Song et al.'s unbiased estimator written with
matrices, a brute-force neighbour count, and the analytic case of a rotated, scaled copy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from ctxvec.errors import CtxvecError
from ctxvec.metrics.similarity import linear_cka, mutual_knn


def data(n: int = 30, p: int = 8, q: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = x[:, :q] @ rng.normal(size=(q, q)) + 0.5 * rng.normal(size=(n, q))  # related, not equal
    return x, y


def hsic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Gretton et al.'s HSIC: tr(K H L H) / (n - 1)^2, H the centring matrix."""
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h) / (n - 1) ** 2)


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Song et al. (2012), eq. 5, with explicit matrices and the ones vector."""
    n = len(k)
    kt, lt = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return float(
        (
            np.trace(kt @ lt)
            + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ kt @ lt @ one)
        )
        / (n * (n - 3))
    )


@pytest.mark.parametrize("unbiased", [False, True])
def test_a_rotated_scaled_copy_has_cka_one(unbiased: bool) -> None:
    x, _ = data()
    q = special_ortho_group.rvs(x.shape[1], random_state=1)
    assert linear_cka(x, 3.7 * x @ q, unbiased) == pytest.approx(1.0, abs=1e-10)
    assert mutual_knn(x, 3.7 * x @ q, k=5) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_cka_equals_the_hsic_formulas(seed: int) -> None:
    x, y = data(seed=seed)
    k, l = x @ x.T, y @ y.T  # noqa: E741
    want = hsic(k, l) / math.sqrt(hsic(k, k) * hsic(l, l))
    assert linear_cka(x, y) == pytest.approx(want, abs=1e-10)
    want = hsic_unbiased(k, l) / math.sqrt(hsic_unbiased(k, k) * hsic_unbiased(l, l))
    assert linear_cka(x, y, unbiased=True) == pytest.approx(want, abs=1e-10)
    assert 0.0 < linear_cka(x, y) < 1.0


@pytest.mark.parametrize(("seed", "k"), [(0, 1), (1, 3), (2, 5), (3, 10)])
def test_mutual_knn_equals_a_brute_force_count(seed: int, k: int) -> None:
    x, y = data(n=25, seed=seed)

    def neighbours(z: np.ndarray, i: int) -> set[int]:
        cos = {
            j: float(z[i] @ z[j] / (np.linalg.norm(z[i]) * np.linalg.norm(z[j])))
            for j in range(len(z))
            if j != i
        }
        return set(sorted(cos, key=lambda j: -cos[j])[:k])

    shared = [len(neighbours(x, i) & neighbours(y, i)) / k for i in range(len(x))]
    assert mutual_knn(x, y, k) == pytest.approx(sum(shared) / len(x), abs=1e-12)


def test_unrelated_representations_align_about_as_chance_says() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    assert mutual_knn(x, y, k=10) < 0.15  # chance: 10 / 199
    assert linear_cka(x, y, unbiased=True) == pytest.approx(0.0, abs=0.05)


def test_bad_shapes_and_k_are_one_line() -> None:
    x, y = data()
    for call in (
        lambda: linear_cka(x, y[:-1]),
        lambda: linear_cka(x[:3], y[:3], unbiased=True),
        lambda: mutual_knn(x, y, k=len(x)),
        lambda: mutual_knn(x[:, 0], y),
    ):
        with pytest.raises(CtxvecError) as e:
            call()
        assert "\n" not in str(e.value)
