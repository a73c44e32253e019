"""The stacks of self-attention layers a model has, which of them a study measures, how deep.

An encoder-only model (BERT) has one stack that sees the whole input; a decoder-only model
(GPT-2, Llama) has one causal stack. An encoder-decoder (BART, T5) has both: the encoder reads
the input, the decoder reads it again shifted right by one position (the decoder inputs that
its question-answering and classification heads build themselves, as in training) and attends
to the encoder's output. Which of an encoder-decoder's stacks a study measures is an option
(:data:`STACKS`):

* ``"encoder"`` (the default): the encoder's hidden states, ``0`` (embeddings) to its depth;
* ``"decoder"``: the decoder's, ``0`` to its own depth; decoder position ``t`` holds input
  token ``t - 1`` (position 0 the decoder's start token);
* ``"both"``: at the same layer number in each stack, the encoder's and the decoder's vectors of
  an example taken together as one set (``2 n`` vectors); both stacks must be equally deep.

Layers are numbered per stack. A model with one stack is measured on it whatever the option
says (:func:`measured_stack` tells which). Left out: cross-attention, and encoder-decoders
whose config nests one sub-config per stack (refused in :mod:`ctxvec.loading.support`).
transformers is imported on the first call only.
"""

from __future__ import annotations

from typing import Literal

Stack = Literal["encoder", "decoder", "both"]
STACKS: tuple[Stack, ...] = ("encoder", "decoder", "both")
# What a model's measured stack is called in the manifest and the unit state.
MeasuredStack = Literal["encoder", "decoder", "both", "encoder-only", "decoder-only"]
STACK_STATE = "stack"


def is_encoder_decoder(config: object) -> bool:
    """An encoder-decoder, by its config's flag or a sequence-to-sequence LM in transformers'
    auto mappings."""
    from transformers.models.auto import modeling_auto

    model_type = getattr(config, "model_type", "")
    return bool(getattr(config, "is_encoder_decoder", False)) or (
        model_type in modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    )


def stack_depths(config: object) -> tuple[int, int] | None:
    """An encoder-decoder's (encoder, decoder) number of layers from its flat config (BART's
    ``encoder_layers``/``decoder_layers``, T5's ``num_layers``/``num_decoder_layers``), or None
    when the config holds no such numbers of its own (nested sub-configs)."""
    encoder = getattr(config, "encoder_layers", None) or getattr(config, "num_layers", None)
    decoder = getattr(config, "decoder_layers", None) or getattr(config, "num_decoder_layers", None)
    if not isinstance(encoder, int):
        return None
    return encoder, decoder if isinstance(decoder, int) else encoder


def measured_stack(config: object, stack: Stack, causal: bool) -> MeasuredStack:
    """Which stack a study with option ``stack`` measures of a model (``causal``: a
    decoder-only model)."""
    if is_encoder_decoder(config):
        return stack
    return "decoder-only" if causal else "encoder-only"
