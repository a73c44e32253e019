"""Units of work: one (model, subset) each, planned from a config and computed on their own.

A :class:`Unit` is a JSON-serialisable description holding everything needed to compute it
(model and its content fingerprint, data source and fingerprint, the subset's example ids, task
settings, device, dtype), so :func:`run_unit` can compute it from that description alone, on
this machine or another. Its :attr:`Unit.key` is a hash of what it computes, not of where its
files are, and names its cached result (:mod:`ctxvec.study.cache`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.data import Dataset, select_subsets
from ctxvec.inference.forward import PassSettings
from ctxvec.loading import (
    ModelSpec,
    ResolvedModel,
    resolve_device,
    resolve_dtype,
)
from ctxvec.study.config import StudyConfig
from ctxvec.tasks import Task, get_task

# Bumped whenever a change alters what a unit computes or how its result is stored, so stale
# cached results are not reused.
UNIT_FORMAT = 5
# Seeds the attention sample apart from the subsets' draw (any fixed number would do).
_ATTENTION_STREAM = 0x617474
# With standardise: the examples whose measured tokens give each dimension's mean and standard
# deviation. 64 inputs hold thousands of tokens (tens per example even for short texts), enough
# for a per-dimension mean and deviation within a few percent, at the cost of about two extra
# batches per shard.
REFERENCE_SIZE = 64
_REFERENCE_STREAM = 0x726566
# The key of a unit's state that lists its model's freshly initialised weights.
INITIALISED = "initialised"


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
    settings: PassSettings
    device: str
    dtype: str
    allow_untrained_head: bool
    # The examples whose per-head attention statistics the unit computes (--attention-stats).
    attention_ids: tuple[str, ...] = ()
    # With settings.standardise, the reference sample (reference_sample): the same for every
    # unit of a study, so neither the subset nor the sharding changes the statistics.
    reference_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The unit as JSON data (the task by its name, the settings as their fields)."""
        blob = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        blob.update(
            task=self.task.name,
            model=dataclasses.asdict(self.model),
            settings=dataclasses.asdict(self.settings),
        )
        return blob

    @functools.cached_property
    def key(self) -> str:
        """A hash of what the unit computes; computed once (shards and cache paths ask often)."""
        blob = self.to_json()
        blob["format"] = UNIT_FORMAT
        # Units without attention statistics or a reference sample keep their old keys.
        for optional in ("attention_ids", "reference_ids"):
            if not blob[optional]:
                blob.pop(optional)
        # Labels and paths do not change what is computed; the fingerprints stand for content.
        blob["model"] = {"id": self.model.id, "revision": self.model.revision}
        for where in ("model_path", "data"):
            blob.pop(where)
        text = json.dumps(blob, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class UnitSummary:
    """What a unit's rows add up to: the ``subsets.csv`` row and what the other outputs need.

    Attributes:
        n: examples that ran.
        scores: the task's columns (:attr:`ctxvec.tasks.base.Task.columns`; scores x100).
        metrics: means of the per-example metrics and the pooled subset metrics.
        layers: the extra layers measured; ``by_layer``: per metric in
            :data:`~ctxvec.metrics.registry.LAYER_METRICS`, its mean at each of them.
        kernels: which CPU kernels ran.
        skipped_ids: examples left out (baseline-compat mode), never silently.
        shards: how many shards the unit was computed in.
        state: the task's state of the model (:attr:`ctxvec.tasks.base.Predictions.state`),
            and under :data:`INITIALISED` the model's freshly initialised weights.
        attention: with ``attention_ids``, the attention sample's statistics
            (:func:`ctxvec.study.heads.merge_heads`).
    """

    n: int
    scores: dict[str, float]
    metrics: dict[str, float]
    layers: list[int] = field(default_factory=list)
    by_layer: dict[str, list[float]] = field(default_factory=dict)
    kernels: dict[str, Any] = field(default_factory=dict)
    skipped_ids: list[str] = field(default_factory=list)
    shards: int = 1
    state: dict[str, Any] = field(default_factory=dict)
    attention: dict[str, Any] | None = None

    @property
    def n_skipped(self) -> int:
        return len(self.skipped_ids)

    def row(self) -> dict[str, Any]:
        """``subsets.csv``'s values (without the model and subset)."""
        return {"n": self.n, "n_skipped": self.n_skipped, **self.scores, **self.metrics}

    def value(self, name: str) -> float:
        """A score or a metric by name."""
        return self.scores[name] if name in self.scores else self.metrics[name]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, blob: dict[str, Any]) -> UnitSummary:
        """The inverse of :meth:`to_json`; strict JSON wrote undefined values (NaN) as null."""
        numbers = {k: _nan(v) for k, v in blob["metrics"].items()}
        scores = {k: _nan(v) for k, v in blob["scores"].items()}
        by_layer = {k: [_nan(v) for v in vs] for k, vs in blob["by_layer"].items()}
        return cls(**{**blob, "metrics": numbers, "scores": scores, "by_layer": by_layer})


