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
    m = mask.unsqueeze(-1).to(h.dtype)
    z = (h - h.mean(-1, keepdim=True)) / h.std(-1, correction=0, keepdim=True)
    z = torch.where(mask.unsqueeze(-1), z, torch.zeros((), dtype=h.dtype, device=h.device))
    n = m.sum(1)  # [batch, 1]
    mean = z.sum(1) / n  # [batch, hidden]
    var = (((z - mean.unsqueeze(1)) * m) ** 2).sum(1) / n  # [batch, hidden]
    return var.mean(-1)


def masked_cosine_similarity_error(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline's CSE per example: ``mean((1 - C) ** 2)`` over the ``n x n`` real-token pairs.

    Args:
        hidden: ``[batch, n_tokens, hidden]`` context vectors.
        mask: ``[batch, n_tokens]`` bool, True for the tokens that count.

    Returns:
        ``[batch]`` float32 values (NaN where a token vector has zero norm).
    """
    h = hidden.float()
    unit = h / h.norm(dim=-1, keepdim=True)
    unit = torch.where(mask.unsqueeze(-1), unit, torch.zeros((), dtype=h.dtype, device=h.device))
    cos = torch.bmm(unit, unit.transpose(1, 2))  # [batch, n_tokens, n_tokens]
    pair = (mask.unsqueeze(2) & mask.unsqueeze(1)).to(h.dtype)
    n = mask.sum(1).to(h.dtype)
    return (((1.0 - cos) ** 2) * pair).sum((1, 2)) / (n * n)


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
