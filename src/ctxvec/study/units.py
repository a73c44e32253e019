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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ctxvec.data import QADataset, Task, TextDataset, load_dataset, select_subsets
from ctxvec.errors import CtxvecError
from ctxvec.inference.measured import LAYER_METRICS, METRICS
from ctxvec.loading import (
    LoadedModel,
    ModelSpec,
    ResolvedModel,
    load_model,
    resolve_device,
    resolve_dtype,
)
from ctxvec.study.config import StudyConfig
from ctxvec.tasks.classify import ClsSettings, cls_scores, match_labels, predict_cls
from ctxvec.tasks.qa import QASettings, predict_qa, qa_scores

# Bumped whenever a change alters what a unit computes, so stale cached results are not reused.
UNIT_FORMAT = 3


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

    @property
    def key(self) -> str:
        blob = dataclasses.asdict(self)
        blob["format"] = UNIT_FORMAT
        # Labels and paths do not change what is computed; the fingerprints stand for content.
        blob["model"] = {"id": self.model.id, "revision": self.model.revision}
        for where in ("model_path", "data"):
            blob.pop(where)
        text = json.dumps(blob, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class UnitResult:
    """A computed (or cached) unit: its example rows and its summary (scores, metric means,
    pooled metrics, layers, kernels, skipped ids)."""

    unit: Unit
    rows: pd.DataFrame
    summary: dict[str, Any]
    seconds: float
    from_cache: bool = False


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
        )
        for m in models
        for k, idx in enumerate(subsets)
    ]


def run_unit(
    unit: Unit,
    dataset: QADataset | TextDataset | None = None,
    model: LoadedModel | None = None,
    progress: bool = True,
) -> UnitResult:
    """Compute one unit. ``dataset`` and ``model`` are reused when given, else loaded."""
    started = time.perf_counter()
    if dataset is None:
        dataset = load_dataset(unit.task, unit.data, unit.split)
    if dataset.fingerprint != unit.data_fingerprint:
        raise CtxvecError(
            f"data '{unit.data}' changed since the study was planned (fingerprint "
            f"{dataset.fingerprint} != {unit.data_fingerprint}); rerun the study"
        )
    if model is None:
        resolved = ResolvedModel(
            unit.model, unit.model_path, unit.model_revision, unit.model_fingerprint
        )
        model = load_model(resolved, unit.task, unit.device, unit.dtype, unit.allow_untrained_head)
    by_id = {e.id: e for e in dataset.examples}
    examples = [by_id[i] for i in unit.example_ids]
    if unit.task == "qa":
        settings = QASettings(**unit.settings)
        pred = predict_qa(model, examples, settings, progress=progress)
        summary = {"n": len(pred.rows), **qa_scores(pred.rows, settings.na_threshold)}
    else:
        settings = ClsSettings(**unit.settings)
        labels = match_labels(model.model.config.id2label, dataset, settings.label_names)
        pred = predict_cls(model, examples, labels, settings, progress=progress)
        summary = {
            "n": len(pred.rows),
            "n_truncated": int(pred.rows["truncated"].sum()),
            "positive": labels.positive,
            **cls_scores(pred.rows, labels.positive),
        }
    summary.update(_metric_means(pred.rows))
    summary.update(pred.pooled)
    summary["layers"] = list(pred.layers)
    summary["kernels"] = pred.kernels
    summary["by_layer"] = {
        name: np.mean(np.stack(pred.rows[f"{name}_by_layer"]), axis=0).tolist()
        for name in LAYER_METRICS
        if pred.layers and len(pred.rows)
    }
    summary.update(n_skipped=len(pred.skipped), skipped_ids=pred.skipped)
    rows = pred.rows
    rows.insert(0, "subset", unit.subset)
    rows.insert(0, "model", unit.model.label)
    return UnitResult(unit, rows, summary, time.perf_counter() - started)


def _metric_means(rows: pd.DataFrame) -> dict[str, float]:
    return {name: float(rows[name].mean()) for name in METRICS if name in rows}
