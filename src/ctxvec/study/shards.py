"""Shards: a unit's examples in consecutive blocks, computed apart and merged into the unit.

A unit of ``n`` examples with ``shard_size`` ``s`` has ``ceil(n / s)`` shards; without a shard
size it is one shard. Each shard's result holds its rows and its pooled sample
(:class:`~ctxvec.inference.summaries.PooledSample`, seeded by the example's place in the unit),
so :func:`merge` gives the unit exactly the rows, predictions and scores of an unsharded pass,
and its metrics up to float32 rounding (a batch's composition changes the summation order).
A shard carries the examples it needs (with ``standardise``, the unit's reference sample too:
every shard computes the same per-dimension statistics from it), so a worker on another machine
needs no copy of the data. Shards are cached on their own (:mod:`ctxvec.study.cache`).

With ``--attention-stats``, a shard also runs the unit's attention sample that falls in it
through the eager path, after the metric pass (:func:`ctxvec.tasks.heads.head_inputs`); the
per-input statistics are merged in the unit's order (:mod:`ctxvec.study.heads`), so sharding
does not change them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.data import Dataset
from ctxvec.errors import CtxvecError, require_at_least
from ctxvec.inference.measured import N_LAYERS, model_depth
from ctxvec.inference.summaries import PooledSample, pooled_metrics
from ctxvec.loading import LoadedModel, ResolvedModel, load_model, resolve_model
from ctxvec.loading.decoders import PAD_FALLBACK
from ctxvec.loading.stacks import STACK_STATE, measured_stack
from ctxvec.metrics.registry import EXAMPLE_METRICS, LAYER_METRICS
from ctxvec.study.heads import merge_heads
from ctxvec.study.units import INITIALISED, Unit, UnitResult, UnitSummary
from ctxvec.tasks.heads import HeadInputs, check_full_attention, eager_attention, head_inputs


@dataclass(frozen=True)
class Shard:
    """Examples ``first .. first + len(example_ids)`` of a unit."""

    unit: Unit
    index: int
    count: int
    first: int
    example_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        """The unit's key plus where the shard lies in it."""
        where = f"{self.unit.key}:{self.first}:{len(self.example_ids)}"
        return f"{self.unit.key}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"


@dataclass
class ShardResult:
    """One shard computed: its rows (example order), pooled sample, skipped ids, the task's
    state of the model (:attr:`~ctxvec.tasks.base.Predictions.state`, plus under
    ``"initialised"`` the model's freshly initialised weights,
    :attr:`~ctxvec.loading.LoadedModel.initialised`, and under ``"pad_fallback"`` its
    :attr:`~ctxvec.loading.LoadedModel.pad_fallback`: they travel and are cached with the state)
    and its part of the attention sample's statistics."""

    shard: Shard
    rows: pd.DataFrame
    sample: PooledSample | None
    skipped: list[str]
    layers: tuple[int, ...]
    kernels: dict[str, Any]
    seconds: float
    state: dict[str, Any] = field(default_factory=dict)
    where: dict[str, Any] = field(default_factory=dict)  # which machine computed it
    from_cache: bool = False
    heads: HeadInputs | None = None
    heads_seconds: float = 0.0


def split(unit: Unit, shard_size: int | None = None) -> list[Shard]:
    """The unit's shards: one, or consecutive blocks of ``shard_size`` examples."""
    ids = unit.example_ids
    size = len(ids) if shard_size is None else shard_size
    require_at_least("shard_size", size)
    starts = range(0, len(ids), size)
    return [
        Shard(unit, k, len(starts), start, tuple(ids[start : start + size]))
        for k, start in enumerate(starts)
    ]


def examples_of(shard: Shard, dataset: Dataset) -> Dataset:
    """The part of ``dataset`` a shard needs (what travels to a worker with it): its examples,
    then the reference examples it does not hold."""
    by_id = {e.id: e for e in dataset.examples}
    ids = dict.fromkeys([*shard.example_ids, *shard.unit.reference_ids])
    return shard.unit.task.part(dataset, [by_id[i] for i in ids])


