"""The field's representation metrics, beside the baseline's Variance and CSE.

Per example (batched and masked, like :mod:`ctxvec.metrics.context`, which holds the cosine-based
per-example metrics; padding never enters), for the ``[n, d]`` matrix ``H`` of one example:

- :func:`effective_rank`: ``exp(entropy(sigma / sum(sigma)))`` of the singular values of ``H``
  (Roy & Vetterli 2007, "The effective rank: a measure of effective dimensionality", EUSIPCO).

Over tokens pooled from many examples:

- :func:`random_token_baseline`: Ethayarajh's anisotropy baseline, the mean cosine between
  random tokens of *different* examples, which a self-similarity should be read against;
- :func:`cosine_contributions` and :func:`rogue_shares`: rogue dimensions (Timkey & van
  Schijndel 2021, "All Bark and No Bite: Rogue Dimensions in Transformer Language Models Obscure
  Representational Quality", EMNLP), each dimension's contribution to the expected cosine
  between tokens and the share of it carried by the largest one and three;
- :func:`isoscore`: IsoScore (Rudman, Gillman, Rayne & Eickhoff 2022, "IsoScore: Measuring the
  Uniformity of Embedding Space Utilization", Findings of ACL), 1 for isotropic and 0 for
  one-dimensional point clouds; it needs many more points than dimensions and refuses fewer;
- :func:`class_separability`: for pooled sentence vectors with class labels, the Fisher ratio
  (between- over within-class scatter, traces), the cosine silhouette (scikit-learn) and a
  cross-validated logistic-regression probe accuracy (scikit-learn).

Everything is computed in float64. Choosing layers, pooling sentence vectors and writing tables
belong to the study, not here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ctxvec.errors import TooFewPointsError

# IsoScore estimates a d x d covariance: ask for this many points per dimension at least.
ISOSCORE_POINTS_PER_DIM = 5
# Below this expected cosine the tokens are nearly isotropic and a rogue share is the ratio of
# two numbers near zero (unbounded, its sign arbitrary): it is reported as undefined (NaN).
# Ethayarajh (2019) reports expected cosines from ~0.1 to ~0.99 for BERT, ELMo and GPT-2.
ROGUE_MIN_COSINE = 0.05


def effective_rank(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Roy & Vetterli's effective rank of each example's ``[n, d]`` token matrix.

    Padding rows are zeroed, which adds only zero singular values, so the padded batch gives the
    unpadded answer. Ranges from 1 (rank one) to ``min(n, d)`` (equal singular values). The
    singular values come from the eigenvalues of the smaller Gram matrix (``H H^T`` or
    ``H^T H``), in float64, which is several times faster than an SVD of ``H``.

    Returns:
        ``[batch]`` float64 (NaN for an all-zero matrix).
    """
    h = torch.where(mask.unsqueeze(-1), hidden.double(), torch.zeros((), dtype=torch.float64))
    gram = h @ h.mT if h.shape[-2] <= h.shape[-1] else h.mT @ h
    eig = torch.linalg.eigvalsh(gram)
    # Rounding leaves ~1e-13 noise where eigenvalues are zero (padding); its square root is not
    # negligible, so eigenvalues at rounding level are zeroed as numpy.linalg.matrix_rank does.
    tol = eig.amax(-1, keepdim=True) * eig.shape[-1] * torch.finfo(eig.dtype).eps
    sigma = torch.where(eig > tol, eig, 0.0).sqrt()
    p = sigma / sigma.sum(-1, keepdim=True)
    entropy = -torch.where(p > 0, p * p.log(), torch.zeros((), dtype=p.dtype)).sum(-1)
    return entropy.exp()


def random_token_baseline(
    tokens: np.ndarray, owners: np.ndarray, n_pairs: int = 10_000, seed: int = 0
) -> float:
    """Ethayarajh's anisotropy baseline: mean cosine of random token pairs from different examples.

    Args:
        tokens: ``[n_tokens, hidden]`` token vectors pooled from many examples.
        owners: ``[n_tokens]`` the example each token comes from.
        n_pairs: pairs drawn uniformly (with replacement) among pairs of different examples.
    """
    tokens = np.asarray(tokens, np.float64)
    owners = np.asarray(owners)
    if len(np.unique(owners)) < 2:
        raise ValueError("the random-token baseline needs tokens from at least 2 examples")
    rng = np.random.default_rng(seed)
    unit = tokens / np.linalg.norm(tokens, axis=1, keepdims=True)
    i = rng.integers(0, len(unit), size=4 * n_pairs)
    j = rng.integers(0, len(unit), size=4 * n_pairs)
    keep = owners[i] != owners[j]
    i, j = i[keep][:n_pairs], j[keep][:n_pairs]
    return float(np.einsum("kd,kd->k", unit[i], unit[j]).mean())


def cosine_contributions(tokens: np.ndarray) -> np.ndarray:
    """Each dimension's contribution to the expected cosine between two distinct tokens.

    Timkey & van Schijndel (2021, Eq. 3): ``CC(f_i) = E[u_i v_i / (||u|| ||v||)]`` over pairs
    of token vectors ``u, v``, so that ``sum_i CC(f_i)`` is the expected cosine. Computed exactly
    over all ordered pairs of distinct rows (the paper samples 500,000 pairs): with unit rows
    ``x_t``, ``sum_{s != t} x_si x_ti = (sum_t x_ti)^2 - sum_t x_ti^2``.

    Args:
        tokens: ``[n_tokens, hidden]``, at least 2 rows, none zero.

    Returns:
        ``[hidden]`` float64.
    """
    x = np.asarray(tokens, np.float64)
    n = len(x)
    if n < 2:
        raise ValueError("cosine contributions need at least 2 token vectors")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (unit.sum(0) ** 2 - (unit**2).sum(0)) / (n * (n - 1))


