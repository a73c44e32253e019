"""Context-vector metrics of the study, computed in torch on a padded batch.

Both metrics are the baseline's (see ``STUDY.md``), applied to each example's real tokens only:
padding positions are excluded through a token mask, so a batched, padded computation equals the
formula applied to the example alone. For ``H`` = the ``[n_tokens, hidden]`` matrix of one
example's context vectors:

- **Variance**: standardise each token vector across its hidden dimensions
  (``Z = (H - mean_row) / std_row``, population std), take the population variance of each hidden
  dimension across tokens, and average over dimensions.
- **CSE** (cosine similarity error): ``C`` = the ``[n, n]`` cosine-similarity matrix of the rows
  of ``H``, diagonal included; ``CSE = mean((1 - C) ** 2)`` over all ``n ** 2`` entries.

Metrics are computed in float32 whatever the model's dtype. Where a metric is undefined (a
token vector with zero spread or zero norm) the example is flagged, not silently given NaN; the
caller decides how to report it. Other representation metrics live elsewhere.

Both are computed through identities that need no ``[n, n]`` temporaries beyond one Gram matrix
(the forward pass must stay the bottleneck, see ``docs/performance.md``):

- each standardised row has ``sum_d z_d ** 2 = d``, so Variance ``= 1 - ||mean_t z_t||^2 / d``;
- with unit rows ``u_t`` and ``G = U U^T``, ``sum (1 - C) ** 2 = n^2 - 2 ||sum_t u_t||^2 +
  ||G||_F^2``, and ``||U U^T||_F = ||U^T U||_F``, so the Gram matrix is the smaller of
  ``[n, n]`` and ``[hidden, hidden]``.
"""

from __future__ import annotations

import torch

METRIC_NAMES = ("variance", "cse")


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


def masked_cosine_similarity_error(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline's CSE per example: ``mean((1 - C) ** 2)`` over the ``n x n`` real-token pairs.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors.
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count.

    Returns:
        ``[batch]`` float32 values (NaN where a token vector has zero norm).
    """
    h = hidden.float()
    unit = h / torch.linalg.vector_norm(h, dim=-1, keepdim=True)
    unit = torch.where(mask.unsqueeze(-1), unit, torch.zeros((), dtype=h.dtype, device=h.device))
    if unit.shape[1] <= unit.shape[2]:
        gram = torch.bmm(unit, unit.transpose(1, 2))  # [batch, n_tokens, n_tokens]
    else:
        gram = torch.bmm(unit.transpose(1, 2), unit)  # [batch, hidden, hidden]
    # Terms of size n^2 cancel down to CSE * n^2: combine them in float64 (MPS has none).
    acc = torch.float32 if h.device.type == "mps" else torch.float64
    gram_sq = torch.linalg.vector_norm(gram.flatten(1), dim=1).to(acc).square()
    total_sq = torch.linalg.vector_norm(unit.sum(1), dim=-1).to(acc).square()
    n = mask.sum(1).to(acc)
    return ((n * n - 2.0 * total_sq + gram_sq) / (n * n)).float()


def context_vector_metrics(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Variance and CSE of every example of a padded batch.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors of one layer.
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count (real tokens, optionally
            without special tokens). Every example needs at least one True.

    Returns:
        ``{"variance": [batch], "cse": [batch], "n_tokens": [batch]}``; a metric is NaN for an
        example where it is undefined.
    """
    mask = mask.bool()
    return {
        "variance": masked_token_variance(hidden, mask),
        "cse": masked_cosine_similarity_error(hidden, mask),
        "n_tokens": mask.sum(1),
    }