def compute(shard: Shard, data: Dataset, lm: LoadedModel, progress: bool = True) -> ShardResult:
    """Run one shard's examples (``data``: from :func:`examples_of`) through the model."""
    started = time.perf_counter()
    unit = shard.unit
    task, settings = unit.task, unit.settings
    options = {}
    if unit.reference_ids:  # only then: a task that never standardises needs no such parameter
        by_id = {e.id: e for e in data.examples}
        options["reference"] = task.part(data, [by_id[i] for i in unit.reference_ids])
        data = task.part(data, [by_id[i] for i in shard.example_ids])
    if unit.attention_ids:
        check_full_attention(lm)  # before the pass: a refused model costs nothing
    pred = task.predict(lm, data, settings, progress, first_example=shard.first, **options)
    heads, heads_seconds = None, 0.0
    if unit.attention_ids:
        heads_started = time.perf_counter()
        wanted = set(unit.attention_ids)
        picked = [e for e in data.examples if e.id in wanted]  # in the unit's order
        limit, truncate = task.input_limit(settings)
        with eager_attention(lm):
            heads = head_inputs(
                lm, task.encode_one, picked, limit, truncate, kernels=settings.kernels == "auto"
            )
        heads_seconds = time.perf_counter() - heads_started
    return ShardResult(
        shard,
        pred.rows,
        pred.sample,
        pred.skipped,
        pred.layers,
        pred.kernels,
        time.perf_counter() - started,
        # What the loading did to the model, and which stack of how many layers was measured,
        # travel (and are cached) with the state.
        {
            **pred.state,
            INITIALISED: list(lm.initialised),
            PAD_FALLBACK: lm.pad_fallback,
            STACK_STATE: measured_stack(lm.model.config, settings.stack, causal=lm.causal),
            N_LAYERS: model_depth(lm, settings.stack),
        },
        heads=heads,
        heads_seconds=heads_seconds,
    )


def merge(unit: Unit, parts: Sequence[ShardResult]) -> UnitResult:
    """The unit's result from its shards' (in shard order): rows, scores and every metric."""
    parts = sorted(parts, key=lambda p: p.shard.index)
    rows = pd.concat([p.rows for p in parts], ignore_index=True)
    state = parts[0].state
    metrics = {name: float(rows[name].mean()) for name in EXAMPLE_METRICS if name in rows}
    samples = [p.sample for p in parts if p.sample is not None]
    sample = PooledSample.merge(samples) if samples else None
    if len(rows):
        labels = unit.task.class_labels(rows)
        metrics.update(pooled_metrics(sample, float(rows["self_similarity"].mean()), labels))
    layers = parts[0].layers
    summary = UnitSummary(
        n=len(rows),
        scores=unit.task.subset_scores(rows, unit.settings, state),
        metrics=metrics,
        layers=list(layers),
        by_layer={
            name: np.mean(np.stack(rows[f"{name}_by_layer"]), axis=0).tolist()
            for name in LAYER_METRICS
            if layers and len(rows)
        },
        kernels=parts[0].kernels,
        skipped_ids=[i for p in parts for i in p.skipped],
        shards=len(parts),
        state=state,
        attention=merge_heads(parts) if unit.attention_ids else None,
    )
    rows.insert(0, "subset", unit.subset)
    rows.insert(0, "model", unit.model.label)
    seconds = sum(p.seconds for p in parts)
    # The merged sample is in example order, as the rows are: its mean vectors are the rows'.
    vectors = sample.sentence.get("mean") if sample is not None else None
    return UnitResult(unit, rows, summary, seconds, parts=[p.where for p in parts], vectors=vectors)


def run_unit(
    unit: Unit,
    dataset: Dataset | None = None,
    model: LoadedModel | None = None,
    progress: bool = True,
    shard_size: int | None = None,
) -> UnitResult:
    """Compute one unit in this process, shard by shard. ``dataset`` and ``model`` are reused
    when given, else loaded from the unit's description."""
    if dataset is None:
        dataset = unit.task.load_data(unit.data, unit.split)
    if dataset.fingerprint != unit.data_fingerprint:
        raise CtxvecError(
            f"data '{unit.data}' changed since the study was planned (fingerprint "
            f"{dataset.fingerprint} != {unit.data_fingerprint}); rerun the study"
        )
    lm = model or load_unit_model(unit)
    parts = [compute(s, examples_of(s, dataset), lm, progress) for s in split(unit, shard_size)]
    return merge(unit, parts)


def load_unit_model(unit: Unit) -> LoadedModel:
    """The unit's model, from its files if they are here, else through the hub (its cache),
    checked against the fingerprint the study planned with."""
    resolved = ResolvedModel(
        unit.model, unit.model_path, unit.model_revision, unit.model_fingerprint
    )
    if not Path(unit.model_path).is_dir():
        resolved = resolve_model(unit.model)
        if resolved.fingerprint != unit.model_fingerprint:
            raise CtxvecError(
                f"model '{unit.model.label}' here is not the one the study planned with "
                f"({resolved.fingerprint} != {unit.model_fingerprint}); give the same revision"
            )
    return load_model(resolved, unit.task.head, unit.device, unit.dtype, unit.allow_untrained_head)