def rogue_shares(
    tokens: np.ndarray, top: Sequence[int] = (1, 3), min_cosine: float = ROGUE_MIN_COSINE
) -> dict[int, float]:
    """The share of the expected cosine carried by the ``k`` largest contributions, per ``k``.

    As Timkey & van Schijndel's code for contextual models does: the largest signed
    :func:`cosine_contributions` (not the largest in absolute value), summed and divided by the
    expected cosine (their sum). A share near 1 means one or a few "rogue" dimensions make the
    tokens look alike; an isotropic-looking cloud spreads it, about ``k / hidden``.

    Args:
        tokens: ``[n_tokens, hidden]``.
        top: the numbers of dimensions ``k``.
        min_cosine: below this absolute expected cosine every share is NaN
            (:data:`ROGUE_MIN_COSINE`).
    """
    contributions = cosine_contributions(tokens)
    expected = contributions.sum()
    if abs(expected) < min_cosine:
        return {k: math.nan for k in top}
    largest = np.sort(contributions)[::-1]
    return {k: float(largest[:k].sum() / expected) for k in top}


def isoscore(points: np.ndarray, min_points_per_dim: int = ISOSCORE_POINTS_PER_DIM) -> float:
    """IsoScore of a point cloud (Rudman et al. 2022, Algorithm 1).

    Steps: centre and rotate the points onto their principal components; take the variance
    vector in that basis; scale it to norm ``sqrt(d)``; the isotropy defect is its distance to
    the all-ones vector over ``sqrt(2 (d - sqrt(d)))``; the fraction of dimensions used is
    ``k = (d - defect^2 (d - sqrt(d)))^2 / d^2``; IsoScore ``= (d k - 1) / (d - 1)``.

    Args:
        points: ``[n_points, d]``.
        min_points_per_dim: refuse clouds with fewer than this many points per dimension: the
            covariance of fewer points is too noisy (and of fewer than ``d`` is rank-deficient,
            so an isotropic cloud would look anisotropic).

    Raises:
        TooFewPointsError: too few points for the dimension.
    """
    x = np.asarray(points, np.float64)
    n, d = x.shape
    if d < 2:
        raise ValueError("IsoScore needs at least 2 dimensions")
    if n < min_points_per_dim * d:
        raise TooFewPointsError(
            f"IsoScore of {d}-dimensional vectors needs at least {min_points_per_dim * d} points "
            f"({min_points_per_dim} per dimension), got {n}; pool more tokens or examples"
        )
    # torch rather than numpy: numpy's OpenBLAS threads spin against torch's and took 100x
    # longer inside a study.
    return float(isoscore_of_covariance(torch.cov(torch.from_numpy(x).T)))


def isoscore_of_covariance(cov: torch.Tensor) -> torch.Tensor:
    """IsoScore's steps on a ``[d, d]`` covariance (the variances along its principal axes are
    its eigenvalues), differentiable (``torch.linalg.eigvalsh``; IsoScore* of
    :mod:`ctxvec.metrics.regularisers` shrinks the covariance first). A zero covariance gives
    NaN."""
    d = cov.shape[0]
    # Clamped: rounding can leave tiny negative eigenvalues.
    variances = torch.linalg.eigvalsh(cov).clamp(min=0.0)
    scaled = math.sqrt(d) * variances / torch.linalg.vector_norm(variances)
    defect = torch.linalg.vector_norm(scaled - 1.0) / math.sqrt(2 * (d - math.sqrt(d)))
    k = (d - defect**2 * (d - math.sqrt(d))) ** 2 / d**2
    return (d * k - 1) / (d - 1)


def fisher_ratio(vectors: np.ndarray, labels: Sequence) -> float:
    """``trace(S_B) / trace(S_W)``: between-class over within-class scatter of the vectors."""
    x = np.asarray(vectors, np.float64)
    y = np.asarray(labels)
    mean = x.mean(0)
    between = within = 0.0
    for c in np.unique(y):
        xc = x[y == c]
        mc = xc.mean(0)
        between += len(xc) * float(((mc - mean) ** 2).sum())
        within += float(((xc - mc) ** 2).sum())
    return between / within if within > 0 else math.inf


def class_separability(
    vectors: np.ndarray, labels: Sequence, folds: int = 5, seed: int = 0
) -> dict[str, float]:
    """Fisher ratio, cosine silhouette and cross-validated linear-probe accuracy.

    Args:
        vectors: ``[n_examples, hidden]`` pooled sentence vectors (e.g. first token or mean).
        labels: ``[n_examples]`` class labels.
        folds: stratified folds of the probe (fewer when a class has fewer examples).
    """
    # scikit-learn is imported here, not at the top: it takes a second to import.
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(vectors, np.float64)
    y = np.asarray(labels)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("class separability needs examples of at least 2 classes")
    out = {"fisher_ratio": fisher_ratio(x, y), "silhouette": math.nan, "probe_accuracy": math.nan}
    if len(x) > len(classes):
        out["silhouette"] = float(silhouette_score(x, y, metric="cosine"))
    k = min(folds, int(counts.min()))
    if k >= 2:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        out["probe_accuracy"] = float(cross_val_score(probe, x, y, cv=cv).mean())
    return out
