"""Attention for reduced precision on a CPU: one sequence at a time, padding keys dropped.

PyTorch's CPU scaled-dot-product kernel splits queries into blocks of 32 and runs each block's
matrix multiplies separately; with 32-wide heads (MiniLM) it runs at a fifth of the bfloat16
matrix-multiply rate, so attention, 7% of MiniLM's FLOPs, took nearly a quarter of a bfloat16 pass.
:func:`per_sequence_attention` instead multiplies each sequence's queries by only the keys its
mask lets through (so a padded batch does no work on padding keys and needs no mask), takes the
softmax in (at least) float32 in place, and multiplies by the values in the model's dtype. In
float32 the fused kernel is as fast or faster, so :func:`reduced_precision_attention` switches
a model to this function only for bfloat16 or float16 on a CPU, and only for architectures that
take an attention function through transformers' ``AttentionInterface`` (BERT, RoBERTa,
ELECTRA, ALBERT, DistilBERT, ...); others (DeBERTa-v2, XLNet) keep their own attention. Figures in
``docs/performance.md``.

Left out: dropout (inference only), attention weights as output (``ctxvec.attention`` uses the
eager path for those), additive float masks and key/value head groups (both handed to the
scaled-dot-product function unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "ctxvec_per_sequence"


def per_sequence_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Softmax attention computed sequence by sequence, an ``AttentionInterface`` function.

    Args:
        query, key, value: ``[batch, heads, n_tokens, head_dim]``.
        attention_mask: ``[batch, 1, n_tokens, n_tokens]`` bool (True = may attend), or None.
        scaling: factor of the scores; ``head_dim ** -0.5`` when None.

    Returns:
        ``[batch, n_tokens, heads, head_dim]`` outputs and no attention weights. A query row
        whose mask lets no key through gives NaN, as the eager path does.
    """
    grouped = getattr(module, "num_key_value_groups", 1) > 1
    if (attention_mask is not None and attention_mask.dtype != torch.bool) or grouped:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, **kwargs
        )
    batch, heads, n, dim = query.shape
    scale = dim**-0.5 if scaling is None else scaling
    # Key padding (every query of a sequence sees the same contiguous keys) is the common case:
    # it needs neither a mask nor a copy of the keys, only a slice.
    spans: list[slice | None] = [slice(None)] * batch
    if attention_mask is not None:
        allowed = attention_mask[:, 0]  # [batch, n_queries or 1, n_keys]
        keys = allowed.any(1)  # [batch, n_keys]
        count = keys.sum(1)
        first = keys.int().argmax(1)
        last = keys.shape[1] - 1 - keys.flip(1).int().argmax(1)
        padding_only = (allowed == keys[:, None]).all((1, 2)) & (last - first + 1 == count)
        ends = zip(padding_only.tolist(), first.tolist(), last.tolist(), strict=True)
        spans = [slice(a, b + 1) if ok else None for ok, a, b in ends]
    out = query.new_empty(batch, n, heads, dim)
    for i, span in enumerate(spans):
        k, v = (key[i], value[i]) if span is None else (key[i, :, span], value[i, :, span])
        scores = torch.matmul(query[i] * scale, k.transpose(-1, -2))  # [heads, n, n_keys]
        scores = scores.to(torch.promote_types(scores.dtype, torch.float32))
        if span is None:
            scores.masked_fill_(~allowed[i], float("-inf"))
        torch.softmax(scores, -1, out=scores)
        out[i] = torch.matmul(scores.to(v.dtype), v).transpose(0, 1)
    return out, None


AttentionInterface.register(NAME, per_sequence_attention)
AttentionMaskInterface.register(NAME, sdpa_mask)


@contextmanager
def reduced_precision_attention(model: torch.nn.Module) -> Iterator[bool]:
    """Run ``model`` with :func:`per_sequence_attention` where that is faster; yield whether it
    does. It does for a model in bfloat16 or float16 on a CPU whose attention goes through
    ``AttentionInterface`` and currently uses the scaled-dot-product kernel; the model's own
    implementation is restored on exit.
    """
    config = model.config
    previous = getattr(config, "_attn_implementation", None)
    switch = (
        model.device.type == "cpu"
        and model.dtype in (torch.bfloat16, torch.float16)
        and previous == "sdpa"
        and model._can_set_attn_implementation()
    )
    if not switch:
        yield False
        return
    model.set_attn_implementation(NAME)
    try:
        yield True
    finally:
        model.set_attn_implementation(previous)
