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

# "all": every metric, pooled subset metrics included; "core": the fused kernel's four only.
MetricSet = Literal["all", "core"]
METRIC_SETS: tuple[MetricSet, ...] = ("all", "core")
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


def resolve_layers(
    lm: LoadedModel,
    layer: int,
    layers: Layers = (),
    representation: Representation = "hidden",
) -> tuple[int, tuple[int, ...]]:
    """The chosen layer and the extra layers as absolute indices.

    Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L;
    negative numbers count from the end (-1 = last).
    """
    n_layers = lm.model.config.num_hidden_layers
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
