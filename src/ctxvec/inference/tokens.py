"""Which context vectors of a padded batch a pass measures, how each counts, which one sums up.

From one forward's output and its padded inputs, :func:`measured_tokens` gives the pass:

* **the vectors** of the measured stack (:mod:`ctxvec.loading.stacks`): the model's hidden
  states, an encoder-decoder's encoder or decoder states, or both stacks' states at the same
  layer number side by side (``[batch, 2 n_tokens, hidden]``, encoder first);
* **the mask** of the tokens that count: the real ones; without [CLS]/[SEP]-like tokens with
  ``exclude_special_tokens`` (a decoder stack's position ``t`` holds input token ``t - 1``, and
  its position 0 the decoder start token, which is special); and, in a causal stack (a
  decoder-only model, an encoder-decoder's decoder), without its first ``skip_first`` real
  positions, whose massive activations make them attention sinks (Sun et al. 2024, "Massive
  Activations in Large Language Models", arXiv:2402.17762; Xiao et al. 2024, "Efficient
  Streaming Language Models with Attention Sinks");
* **the weights** of those tokens: uniform, or with ``token_weighting="position"`` a causal
  stack's tokens weighted by position, ``w_t`` proportional to ``t + 1`` for real position
  ``t`` (SGPT's position-weighted mean: Muennighoff 2022, "SGPT: GPT Sentence Embeddings for
  Semantic Search", arXiv:2202.08904), since a later token of a causal model has seen more of
  the text; with ``stack="both"`` the encoder's tokens (uniform) and the decoder's (by
  position) then weigh half each;
* **the summary column**: the token the model's classification head reads
  (:attr:`~ctxvec.loading.LoadedModel.summary_position`), in the measured vectors.

An image or audio model's tokens (:func:`media_tokens`) are its hidden states' patches or
frames: the real ones (an audio encoder's frames of padding left out, by the model's own
lengths), without its leading [CLS]-like tokens with ``exclude_special_tokens``; its summary is
what its head pools, as weights over the tokens (:mod:`ctxvec.loading.media`). A Swin-like
model's stages hold fewer tokens each, so its masks differ by layer.

A bidirectional stack ignores ``skip_first`` and ``token_weighting`` (its first token is its
[CLS]-like token, left out with ``exclude_special_tokens``). Left out: weighting the token sample
and the effective rank (both use the counted tokens unweighted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ctxvec.errors import CtxvecError, require_at_least, require_one_of
from ctxvec.loading.media import MediaLayout
from ctxvec.loading.stacks import MeasuredStack
from ctxvec.metrics.context import token_weights

TokenWeighting = Literal["uniform", "position"]
TOKEN_WEIGHTINGS: tuple[TokenWeighting, ...] = ("uniform", "position")


def check_token_options(skip_first: int, token_weighting: str) -> None:
    """Stop with a one-line error for a negative ``skip_first`` or an unknown weighting."""
    require_at_least("skip_first", skip_first, 0)
    require_one_of("token_weighting", token_weighting, TOKEN_WEIGHTINGS)


@dataclass(frozen=True)
class TokenRule:
    """What one pass measures of every batch (decided once per pass from the model).

    Attributes:
        stack: the measured stack (:func:`ctxvec.loading.stacks.measured_stack`).
        summary_position: the token the head reads (``LoadedModel.summary_position``).
        exclude_special_tokens: leave [CLS]/[SEP]-like tokens out.
        skip_first: real positions left out at the start of a causal stack.
        token_weighting: ``"uniform"`` or ``"position"`` (a causal stack's tokens by position).
        pad_id: the pad id the decoder heads skip (``config.pad_token_id``).
        eos_id: the end-of-sequence id encoder-decoder heads read (``config.eos_token_id``).
    """

    stack: MeasuredStack
    summary_position: str
    exclude_special_tokens: bool = False
    skip_first: int = 0
    token_weighting: TokenWeighting = "uniform"
    pad_id: int | None = None
    eos_id: int | None = None

    @property
    def causal(self) -> bool:
        """Whether the measured vectors are all a causal stack's."""
        return self.stack in ("decoder", "decoder-only")


@dataclass
class MeasuredTokens:
    """One batch's measured vectors, as :func:`measured_tokens` gives them."""

    states: dict[int, torch.Tensor]  # {layer: [batch, n, hidden]}, n doubled for "both"
    mask: torch.Tensor  # [batch, n] bool, the tokens that count (at the chosen layer)
    weights: torch.Tensor | None  # [batch, n] float32, rows summing to 1; None: uniform
    # [batch] long, the column of the token the head reads; or [batch, n] float32, the
    # weights of the head's pooling (image and audio models)
    summary: torch.Tensor
    # {layer: [batch, n_layer] bool} where layers hold different tokens (Swin's stages)
    masks: dict[int, torch.Tensor] | None = None

    def mask_of(self, layer: int) -> torch.Tensor:
        """The tokens that count at ``layer``."""
        return self.masks[layer] if self.masks is not None else self.mask


def measured_tokens(
    rule: TokenRule,
    out: Any,
    inputs: Mapping[str, torch.Tensor],
    special: torch.Tensor,
    layers: Iterable[int],
    attention_outputs: list[torch.Tensor] | None = None,
) -> MeasuredTokens:
    """The measured vectors at ``layers``, their mask, weights and summary column.

    Args:
        rule: what the pass measures.
        out: the model's output, with hidden states (unless ``attention_outputs``).
        inputs: the padded model inputs (``input_ids``, ``attention_mask``; ``[batch, n]``).
        special: ``[batch, n]`` bool, the special tokens of the input.
        layers: the layer numbers needed (the stack's own numbering).
        attention_outputs: the per-layer attention outputs of layers 1..L, when those are
            measured instead of hidden states.
    """
    real = inputs["attention_mask"].bool()
    special = special.to(real.device)
    ids = inputs["input_ids"]
    if attention_outputs is not None:
        by_layer = [None, *attention_outputs]
        states = {j: by_layer[j] for j in layers}
    elif rule.stack in ("encoder", "decoder", "both"):
        encoder, decoder = out.encoder_hidden_states, out.decoder_hidden_states
        if rule.stack == "both":
            states = {j: torch.cat([encoder[j], decoder[j]], 1) for j in layers}
        else:
            own = encoder if rule.stack == "encoder" else decoder
            states = {j: own[j] for j in layers}
    else:
        states = {j: out.hidden_states[j] for j in layers}
    width = real.shape[1]
    for h in states.values():
        if h.shape[1] != width * (2 if rule.stack == "both" else 1):
            raise CtxvecError(
                f"the model returned hidden states of {h.shape[1]} positions for inputs of "
                f"{width}; ctxvec cannot line its vectors up with the input tokens"
            )
    column = _summary_column(rule, ids, real)
    if rule.stack == "both":
        enc_mask = _mask(rule, real, special, causal=False)
        dec_mask = _mask(rule, real, _shifted(special), causal=True)
        mask = torch.cat([enc_mask, dec_mask], 1)
        weights = None
        if rule.token_weighting == "position":
            halves = [token_weights(enc_mask), _by_position(dec_mask, real)]
            weights = torch.cat([0.5 * w for w in halves], 1)
        column = column + width  # the decoder's vector of the token the head reads
    else:
        causal = rule.causal
        own_special = _shifted(special) if rule.stack == "decoder" else special
        mask = _mask(rule, real, own_special, causal=causal)
        weights = None
        if causal and rule.token_weighting == "position":
            weights = _by_position(mask, real)
    empty = ~mask.any(1)
    if bool(empty.any()):
        n = int(real[empty.nonzero()[0, 0]].sum())
        raise CtxvecError(
            f"an input of {n} tokens has no token left to measure (skip_first "
            f"{rule.skip_first}, exclude_special_tokens {rule.exclude_special_tokens}); "
            "lower --skip-first or drop --exclude-special-tokens"
        )
    return MeasuredTokens(states, mask, weights, column)


def _shifted(special: torch.Tensor) -> torch.Tensor:
    """A decoder stack's special tokens: the input's shifted right by one, the decoder start
    token (position 0) special."""
    start = torch.ones_like(special[:, :1])
    return torch.cat([start, special[:, :-1]], 1)


def _mask(
    rule: TokenRule, real: torch.Tensor, special: torch.Tensor, *, causal: bool
) -> torch.Tensor:
    """The tokens that count in one stack: real, not special if asked, and in a causal stack
    not among the first ``skip_first`` real positions."""
    mask = real & ~special if rule.exclude_special_tokens else real
    if causal and rule.skip_first:
        position = real.long().cumsum(1) - 1  # real position 0, 1, 2, ... whatever the padding
        mask = mask & (position >= rule.skip_first)
    return mask


def _by_position(mask: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """SGPT's weights: ``t + 1`` for real position ``t``, over ``mask``, summing to 1."""
    return token_weights(mask, real.float().cumsum(1))


def _summary_column(rule: TokenRule, ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per row, the column of the token the classification head reads: the first real token,
    the last position, the last real one not equal to the pad id (decoders), or the last eos
    token (encoder-decoders); the last real one where none is found."""
    if rule.summary_position == "first":
        return real.int().argmax(1)
    readable = real
    if rule.summary_position == "last-non-pad" and rule.pad_id is not None:
        readable = real & (ids != rule.pad_id)
    elif rule.summary_position == "last-eos" and rule.eos_id is not None:
        readable = real & (ids == rule.eos_id)
    readable = torch.where(readable.any(1, keepdim=True), readable, real)
    return real.shape[1] - 1 - readable.flip(1).int().argmax(1)


def media_tokens(
    layout: MediaLayout,
    out: Any,
    lengths: torch.Tensor,
    layers: Iterable[int],
    primary: int,
    frame_counts: Callable[[torch.Tensor], torch.Tensor] | None,
    exclude_special_tokens: bool = False,
) -> MeasuredTokens:
    """An image or audio model's measured vectors at ``layers``, their masks and summary.

    Args:
        layout: the model's tokens (:func:`ctxvec.loading.media.media_layout`).
        out: the model's output, with hidden states (``[batch, n_layer, hidden]`` each).
        lengths: ``[batch]`` the inputs' real lengths (audio samples or mel frames).
        layers: the layer numbers needed; ``primary`` the chosen one (whose summary is kept).
        frame_counts: the model's real frames of a real length (an audio encoder's
            ``_get_feat_extract_output_lengths``), or None: every token is real.
        exclude_special_tokens: leave the leading [CLS]-like tokens out.
    """
    states = {j: out.hidden_states[j] for j in layers}
    frames = frame_counts(lengths) if frame_counts is not None else None
    masks, summary = {}, None
    for j, h in states.items():
        n = h.shape[1]
        position = torch.arange(n, device=h.device)[None]  # [1, n]
        count = (frames if frames is not None else torch.full_like(lengths, n)).to(h.device)
        real = position < count.clamp(max=n)[:, None]  # [batch, n]
        special = (position < layout.n_special).expand_as(real)
        masks[j] = real & ~special if exclude_special_tokens else real
        if j == primary:
            pooled = {
                "first": position == 0,
                "patch-mean": real & ~special,
                "special-mean": special,
                "mean": real,
            }[layout.summary].expand_as(real)
            summary = token_weights(pooled)
    empty = [j for j, m in masks.items() if not bool(m.any(1).all())]
    if empty:
        raise CtxvecError(
            f"an input has no token left to measure at layer {empty[0]} "
            f"(exclude_special_tokens {exclude_special_tokens}); drop --exclude-special-tokens"
        )
    return MeasuredTokens(states, masks[primary], None, summary, masks)
