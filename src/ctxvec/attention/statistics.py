"""Per-head attention statistics averaged over a seeded subset of a dataset.

The examples are the study's first subset (:func:`ctxvec.data.select_subsets`), loaded with the
study's loaders for the model's task; inputs longer than the model takes are skipped and listed.
The statistics themselves are defined in :mod:`ctxvec.metrics.heads`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ctxvec.attention.inputs import example_inputs
from ctxvec.attention.weights import attend, head_task
from ctxvec.data import load_dataset, select_subsets
from ctxvec.errors import CtxvecError, InputTooLongError
from ctxvec.loading import LoadedModel
from ctxvec.metrics.heads import combine_statistics, input_statistics


@dataclass
class SubsetStatistics:
    """Statistics averaged over a subset, and the ids of inputs left out as too long."""

    table: pd.DataFrame
    used: list[str]
    skipped: list[str]


def subset_statistics(
    lm: LoadedModel,
    data: str,
    size: int = 50,
    seed: int = 0,
    start: int = 0,
    split: str | None = None,
    max_length: int | None = None,
) -> SubsetStatistics:
    """Per-head statistics averaged over ``size`` examples of a dataset.

    The examples are the study's first subset (:func:`ctxvec.data.select_subsets` with ``seed``
    and ``start``) of the data of the model's task. Inputs longer than the model takes are
    skipped and listed.
    """
    examples: Sequence = load_dataset(head_task(lm), data, split).examples
    (indices,) = select_subsets(len(examples), 1, size, seed, starts=[start])
    per_input, used, skipped = [], [], []
    for i in indices:
        e = examples[int(i)]
        try:
            attn = attend(lm, max_length=max_length, **example_inputs(e))
        except InputTooLongError:
            skipped.append(e.id)
            continue
        per_input.append(input_statistics(attn.weights, attn.segment))
        used.append(e.id)
    if not per_input:
        raise CtxvecError(
            f"all {size} examples are longer than '{lm.resolved.spec.label}' takes; "
            "raise --max-length or use shorter data"
        )
    return SubsetStatistics(combine_statistics(per_input), used, skipped)
