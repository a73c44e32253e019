"""Units of work: one (model, subset) each, planned from a config and computed on their own.

A :class:`Unit` is a JSON-serialisable description holding everything needed to compute it
(model and its content fingerprint, data source and fingerprint, the subset's example ids, task
settings, device, dtype), so :func:`run_unit` can compute it from that description alone, on
this machine or another. Its :attr:`Unit.key` is a hash of what it computes, not of where its
files are, and names its cached result (:mod:`ctxvec.study.cache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.data import QADataset, Task, TextDataset, select_subsets
from ctxvec.loading import (
    ModelSpec,
    ResolvedModel,
    resolve_device,
    resolve_dtype,
)
from ctxvec.study.config import StudyConfig

# Bumped whenever a change alters what a unit computes, so stale cached results are not reused.
UNIT_FORMAT = 3
# Seeds the attention sample apart from the subsets' draw (any fixed number would do).
_ATTENTION_STREAM = 0x617474


@dataclass(frozen=True)
class Unit:
    """One (model, subset) of a study: the whole input of :func:`run_unit`."""

    task: Task
    model: ModelSpec
    model_path: str
    model_revision: str | None
    model_fingerprint: str
    subset: int
    data: str
    split: str
    data_fingerprint: str
    example_ids: tuple[str, ...]
    settings: dict[str, Any]
    device: str
    dtype: str
    allow_untrained_head: bool
    # The examples whose per-head attention statistics the unit computes (--attention-stats).
    attention_ids: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        blob = dataclasses.asdict(self)
        blob["format"] = UNIT_FORMAT
        if not self.attention_ids:  # units without attention statistics keep their old keys
            blob.pop("attention_ids")
        # Labels and paths do not change what is computed; the fingerprints stand for content.
        blob["model"] = {"id": self.model.id, "revision": self.model.revision}
        for where in ("model_path", "data"):
            blob.pop(where)
        text = json.dumps(blob, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class UnitResult:
    """A computed (or cached) unit: its example rows and its summary (scores, metric means,
    pooled metrics, layers, kernels, skipped ids and, with ``attention_ids``, the per-head
    attention statistics under ``"attention"``)."""

    unit: Unit
    rows: pd.DataFrame
    summary: dict[str, Any]
    seconds: float
    from_cache: bool = False
    # Where each shard ran ({"node": ..., "pid": ..., "retries": ...}); empty for cached units.
    parts: list[dict[str, Any]] = field(default_factory=list)


def plan_units(
    config: StudyConfig,
    dataset: QADataset | TextDataset,
    models: Sequence[ResolvedModel],
) -> list[Unit]:
    """The study's units, model by model, subset by subset."""
    config = config.resolved()
    pool = dataset.examples
    if config.task == "qa" and config.settings.baseline_compat:
        pool = [e for e in pool if e.answers]  # the baseline used answerable questions only
    subsets = select_subsets(
        len(pool), config.subsets, config.subset_size, config.seed, config.subset_starts
    )
    device = resolve_device(config.device)
    dtype = str(resolve_dtype(config.dtype, device)).removeprefix("torch.")
    return [
        Unit(
            task=config.task,
            model=m.spec,
            model_path=m.path,
            model_revision=m.revision,
            model_fingerprint=m.fingerprint,
            subset=k,
            data=config.data,
            split=config.split,
            data_fingerprint=dataset.fingerprint,
            example_ids=tuple(pool[i].id for i in idx),
            settings=dataclasses.asdict(config.settings),
            device=str(device),
            dtype=dtype,
            allow_untrained_head=config.allow_untrained_head,
            attention_ids=attention_sample(
                [pool[i].id for i in idx], config.attention_stats, config.seed, k
            ),
        )
        for m in models
        for k, idx in enumerate(subsets)
    ]


def attention_sample(ids: Sequence[str], n: int, seed: int, subset: int) -> tuple[str, ...]:
    """A seeded sample of ``n`` of a subset's example ids, in the subset's order.

    It depends on the seed and the subset only, so every model of a subset is measured on the
    same examples.
    """
    if n == 0:
        return ()
    rng = np.random.default_rng([seed, subset, _ATTENTION_STREAM])
    picked = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    return tuple(ids[i] for i in picked)
