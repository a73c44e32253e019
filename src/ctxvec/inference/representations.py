"""Which context vectors a study measures: hidden states, or self-attention outputs.

``hidden`` (the default) is each layer's output, as the baseline used. ``attention-output`` is
the output of each layer's self-attention block *before* its residual connection and layer norm:
the attention-weighted mix of values after the output projection, i.e. what attention adds to
the residual stream. It is read with forward hooks on the output projection, so the model runs
its usual (fast) attention path and nothing else changes.

Supported where that projection is identifiable: the BERT layout (``encoder.layer[i].attention
.output.dense``: BERT, RoBERTa, ELECTRA, DeBERTa-v2/v3 and their relatives), MPNet's
(``encoder.layer[i].attention.attn.o``) and ALBERT (``attention.dense``, one module shared by
every layer, so outputs are collected in call order). Other families (XLNet's two-stream
relative attention, for one) get a clear error. Computing metrics from these vectors is the
caller's job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch

from ctxvec.errors import ParameterError

Representation = Literal["hidden", "attention-output"]
REPRESENTATIONS: tuple[Representation, ...] = ("hidden", "attention-output")
# Per-layer attention output projections: the BERT layout, then MPNet's (``attn.o`` is followed
# by dropout, the residual and ``attention.LayerNorm``, as BERT's ``output.dense``).
_LAYER_PROJECTIONS = ("attention.output.dense", "attention.attn.o")


def attention_output_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The distinct modules whose outputs are the attention blocks' pre-residual outputs.

    Raises:
        CtxvecError: the model's family has no identifiable attention output projection.
    """
    encoder = getattr(model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is not None:
        for path in _LAYER_PROJECTIONS:
            try:
                found = [layer.get_submodule(path) for layer in layers]
            except AttributeError:  # not this layout
                continue
            if all(isinstance(module, torch.nn.Linear) for module in found):
                return found
    groups = getattr(encoder, "albert_layer_groups", None)
    if groups is not None:
        return [inner.attention.dense for group in groups for inner in group.albert_layers]
    family = getattr(model.config, "model_type", type(model).__name__)
    raise ParameterError(
        "representation",
        f"attention-output is not supported for {family} models (no identifiable "
        "self-attention output projection); use representation hidden",
        others=("representation",),
    )


@contextmanager
def capture_attention_outputs(
    model: torch.nn.Module,
) -> Iterator[Callable[[], list[torch.Tensor]]]:
    """Collect every layer's attention output during forwards inside the ``with`` block.

    Yields ``take()``, which returns the ``num_hidden_layers`` tensors (``[batch, n_tokens,
    hidden]``, first layer first) that the calling thread's last forward produced, and forgets
    them. Outputs are kept per thread, so concurrent forwards (CPU streams) never mix.
    """
    local = threading.local()

    def keep(_module: torch.nn.Module, _args: object, output: torch.Tensor) -> None:
        local.__dict__.setdefault("outputs", []).append(output)

    def take() -> list[torch.Tensor]:
        outputs = local.__dict__.pop("outputs", [])
        return outputs

    handles = [m.register_forward_hook(keep) for m in attention_output_modules(model)]
    try:
        yield take
    finally:
        for handle in handles:
            handle.remove()
