"""Faster CPU kernels for the study's forward pass: packed linear layers and per-sequence attention.

Two replacements, switched on by :func:`cpu_kernels` for the length of a pass and undone after,
both measured on MiniLM and SQuAD pairs (figures in ``docs/performance.md``):

- **Packed linear layers** (float32 and bfloat16). Every ``nn.Linear`` runs through oneDNN with
  its weight reordered once into oneDNN's blocked layout (``torch.ops.mkldnn``, the kernels
  PyTorch's own compiler emits for CPUs), instead of being re-packed on every call; where a
  BERT-style feed-forward block applies exact GELU to its first linear layer's output, the GELU
  runs inside that matrix multiply instead of as a separate pass over a ``[tokens, 4 * hidden]``
  tensor. About 14% faster in float32 and 9% in bfloat16; results agree with PyTorch's to
  float32 rounding (a different summation order).
- **Per-sequence attention** (bfloat16 and float16). PyTorch's CPU scaled-dot-product kernel
  splits queries into blocks of 32 and runs each block's matrix multiplies separately; with
  32-wide heads (MiniLM) it runs at a fifth of the bfloat16 matrix-multiply rate, so attention,
  7% of MiniLM's FLOPs, took nearly a quarter of a bfloat16 pass. :func:`per_sequence_attention`
  multiplies each sequence's queries by only the keys its mask lets through (a padded batch
  does no work on padding keys and needs no mask), takes the softmax in (at least) float32 in
  place, and multiplies by the values in the model's dtype. In float32 the fused kernel is as
  fast or faster, so it is left in place there. A decoder's unpadded batch comes without a
  mask (transformers leaves causality to SDPA's ``is_causal``); its causal mask is rebuilt, so
  no query sees a later key. Only architectures that take an attention function through
  transformers' ``AttentionInterface`` (BERT, RoBERTa, ELECTRA, ALBERT, DistilBERT, Llama,
  Qwen2, ...) can switch; DeBERTa-v2 and XLNet keep their own attention.

Linear layers with a forward of their own step aside: a subclass of ``nn.Linear`` that overrides
``forward`` (PhiMoE's router returns logits *and* routing weights; a LoRA or quantised layer adds
its own terms) is not a plain matrix multiply, so only modules whose class's ``forward`` is
``nn.Linear.forward`` itself are packed; the others keep theirs and :func:`cpu_kernels` names their
classes (``skipped_linear``).

Left out: GPUs and other devices (untouched), float16 linear layers (oneDNN needs AVX-512 FP16
for them), dropout (inference only), attention weights as output (the attention views use the eager
path for those), additive float masks and key/value head groups (both handed to the
scaled-dot-product function unchanged).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Literal

import torch
import torch.nn.functional as F

# "auto": the replacements below wherever they run correctly; "off": PyTorch's kernels only.
KernelChoice = Literal["auto", "off"]
KERNEL_CHOICES: tuple[KernelChoice, ...] = ("auto", "off")
NAME = "ctxvec_per_sequence"
# oneDNN picks the packed layout for this many rows; any other count runs correctly.
PACKING_ROWS_HINT = 1024
_spans = threading.local()  # one mask's key spans, reused by every layer of a forward


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
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, **kwargs
        )
    batch, heads, n, dim = query.shape
    scale = dim**-0.5 if scaling is None else scaling
    if attention_mask is None and n > 1 and _is_causal(module, kwargs):
        # transformers drops the mask of an unpadded causal batch (a decoder's batch of one, or
        # of equal lengths) and leaves causality to SDPA's ``is_causal``: the mask is rebuilt
        # here, else every query would see the keys after it.
        n_keys = key.shape[2]
        causal = torch.ones(n, n_keys, dtype=torch.bool, device=query.device).tril(n_keys - n)
        attention_mask = causal.expand(batch, 1, n, n_keys)
    # Key padding (every query of a sequence sees the same contiguous keys) is the common case:
    # it needs neither a mask nor a copy of the keys, only a slice.
    spans: list[slice | None] = [slice(None)] * batch
    if attention_mask is not None:
        allowed = attention_mask[:, 0]  # [batch, n_queries or 1, n_keys]
        spans = _key_spans(attention_mask)
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


def _is_causal(module: torch.nn.Module, kwargs: dict) -> bool:
    """Whether a call without a mask is causal: an ``is_causal`` argument first, then the
    module's attribute, as transformers' ``sdpa_attention_forward`` decides. Every attention
    module of transformers sets the attribute (False in encoders, True in decoders); where it
    is missing this takes False (transformers' SDPA function takes True)."""
    is_causal = kwargs.get("is_causal")
    return bool(getattr(module, "is_causal", False) if is_causal is None else is_causal)


def _key_spans(attention_mask: torch.Tensor) -> list[slice | None]:
    """Per sequence, the slice of keys every query sees, or None where the mask is not plain
    key padding; cached for the mask object, which every layer of a forward shares."""
    cached = getattr(_spans, "value", None)
    if cached is not None and cached[0] is attention_mask:
        return cached[1]
    allowed = attention_mask[:, 0]
    keys = allowed.any(1)  # [batch, n_keys]
    count = keys.sum(1)
    first = keys.int().argmax(1)
    last = keys.shape[1] - 1 - keys.flip(1).int().argmax(1)
    padding_only = (allowed == keys[:, None]).all((1, 2)) & (last - first + 1 == count)
    ends = zip(padding_only.tolist(), first.tolist(), last.tolist(), strict=True)
    spans = [slice(a, b + 1) if ok else None for ok, a, b in ends]
    _spans.value = (attention_mask, spans)
    return spans


@functools.cache
def _register_attention() -> None:
    # Here rather than at import: importing transformers' modelling code takes seconds.
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, per_sequence_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)


