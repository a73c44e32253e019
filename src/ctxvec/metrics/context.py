"""Per-example context-vector metrics of the study pass, computed in torch on a padded batch.

The baseline's two metrics (``docs/study.md``) and two of Ethayarajh (2019), applied to each
example's real tokens only: padding positions are excluded through a token mask, so a batched,
padded computation equals the formula applied to the example alone. For ``H`` = the
``[n_tokens, hidden]`` matrix of one example's context vectors:

- **Variance**: standardise each token vector across its hidden dimensions
  (``Z = (H - mean_row) / std_row``, population std), take the population variance of each hidden
  dimension across tokens, and average over dimensions.
- **CSE** (cosine similarity error): ``C`` = the ``[n, n]`` cosine-similarity matrix of the rows
  of ``H``, diagonal included; ``CSE = mean((1 - C) ** 2)`` over all ``n ** 2`` entries.
- **self-similarity**: the mean of ``C`` off the diagonal (Ethayarajh 2019, "How Contextual are
  Contextualized Word Representations?", EMNLP: anisotropy within an example).
- **intra-sentence similarity**: the mean cosine between each row and the mean row (ibid.).

Metrics are computed in float32 whatever the model's dtype, and in float64 when given float64
(so that :mod:`ctxvec.metrics.regularisers` can check their gradients). Where a metric is
undefined (a token vector with zero spread or zero norm) the example is flagged, not silently
given NaN; the caller decides how to report it. Metrics of whole subsets and the effective
rank live in :mod:`ctxvec.metrics.geometry`.

All are computed through identities that need no ``[n, n]`` temporaries beyond one Gram matrix
(the forward pass must stay the bottleneck, see ``docs/performance.md``):

- each standardised row has ``sum_d z_d ** 2 = d``, so Variance ``= 1 - ||mean_t z_t||^2 / d``;
- with unit rows ``u_t`` and ``G = U U^T``, ``sum (1 - C) ** 2 = n^2 - 2 ||sum_t u_t||^2 +
  ||G||_F^2``, and ``||U U^T||_F = ||U^T U||_F``, so the Gram matrix is the smaller of
  ``[n, n]`` and ``[hidden, hidden]``.

Each is computed as a weighted mean over tokens (weights summing to 1 per example): uniform
weights over the counted tokens are the formulas above; a decoder's position weighting (SGPT,
:mod:`ctxvec.inference.tokens`) weights the pairs ``(i, j)`` by ``w_i w_j``.
"""

from __future__ import annotations

import torch


def working_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype the metrics are computed in: float64 for float64 input, else float32."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def token_weights(
    mask: torch.Tensor, weights: torch.Tensor | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``[batch, n_tokens]`` weights (of ``dtype``) of the tokens that count, each row summing
    to 1: ``weights`` (zero off ``mask``) renormalised, or uniform over ``mask`` when None."""
    w = mask.to(dtype) if weights is None else torch.where(mask, weights.to(dtype), 0.0)
    return w / w.sum(1, keepdim=True)


def masked_token_variance(hidden: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The baseline's Variance per example, with tokens weighted by ``w``.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors (padding positions arbitrary).
        w: ``[batch, n_tokens]`` token weights (:func:`token_weights`), 0 off the tokens that
            count; uniform weights give the baseline's formula.

    Returns:
        ``[batch]`` float32 values (float64 for float64 ``hidden``; NaN where a token vector is
        constant): the weighted population variance of each standardised dimension, averaged
        over dimensions.
    """
    h = hidden.to(working_dtype(hidden))
    std, mean = torch.std_mean(h, -1, correction=0, keepdim=True)
    z = (h - mean) / std
    z = torch.where(w.unsqueeze(-1) > 0, z, torch.zeros((), dtype=h.dtype, device=h.device))
    centre = torch.bmm(w.unsqueeze(1), z).squeeze(1)  # [batch, hidden]
    return 1.0 - centre.square().mean(-1)


