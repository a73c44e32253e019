"""What a forward pass measures: which metrics (the metric sets) and at which layers.

Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L; negative
numbers count from the end. A bad name or number is one :class:`~ctxvec.errors.CtxvecError`
line.
"""

from __future__ import annotations

from typing import Literal

from ctxvec.errors import CtxvecError, require_one_of
from ctxvec.inference.representations import Representation
from ctxvec.loading import LoadedModel

# Per-example metrics at the chosen layer, and the subset of them also measured per layer.
LAYER_METRICS = ("variance", "cse", "self_similarity", "intra_similarity")
METRICS = (*LAYER_METRICS, "effective_rank")
# "all": every metric, pooled subset metrics included; "core": the fused kernel's four only.
MetricSet = Literal["all", "core"]
METRIC_SETS: tuple[MetricSet, ...] = ("all", "core")


def check_metric_set(metrics: str) -> None:
    """Stop with a one-line error for a name not in :data:`METRIC_SETS`."""
    require_one_of("--metrics", metrics, METRIC_SETS)


def resolve_layers(
    lm: LoadedModel,
    layer: int,
    layers: str = "",
    representation: Representation = "hidden",
) -> tuple[int, tuple[int, ...]]:
    """The chosen layer and the extra layers as absolute indices.

    Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L;
    negative numbers count from the end (-1 = last). ``layers`` is ``""`` (none), ``"all"``
    or comma-separated numbers.
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

    if layers.strip() == "all":
        extra = range(lowest, n_layers + 1)
    else:
        try:
            extra = [absolute(int(x)) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise CtxvecError(
                f"--layers '{layers}' must be 'all' or comma-separated layer numbers"
            ) from None
    return absolute(layer), tuple(sorted(set(extra)))
