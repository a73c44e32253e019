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

Metrics are computed in float32 whatever the model's dtype. Where a metric is undefined (a
token vector with zero spread or zero norm) the example is flagged, not silently given NaN; the
caller decides how to report it. Metrics of whole subsets and the effective rank live in
:mod:`ctxvec.metrics.geometry`.

All are computed through identities that need no ``[n, n]`` temporaries beyond one Gram matrix
(the forward pass must stay the bottleneck, see ``docs/performance.md``):

- each standardised row has ``sum_d z_d ** 2 = d``, so Variance ``= 1 - ||mean_t z_t||^2 / d``;
- with unit rows ``u_t`` and ``G = U U^T``, ``sum (1 - C) ** 2 = n^2 - 2 ||sum_t u_t||^2 +
  ||G||_F^2``, and ``||U U^T||_F = ||U^T U||_F``, so the Gram matrix is the smaller of
  ``[n, n]`` and ``[hidden, hidden]``.
"""

from __future__ import annotations

import torch


def masked_token_variance(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline's Variance per example.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors (padding positions arbitrary).
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count.

    Returns:
        ``[batch]`` float32 values (NaN where a token vector is constant).
    """
    h = hidden.float()
    std, mean = torch.std_mean(h, -1, correction=0, keepdim=True)
    z = (h - mean) / std
    z = torch.where(mask.unsqueeze(-1), z, torch.zeros((), dtype=h.dtype, device=h.device))
    centre = z.sum(1) / mask.sum(1, keepdim=True).to(h.dtype)  # [batch, hidden]
    return 1.0 - centre.square().mean(-1)


def _cosine_metrics(h: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """CSE, self-similarity and intra-sentence similarity from one set of unit rows.

    With unit rows ``u_t``, ``s = sum_t u_t`` and mean vector ``m``: ``sum_ij C_ij = ||s||^2``
    (so self-similarity is ``(||s||^2 - n) / (n (n - 1))``, Ethayarajh 2019) and the mean of
    ``cos(h_t, m)`` is ``s . m / (n ||m||)`` (intra-sentence similarity, Ethayarajh 2019).
    """
    m = mask.unsqueeze(-1)
    zero = torch.zeros((), dtype=h.dtype, device=h.device)
    unit = torch.where(m, h / torch.linalg.vector_norm(h, dim=-1, keepdim=True), zero)
    if unit.shape[1] <= unit.shape[2]:
        gram = torch.bmm(unit, unit.transpose(1, 2))  # [batch, n_tokens, n_tokens]
    else:
        gram = torch.bmm(unit.transpose(1, 2), unit)  # [batch, hidden, hidden]
    # Terms of size n^2 cancel down to CSE * n^2: combine them in float64 (MPS has none).
    acc = torch.float32 if h.device.type == "mps" else torch.float64
    gram_sq = torch.linalg.vector_norm(gram.flatten(1), dim=1).to(acc).square()
    total = unit.sum(1)  # [batch, hidden]
    total_sq = torch.linalg.vector_norm(total, dim=-1).to(acc).square()
    n = mask.sum(1).to(acc)
    mean = torch.where(m, h, zero).sum(1)  # the direction of the mean is all that matters
    intra = (total * mean).sum(-1) / (torch.linalg.vector_norm(mean, dim=-1) * n.to(h.dtype))
    return {
        "cse": ((n * n - 2.0 * total_sq + gram_sq) / (n * n)).float(),
        "self_similarity": ((total_sq - n) / (n * (n - 1))).float(),
        "intra_similarity": intra,
    }


def context_vector_metrics(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Variance, CSE, self-similarity and intra-sentence similarity of every example of a batch.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors of one layer.
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count (real tokens, optionally
            without special tokens). Every example needs at least one True.

    Returns:
        ``{"variance", "cse", "self_similarity", "intra_similarity", "n_tokens"}``, each
        ``[batch]``; a metric is NaN for an example where it is undefined (self-similarity
        needs two tokens).
    """
    mask = mask.bool()
    h = hidden.float()  # one float32 copy for both kernels (none when already float32)
    return {
        "variance": masked_token_variance(h, mask),
        **_cosine_metrics(h, mask),
        "n_tokens": mask.sum(1),
    }
