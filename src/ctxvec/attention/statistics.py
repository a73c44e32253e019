"""Per-head attention statistics averaged over a seeded subset of a dataset.

The examples are the study's first subset (:func:`ctxvec.data.select_subsets`), loaded with the
study's loaders for the model's task; inputs longer than the model takes are skipped and listed
(or, for texts, cut there with ``truncate``, as the study's classification pass cuts them). The
statistics are defined in :mod:`ctxvec.metrics.heads`; the inputs go through the eager path of
:mod:`ctxvec.tasks.heads`, the same code the study's ``--attention-stats`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ctxvec.data import select_subsets
from ctxvec.errors import CtxvecError
from ctxvec.loading import LoadedModel
from ctxvec.tasks import load_dataset, task_of_model
from ctxvec.tasks.heads import head_inputs


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
    truncate: bool = False,
) -> SubsetStatistics:
    """Per-head statistics averaged over ``size`` examples of a dataset.

    The examples are the study's first subset (:func:`ctxvec.data.select_subsets` with ``seed``
    and ``start``) of the data of the model's task. Inputs longer than the model takes are
    skipped and listed; with ``truncate``, texts are cut at the limit instead.
    """
    task = task_of_model(lm)
    examples: Sequence = load_dataset(task, data, split).examples
    (indices,) = select_subsets(len(examples), 1, size, seed, starts=[start])
    picked = [examples[int(i)] for i in indices]
    found = head_inputs(lm, task.encode_one, picked, max_length, truncate)
    if not found.per_input:
        raise CtxvecError(
            f"all {size} examples are longer than '{lm.resolved.spec.label}' takes; "
            "raise --max-length or use shorter data"
        )
    return SubsetStatistics(found.table(), found.used, found.skipped)
