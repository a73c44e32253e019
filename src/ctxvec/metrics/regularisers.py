"""The study's statistics as differentiable functions of a batch, for training with them.

An intervention (:mod:`ctxvec.offline.intervention`) fine-tunes a model on ``task loss - lambda
* R``, where ``R`` is one of these statistics of the batch's hidden states ``[batch, n_tokens,
hidden]`` over the real tokens (a bool mask ``[batch, n_tokens]``):

- **variance** and **cse**: the study's own per-example Variance and CSE
  (:func:`ctxvec.metrics.context.masked_token_variance`,
  :func:`ctxvec.metrics.context.context_vector_metrics`; no second formula here), averaged over
  the batch's examples, then over the chosen layers.
- **isoscore**: IsoScore* (Rudman & Eickhoff 2024, "Stable Anisotropic Regularization", ICLR;
  arXiv 2305.19358; their code ``I-STAR/regularizers.py`` in
  ``bcbi-edu/p_eickhoff_isoscore``) of the real tokens of all chosen layers pooled into one
  ``[n_points, hidden]`` cloud, as I-STAR pools the token states of every layer of the batch.
  With ``C`` the points' sample covariance (``n - 1`` denominator) and a fixed shrinkage matrix
  ``C0``, ``Sigma = (1 - zeta) C + zeta C0``; its eigenvalues ``v`` (the variances along its
  principal axes) go through IsoScore's steps (Rudman et al. 2022): ``v_hat = sqrt(d) v /
  ||v||``, defect ``delta = ||v_hat - 1|| / sqrt(2 (d - sqrt(d)))``, ``k = (d - delta^2 (d -
  sqrt(d)))^2 / d^2``, IsoScore* ``= (d k - 1) / (d - 1)``. With ``zeta = 0`` it is IsoScore
  (:func:`ctxvec.metrics.geometry.isoscore` on the same points). I-STAR forms ``C0`` as the
  sample covariance of up to 250,000 token states of the training data from the same layers,
  computed without gradients at the start of every epoch (their ``get_ci``);
  :func:`shrinkage_matrix` is that step, for the trainer to call.

Sign: ``R`` is the statistic itself, so a positive weight raises it. I-STAR's loss ``task +
lambda (1 - IsoScore*)`` is ``task - lambda IsoScore*`` up to a constant: the same convention.

Left out: I-STAR's padding tokens (it pools every position of the padded batch; here only real
tokens count, as in the study), mixed precision, and choosing layers by name (layers are
indices into the model's ``hidden_states``, 0 being the embeddings).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ctxvec.metrics.context import (
    context_vector_metrics,
    masked_token_variance,
    token_weights,
    working_dtype,
)
from ctxvec.metrics.geometry import isoscore_of_covariance

STATISTICS = ("variance", "cse", "isoscore")


def variance(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The batch's mean Variance: ``[batch, n_tokens, hidden]``, ``[batch, n_tokens]`` -> ``[]``."""
    w = token_weights(mask.bool(), dtype=working_dtype(hidden))
    return masked_token_variance(hidden, w).mean()


def cse(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The batch's mean CSE: ``[batch, n_tokens, hidden]``, ``[batch, n_tokens]`` -> ``[]``."""
    return context_vector_metrics(hidden, mask)["cse"].mean()


def isoscore_star(
    points: torch.Tensor, zeta: float = 0.0, c0: torch.Tensor | None = None
) -> torch.Tensor:
    """IsoScore* of a ``[n_points, d]`` cloud with shrinkage ``zeta`` towards ``c0`` (``[d, d]``).

    ``zeta = 0`` needs no ``c0`` and is IsoScore. Differentiable in ``points``
    (``torch.linalg.eigvalsh``, whose gradient ``V diag(g) V^T`` stays finite for repeated
    eigenvalues). Computed in the points' dtype (float32 for lower precisions).
    """
    x = points.to(working_dtype(points))
    cov = torch.cov(x.T)  # [d, d]
    if zeta:
        if c0 is None:
            raise ValueError("IsoScore* with zeta > 0 needs the shrinkage matrix c0")
        cov = (1.0 - zeta) * cov + zeta * c0.to(cov)
    return isoscore_of_covariance(cov)


def pooled_tokens(
    hidden_states: Sequence[torch.Tensor], mask: torch.Tensor, layers: Sequence[int]
) -> torch.Tensor:
    """The real tokens of the chosen layers as one ``[n_points, hidden]`` cloud.

    Args:
        hidden_states: a model's ``hidden_states``, one ``[batch, n_tokens, hidden]`` per layer.
        mask: ``[batch, n_tokens]`` bool, True for real tokens.
        layers: indices into ``hidden_states``.
    """
    keep = mask.bool()
    return torch.cat([hidden_states[i][keep] for i in layers])


def shrinkage_matrix(points: torch.Tensor) -> torch.Tensor:
    """I-STAR's ``C0``: the ``[d, d]`` sample covariance of ``[n_points, d]`` points gathered
    without gradients (detached here, so it never carries one)."""
    return torch.cov(points.detach().to(working_dtype(points)).T)


def regulariser_value(
    statistic: str,
    hidden_states: Sequence[torch.Tensor],
    mask: torch.Tensor,
    layers: Sequence[int],
    zeta: float = 0.0,
    c0: torch.Tensor | None = None,
) -> torch.Tensor:
    """The batch's ``R`` for ``statistic`` (one of :data:`STATISTICS`) over ``layers``.

    Variance and CSE: the mean over ``layers`` of the mean over the batch's examples; IsoScore*:
    of the real tokens of all ``layers`` pooled (:func:`pooled_tokens`), with ``zeta`` and
    ``c0`` as in :func:`isoscore_star`.

    Returns:
        a scalar tensor, differentiable in ``hidden_states``.
    """
    if statistic == "isoscore":
        return isoscore_star(pooled_tokens(hidden_states, mask, layers), zeta, c0)
    per_example = {"variance": variance, "cse": cse}
    if statistic not in per_example:
        raise ValueError(f"unknown statistic {statistic!r}; one of {', '.join(STATISTICS)}")
    return torch.stack([per_example[statistic](hidden_states[i], mask) for i in layers]).mean()