def initialised_weights(results: Sequence[UnitResult]) -> dict[str, list[str] | None]:
    """Each model's freshly initialised weights (by label, in the units' order): the names its
    units recorded, or None when a unit cached before they were recorded had allowed an
    untrained head (one that had not could have none)."""
    found: dict[str, list[str] | None] = {}
    for r in results:
        label, names = r.unit.model.label, r.summary.state.get(INITIALISED)
        if names is None and r.unit.allow_untrained_head:
            found[label] = None
        elif found.get(label, []) is not None:
            found[label] = sorted({*found.get(label, []), *(names or [])})
    return found


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


@dataclass
class UnitResult:
    """A computed (or cached) unit: its example rows and its summary."""

    unit: Unit
    rows: pd.DataFrame
    summary: UnitSummary
    seconds: float
    from_cache: bool = False
    # Where each shard ran ({"node": ..., "pid": ..., "retries": ...}); empty for cached units.
    parts: list[dict[str, Any]] = field(default_factory=list)
    # [n, hidden] float32: each example's mean sentence vector, in the rows' order (what the
    # cross-model similarity compares, ctxvec.study.similarity); None when nothing was pooled.
    vectors: np.ndarray | None = None


def plan_units(
    config: StudyConfig,
    dataset: Dataset,
    models: Sequence[ResolvedModel],
) -> list[Unit]:
    """The study's units, model by model, subset by subset (``config``: resolved,
    :meth:`StudyConfig.resolved`)."""
    if config.settings is None or config.subsets is None:
        raise ValueError("plan_units needs a resolved config: pass config.resolved()")
    task = get_task(config.task)
    pool = task.pool(dataset, config.settings)
    subsets = select_subsets(
        len(pool), config.subsets, config.subset_size, config.seed, config.subset_starts
    )
    device = resolve_device(config.device)
    dtype = str(resolve_dtype(config.dtype, device)).removeprefix("torch.")
    standardise = config.settings.standardise
    reference = reference_sample([e.id for e in pool], config.seed) if standardise else ()
    return [
        Unit(
            task=task,
            model=m.spec,
            model_path=m.path,
            model_revision=m.revision,
            model_fingerprint=m.fingerprint,
            subset=k,
            data=config.data,
            split=config.split,
            data_fingerprint=dataset.fingerprint,
            example_ids=tuple(pool[i].id for i in idx),
            settings=config.settings,
            device=str(device),
            dtype=dtype,
            allow_untrained_head=config.allow_untrained_head,
            attention_ids=attention_sample(
                [pool[i].id for i in idx], config.attention_stats, config.seed, k
            ),
            reference_ids=reference,
        )
        for m in models
        for k, idx in enumerate(subsets)
    ]


def reference_sample(ids: Sequence[str], seed: int, n: int = REFERENCE_SIZE) -> tuple[str, ...]:
    """A seeded sample of ``n`` of the pool's example ids, in the pool's order: the reference
    of ``standardise``, drawn apart from the subsets (it may share examples with them)."""
    rng = np.random.default_rng([seed, _REFERENCE_STREAM])
    picked = np.sort(rng.choice(len(ids), size=min(n, len(ids)), replace=False))
    return tuple(ids[i] for i in picked)


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
