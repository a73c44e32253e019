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

import dataclasses
import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Prepared:
    """What the measures need of one representation ``[n, p]``, computed once for all the pairs
    it takes part in: the centred linear kernel ``H X X^T H`` with its Frobenius norm (biased
    HSIC), the kernel with a zero diagonal with its column sums and its own unbiased HSIC, and
    each row's ``k`` nearest rows (``k = 0``: none)."""

    centred: np.ndarray  # [n, n]
    centred_norm: float
    off_diagonal: np.ndarray  # [n, n]
    column_sums: np.ndarray  # [n]
    self_unbiased: float
    neighbours: np.ndarray  # [n, k]


def prepare(x: np.ndarray, k: int = 0) -> Prepared:
    """:class:`Prepared` of ``x`` ``[n, p]`` (float64), with ``k`` neighbours per row."""
    x = np.asarray(x, np.float64)
    n = len(x)
    kernel = x @ x.T  # [n, n]
    centred = kernel - kernel.mean(0) - kernel.mean(1)[:, None] + kernel.mean()  # H K H
    off = kernel.copy()
    np.fill_diagonal(off, 0.0)
    sums = off.sum(0)
    prepared = Prepared(
        centred, float(np.linalg.norm(centred)), off, sums, math.nan, _neighbours(x, k)
    )
    if n >= 4:
        prepared = dataclasses.replace(prepared, self_unbiased=_hsic_unbiased(prepared, prepared))
    return prepared


def _hsic_unbiased(a: Prepared, b: Prepared) -> float:
    """Song et al.'s unbiased HSIC of two kernels (diagonals ignored)."""
    n = len(a.off_diagonal)
    value = (
        np.sum(a.off_diagonal * b.off_diagonal)  # tr(K L) for symmetric matrices
        + a.column_sums.sum() * b.column_sums.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * a.column_sums @ b.column_sums
    )
    return float(value / (n * (n - 3)))


def cka_of(a: Prepared, b: Prepared, unbiased: bool = False) -> float:
    """Linear CKA of two prepared representations of the same examples. Biased: ``<HKH, HLH>
    / (||HKH|| ||HLH||)``, which equals the feature-space form of the module doc (``||Y^T
    X||_F^2 = tr(K_c L_c)``)."""
    if unbiased:
        return _hsic_unbiased(a, b) / math.sqrt(a.self_unbiased * b.self_unbiased)
    return float(np.sum(a.centred * b.centred) / (a.centred_norm * b.centred_norm))


def knn_of(a: Prepared, b: Prepared) -> float:
    """Mutual k-NN alignment of two prepared representations (the same ``k``): the mean over
    rows of the share of neighbours they have in common (each row's neighbours are distinct,
    so equal pairs count the shared ones)."""
    k = a.neighbours.shape[1]
    shared = (a.neighbours[:, :, None] == b.neighbours[:, None, :]).sum((1, 2))  # [n]
    return float(shared.mean() / k)


def linear_cka(x: np.ndarray, y: np.ndarray, unbiased: bool = False) -> float:
    """Linear CKA between ``x`` ``[n, p]`` and ``y`` ``[n, q]`` (rows: the same examples).

    Raises:
        CtxvecError: the rows do not match, or too few examples (2; 4 unbiased).
    """
    x, y = _pair(x, y, 4 if unbiased else 2)
    return cka_of(prepare(x), prepare(y), unbiased)


def _neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` indices of each row's ``k`` nearest rows by cosine similarity, itself out."""
    if k == 0:
        return np.zeros((len(x), 0), np.intp)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def check_k(k: int, n: int) -> None:
    """Refuse ``k`` neighbours that ``n`` examples cannot give (one line)."""
    if not 1 <= k < n:
        raise CtxvecError(f"k = {k} neighbours need between 2 and {n} examples; lower k")


def mutual_knn(x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Mutual k-NN alignment of ``x`` ``[n, p]`` and ``y`` ``[n, q]``: the mean over examples of
    the share of ``k`` nearest neighbours both representations give it (1: the same
    neighbourhoods; about ``k / (n - 1)`` for unrelated ones).

    Raises:
        CtxvecError: the rows do not match, or ``k`` is not below the number of examples.
    """
    x, y = _pair(x, y, 2)
    check_k(k, len(x))
    return knn_of(prepare(x, k), prepare(y, k))