def packed_linear(linear: torch.nn.Linear, gelu: bool = False) -> Callable:
    """A forward for ``linear`` (then exact GELU if ``gelu``) with its weight packed once.

    Takes and returns ``[..., in_features]`` -> ``[..., out_features]`` like ``linear``.
    """
    weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), PACKING_ROWS_HINT)
    bias = None if linear.bias is None else linear.bias.detach()
    attr, algorithm = ("gelu", "none") if gelu else ("none", "")

    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [], algorithm)

    return forward


def _is_exact_gelu(module: torch.nn.Module) -> bool:
    from transformers.activations import GELUActivation

    if isinstance(module, GELUActivation):
        return module.act is F.gelu
    return isinstance(module, torch.nn.GELU) and module.approximate == "none"


def plain_linear(module: torch.nn.Module) -> bool:
    """An ``nn.Linear`` whose class runs ``nn.Linear.forward`` (itself or a subclass that does
    not override it): a matrix multiply plus bias, which a packed kernel may replace."""
    return isinstance(module, torch.nn.Linear) and type(module).forward is torch.nn.Linear.forward


def skipped_linears(model: torch.nn.Module) -> dict[str, int]:
    """Per class name, how many of ``model``'s linear layers have a forward of their own (and so
    keep it under :func:`cpu_kernels`)."""
    names = [
        type(m).__name__
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and not plain_linear(m)
    ]
    return {name: names.count(name) for name in sorted(set(names))}


def _linear_then_gelu(module: torch.nn.Module) -> bool:
    """A BERT-style feed-forward input block: ``dense``, then exact GELU, nothing else."""
    children = dict(module.named_children())
    return (
        set(children) == {"dense", "intermediate_act_fn"}
        and plain_linear(children["dense"])
        and _is_exact_gelu(children["intermediate_act_fn"])
    )