def _cosine_metrics(h: torch.Tensor, w: torch.Tensor) -> dict[str, torch.Tensor]:
    """CSE, self-similarity and intra-sentence similarity from one set of unit rows.

    With unit rows ``u_t``, weights ``w_t`` (summing to 1) and ``s = sum_t w_t u_t``:
    ``sum_ij w_i w_j C_ij = ||s||^2``, so self-similarity, the weighted mean of ``C`` off the
    diagonal, is ``(||s||^2 - sum_t w_t^2) / (1 - sum_t w_t^2)`` (Ethayarajh 2019; uniform
    weights give ``(||S||^2 - n) / (n (n - 1))`` of the unweighted sum ``S``); CSE is
    ``1 - 2 ||s||^2 + ||sum_t w_t u_t u_t^T||_F^2``; and the intra-sentence similarity is
    ``s . m / ||m||`` for the weighted mean vector ``m`` (Ethayarajh 2019).
    """
    keep = w.unsqueeze(-1) > 0
    zero = torch.zeros((), dtype=h.dtype, device=h.device)
    unit = torch.where(keep, h / torch.linalg.vector_norm(h, dim=-1, keepdim=True), zero)
    scaled = unit * w.sqrt().unsqueeze(-1)  # rows sqrt(w_t) u_t: V^T V = sum_t w_t u_t u_t^T
    if scaled.shape[1] <= scaled.shape[2]:
        gram = torch.bmm(scaled, scaled.transpose(1, 2))  # [batch, n_tokens, n_tokens]
    else:
        gram = torch.bmm(scaled.transpose(1, 2), scaled)  # [batch, hidden, hidden]
    # Terms of order 1 cancel down to CSE: combine them in float64 (MPS has none).
    acc = torch.float32 if h.device.type == "mps" else torch.float64
    gram_sq = torch.linalg.vector_norm(gram.flatten(1), dim=1).to(acc).square()
    total = torch.bmm(w.unsqueeze(1), unit).squeeze(1)  # [batch, hidden]
    total_sq = torch.linalg.vector_norm(total, dim=-1).to(acc).square()
    w_sq = w.to(acc).square().sum(1)
    mean = torch.where(keep, h, zero)
    mean = torch.bmm(w.unsqueeze(1), mean).squeeze(1)  # only its direction matters
    intra = (total * mean).sum(-1) / torch.linalg.vector_norm(mean, dim=-1)
    return {
        "cse": (1.0 - 2.0 * total_sq + gram_sq).to(h.dtype),
        "self_similarity": ((total_sq - w_sq) / (1.0 - w_sq)).to(h.dtype),
        "intra_similarity": intra,
    }


def context_vector_metrics(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor | None = None,
    standard: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Variance, CSE, self-similarity and intra-sentence similarity of every example of a batch.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors of one layer.
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count (real tokens, optionally
            without special tokens). Every example needs at least one True.
        weights: ``[batch, n_tokens]`` token weights (a decoder's position weighting,
            :mod:`ctxvec.inference.tokens`), renormalised over ``mask``; None: uniform, the
            baseline's formulas.
        standard: per-dimension ``(mean, std)``, ``[hidden]`` each: the cosine metrics (CSE,
            self- and intra-sentence similarity) are computed on ``(h - mean) / std``, Timkey &
            van Schijndel's (2021) correction for rogue dimensions; Variance, which standardises
            each token across its dimensions already, stays on ``hidden``. None: raw vectors.

    Returns:
        ``{"variance", "cse", "self_similarity", "intra_similarity", "n_tokens"}``, each
        ``[batch]``; a metric is NaN for an example where it is undefined (self-similarity
        needs two tokens).
    """
    mask = mask.bool()
    # One float32 copy for both kernels (none when already float32 or float64).
    h = hidden.to(working_dtype(hidden))
    w = token_weights(mask, weights, h.dtype)
    cosine_h = h if standard is None else (h - standard[0]) / standard[1]
    return {
        "variance": masked_token_variance(h, w),
        **_cosine_metrics(cosine_h, w),
        "n_tokens": mask.sum(1),
    }
