"""What a forward pass measures: which metrics (the metric sets) and at which layers.

The metrics themselves are declared in :mod:`ctxvec.metrics.registry`.

Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L; negative
numbers count from the end. A bad name or number is one :class:`~ctxvec.errors.CtxvecError`
line.
"""

from __future__ import annotations

from typing import Literal

from ctxvec.errors import CtxvecError, ParameterError, require_one_of
from ctxvec.inference.representations import Representation
from ctxvec.loading import LoadedModel
from ctxvec.loading.stacks import Stack, is_encoder_decoder, stack_depths

# "all": every metric, pooled subset metrics included; "core": the fused kernel's four only.
MetricSet = Literal["all", "core"]
METRIC_SETS: tuple[MetricSet, ...] = ("all", "core")
# The key of a unit's state holding the measured stack's number of layers (layers.csv's depth).
N_LAYERS = "n_layers"
# Extra layers for per-layer curves: "all", or layer numbers (none: the empty tuple).
Layers = tuple[int, ...] | Literal["all"]


def check_metric_set(metrics: str) -> None:
    """Stop with a one-line error for a name not in :data:`METRIC_SETS`."""
    require_one_of("metrics", metrics, METRIC_SETS)


def check_layers(layers: Layers) -> None:
    """Stop with a one-line error unless ``layers`` is ``"all"`` or a tuple of integers."""
    if layers == "all":
        return
    if not isinstance(layers, tuple) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in layers
    ):
        raise ParameterError("layers", f"{layers!r} must be 'all' or a tuple of layer numbers")


def parse_layers(text: str) -> Layers:
    """``"all"`` or comma-separated numbers (``"0,3,6"``) as :data:`Layers`; ``""`` is none."""
    if text.strip() == "all":
        return "all"
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ParameterError(
            "layers", f"'{text}' must be 'all' or comma-separated layer numbers"
        ) from None


def model_depth(lm: LoadedModel, stack: Stack = "encoder") -> int:
    """The number of layers of the stack a pass measures: ``num_hidden_layers``, or an
    encoder-decoder's encoder's or decoder's (:func:`~ctxvec.loading.stacks.stack_depths`).

    Raises:
        CtxvecError: ``stack="both"`` on an encoder-decoder whose stacks differ in depth.
    """
    config = lm.model.config
    depths = stack_depths(config) if is_encoder_decoder(config) else None
    if stack == "both" and depths is not None and depths[0] != depths[1]:
        raise CtxvecError(
            f"'{lm.resolved.spec.label}' has {depths[0]} encoder and {depths[1]} decoder layers, "
            "so stack both has no common layer numbers; use stack encoder or decoder"
        )
    if depths is None:
        return int(config.num_hidden_layers)
    return depths[1] if stack == "decoder" else depths[0]


def resolve_layers(
    lm: LoadedModel,
    layer: int,
    layers: Layers = (),
    representation: Representation = "hidden",
    stack: Stack = "encoder",
) -> tuple[int, tuple[int, ...]]:
    """The chosen layer and the extra layers as absolute indices.

    Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L;
    negative numbers count from the end (-1 = last). An encoder-decoder's layers are numbered
    in the measured ``stack`` (:mod:`ctxvec.loading.stacks`; ``"both"`` needs equal depths).
    """
    n_layers = model_depth(lm, stack)
    lowest = 1 if representation == "attention-output" else 0
    label = lm.resolved.spec.label

    def absolute(number: int) -> int:
        index = number + n_layers + 1 if number < 0 else number
        if not lowest <= index <= n_layers:
            raise CtxvecError(
                f"layer {number} is out of range for '{label}' ({n_layers} layers: use "
                f"{lowest}..{n_layers} or -1 for the last)"
            )
        return index

    extra = range(lowest, n_layers + 1) if layers == "all" else [absolute(x) for x in layers]
    return absolute(layer), tuple(sorted(set(extra)))