@contextmanager
def _replaced_forwards(model: torch.nn.Module) -> Iterator[None]:
    """Give every plain linear layer (:func:`plain_linear`; fused with its GELU where possible)
    a packed forward until exit. Forward hooks still run (they wrap ``forward``)."""
    replaced: dict[torch.nn.Module, Callable | None] = {}
    fused = set()
    dtype = model.dtype
    for module in model.modules():
        if _linear_then_gelu(module) and module.dense.weight.dtype == dtype:
            replaced[module] = module.__dict__.get("forward")
            module.forward = packed_linear(module.dense, gelu=True)
            fused.add(module.dense)
    for module in model.modules():
        if plain_linear(module) and module not in fused and module.weight.dtype == dtype:
            replaced[module] = module.__dict__.get("forward")
            module.forward = packed_linear(module)
    try:
        yield
    finally:
        for module, previous in replaced.items():
            del module.forward
            if previous is not None:
                module.forward = previous


@functools.cache
def packing_works(dtype: torch.dtype) -> bool:
    """Whether this CPU and PyTorch build run packed ``dtype`` linear layers correctly: oneDNN
    present (bfloat16 also needs its CPU check) and a small layer agreeing with ``F.linear``."""
    mkldnn = torch.ops.mkldnn
    if not (torch.backends.mkldnn.is_available() and hasattr(mkldnn, "_linear_pointwise")):
        return False
    if dtype == torch.bfloat16 and not mkldnn._is_mkldnn_bf16_supported():
        return False
    # Fixed weights, no random init: a library call must not move the caller's torch RNG.
    probe = torch.nn.utils.skip_init(torch.nn.Linear, 16, 8, dtype=dtype)
    with torch.no_grad():
        probe.weight.copy_(torch.linspace(-0.5, 0.5, 128).reshape(8, 16))
        probe.bias.copy_(torch.linspace(-0.1, 0.1, 8))
    x = torch.linspace(-1, 1, 48, dtype=dtype).reshape(3, 16)
    try:
        with torch.inference_mode():
            got = packed_linear(probe, gelu=True)(x).double()
            want = F.gelu(F.linear(x, probe.weight, probe.bias)).double()
    except RuntimeError:
        return False
    return bool(torch.allclose(got, want, rtol=0, atol=0.05 if dtype == torch.bfloat16 else 1e-5))


@contextmanager
def cpu_kernels(
    model: torch.nn.Module, enabled: bool = True
) -> Iterator[dict[str, bool | dict[str, int]]]:
    """Run ``model`` with the kernels of this module where they are faster; yield which run.

    ``enabled=False`` (``--kernels off``) leaves the model as it is and yields both False.

    Yields ``{"packed_linear": bool, "per_sequence_attention": bool}``: packed linear layers
    for a float32 or bfloat16 model on a CPU where they work (:func:`packing_works`; layers of
    another dtype than the model's keep PyTorch's kernel); per-sequence attention for a bfloat16
    or float16 model on a CPU whose attention goes through ``AttentionInterface`` and currently
    uses the scaled-dot-product kernel. Everything is restored on exit, also after an error.
    With packed layers on, ``"skipped_linear"`` is added where linear layers with a forward of
    their own stepped aside: ``{class name: count}`` (:func:`skipped_linears`).
    """
    on_cpu = enabled and model.device.type == "cpu"
    previous = getattr(model.config, "_attn_implementation", None)
    attention = (
        on_cpu
        and model.dtype in (torch.bfloat16, torch.float16)
        and previous == "sdpa"
        and model._can_set_attn_implementation()
    )
    packed = (
        on_cpu and model.dtype in (torch.float32, torch.bfloat16) and packing_works(model.dtype)
    )
    with ExitStack() as stack:
        if packed:
            stack.enter_context(_replaced_forwards(model))
        if attention:
            _register_attention()
            model.set_attn_implementation(NAME)
            stack.callback(model.set_attn_implementation, previous)
        used: dict[str, bool | dict[str, int]] = {
            "packed_linear": packed,
            "per_sequence_attention": attention,
        }
        if packed and (skipped := skipped_linears(model)):
            used["skipped_linear"] = skipped
        yield used
