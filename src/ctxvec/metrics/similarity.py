"""How alike two models' representations of the same examples are: linear CKA and mutual k-NN.

Both take two matrices whose rows are the same examples (``[n, p]`` and ``[n, q]``; the widths
may differ, e.g. two models' pooled context vectors):

- **linear CKA** (Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural Network
  Representations Revisited", ICML): the HSIC of the two linear kernels, normalised. With
  column-centred ``X`` and ``Y``, ``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``; 1 for
  representations equal up to a rotation and a scale. ``unbiased=True`` uses the unbiased HSIC
  estimator of Song et al. (2012, "Feature Selection via Dependence Maximization", JMLR), as
  Nguyen, Raghu & Kornblith (2021) do, which removes the bias of small ``n``.
- **mutual k-NN alignment** (Huh, Cheung, Wang & Isola 2024, "The Platonic Representation
  Hypothesis", ICML; their ``mutual_knn``): for each example, the share of its ``k`` nearest
  neighbours (cosine similarity, itself excluded) that the two representations have in common,
  averaged over examples.

Computed in float64 with numpy. Left out: kernel (RBF) CKA and the other alignment measures of
Huh et al. (CKNNA, SVCCA); wiring these into a study's report is the study's job.
"""

from __future__ import annotations

import numpy as np

from ctxvec.errors import CtxvecError


def _pair(x: np.ndarray, y: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise CtxvecError(
            f"representations of shapes {x.shape} and {y.shape} do not hold the same examples "
            "as rows; give [n, p] and [n, q] matrices"
        )
    if len(x) < least:
        raise CtxvecError(f"{len(x)} examples are too few for this similarity; give {least}+")
    return x, y


def _hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741 (the paper's L)
    """Song et al.'s unbiased HSIC of two ``[n, n]`` kernel matrices (diagonals ignored)."""
    n = len(k)
    k, l = k.copy(), l.copy()  # noqa: E741
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k, ones_l = k.sum(0), l.sum(0)  # 1^T K and 1^T L
    value = (
        np.sum(k * l)  # tr(K L) for symmetric matrices
        + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * ones_k @ ones_l
    )
    return float(value / (n * (n - 3)))


def linear_cka(x: np.ndarray, y: np.ndarray, unbiased: bool = False) -> float:
    """Linear CKA between ``x`` ``[n, p]`` and ``y`` ``[n, q]`` (rows: the same examples).

    Raises:
        CtxvecError: the rows do not match, or too few examples (2; 4 unbiased).
    """
    x, y = _pair(x, y, 4 if unbiased else 2)
    if unbiased:
        k, l = x @ x.T, y @ y.T  # noqa: E741
        return _hsic_unbiased(k, l) / np.sqrt(_hsic_unbiased(k, k) * _hsic_unbiased(l, l))
    x = x - x.mean(0)
    y = y - y.mean(0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` indices of each row's ``k`` nearest rows by cosine similarity, itself out."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def mutual_knn(x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Mutual k-NN alignment of ``x`` ``[n, p]`` and ``y`` ``[n, q]``: the mean over examples of
    the share of ``k`` nearest neighbours both representations give it (1: the same
    neighbourhoods; about ``k / (n - 1)`` for unrelated ones).

    Raises:
        CtxvecError: the rows do not match, or ``k`` is not below the number of examples.
    """
    x, y = _pair(x, y, 2)
    if not 1 <= k < len(x):
        raise CtxvecError(f"k = {k} neighbours need between 2 and {len(x)} examples; lower k")
    nx, ny = _neighbours(x, k), _neighbours(y, k)
    shared = [len(np.intersect1d(a, b)) for a, b in zip(nx, ny, strict=True)]
    return float(np.mean(shared) / k)
