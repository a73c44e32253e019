"""What a loaded model's head reads and pads with: the summary token, the pad-token fallback.

Decided once, at load time, from the model's config (:func:`summary_position`) and its tokenizer
(:func:`pad_token_fallback`); the forward pass and the tasks only read the outcome on
:class:`~ctxvec.loading.LoadedModel`. See ``docs/metrics.md`` ("Decoders").

* The summary token, the vector the pooled metrics (separability, probe, IsoScore) take as an
  example's, is the token the sequence-classification head reads: the first real token for
  encoders (their [CLS]-like token), the last position for XLNet (its ``summary_type="last"``,
  padded on the left), and for decoder-only models the last real token whose id is not the pad
  id (what transformers' ``...ForSequenceClassification`` heads of GPT-2, Llama, Qwen2, Mistral,
  Gemma, OPT, ... read: the rightmost token not equal to ``config.pad_token_id``); for
  encoder-decoders the last end-of-sequence token (``config.eos_token_id``), whose decoder
  vector their heads (BART's, T5's) read, in the measured stack
  (:mod:`ctxvec.loading.stacks`).
* A tokenizer without a pad token pads with the model config's pad id where there is one (the
  head's own), else its eos token, else its unk token; so does a decoder's tokenizer whose pad
  token is not its config's pad id (the head would read padding). A decoder's config without a
  pad id gets the tokenizer's, since its head refuses batches of more than one without it. Both
  are recorded (:attr:`~ctxvec.loading.LoadedModel.pad_fallback`, the manifest).

Caveat of the transformers heads, kept as they are: a decoder head skips a real token equal to
the pad id at the end of a text (a literal end-of-text token when pad = eos) and reads the one
before; the summary token follows the head. transformers is imported on the first call only.
"""

from __future__ import annotations

from typing import Literal

from ctxvec.errors import CtxvecError
from ctxvec.loading.stacks import is_encoder_decoder

# The key of the fallback in a unit's state and in the manifest's record of a model.
PAD_FALLBACK = "pad_fallback"
# "first": the first real token; "last": the last position (left padding); "last-non-pad": the
# last real token whose id is not the config's pad id; "last-eos": the last eos token.
SummaryPosition = Literal["first", "last", "last-non-pad", "last-eos"]


def is_decoder_only(config: object) -> bool:
    """A causal language model without a masked-LM or encoder-decoder form (GPT-2, Llama,
    Qwen2, OPT, ...), by its ``model_type`` in transformers' auto mappings; XLNet (also
    causal, but padded on the left and read at its last position) is not one here."""
    from transformers.models.auto import modeling_auto

    model_type = getattr(config, "model_type", "")
    return (
        model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES
        and not getattr(config, "is_encoder_decoder", False)
        and getattr(config, "summary_type", None) != "last"
    )


def summary_position(config: object) -> SummaryPosition:
    """Which token the model's sequence-classification head reads (see the module's notes)."""
    if getattr(config, "summary_type", None) == "last":
        return "last"
    if is_encoder_decoder(config):
        return "last-eos"
    if is_decoder_only(config):
        return "last-non-pad"
    return "first"


def pad_token_fallback(
    tokenizer, config, *, head_reads_pad_id: bool, name: str = "the model"
) -> str | None:
    """Give ``tokenizer`` a pad token if it has none, and ``config`` the pad id if the head
    reads it (``head_reads_pad_id``) and the config has none; both are changed in place.

    Returns:
        What was done, one line for the manifest (e.g. ``"pad = eos '</s>' (id 2)"``), or None
        when tokenizer and config already had what they need.

    Raises:
        CtxvecError: the tokenizer has no pad token, and neither the config nor an eos or unk
            token gives one.
    """
    done = []
    config_id = getattr(config, "pad_token_id", None)
    own = tokenizer.pad_token_id
    # A decoder head finds padding by the config's id: batches must be padded with that one.
    disagree = head_reads_pad_id and config_id is not None and own is not None and own != config_id
    if own is None or disagree:
        candidates = [
            ("config", None if config_id is None else tokenizer.convert_ids_to_tokens(config_id)),
            ("eos", tokenizer.eos_token),
            ("unk", tokenizer.unk_token),
        ]
        source, token = next(((s, t) for s, t in candidates if t is not None), (None, None))
        if token is None:
            raise CtxvecError(
                f"model '{name}': its tokenizer has no pad, eos or unk token to pad batches with "
                "and its config no pad_token_id; save the tokenizer with a pad token"
            )
        was = f", not the tokenizer's '{tokenizer.pad_token}'" if disagree else ""
        tokenizer.pad_token = token
        done.append(f"pad = {source} '{token}' (id {tokenizer.pad_token_id}){was}")
    if head_reads_pad_id and config_id is None:
        config.pad_token_id = tokenizer.pad_token_id
        done.append(f"config pad_token_id = {tokenizer.pad_token_id}")
    return "; ".join(done) or None
