"""``manifest.json``: everything needed to reproduce a study's numbers.

The resolved config, the task's title and description, each model's path, revision,
fingerprint and attributes, the dataset's fingerprint, device, dtype, threads, package
versions, the executor (and a cluster's resources), and per unit its key, timing, skipped
examples, which CPU kernels ran, its shards and where each ran.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ctxvec.data import Dataset
from ctxvec.inference.measured import N_LAYERS
from ctxvec.loading import ResolvedModel, resolve_device, resolve_dtype
from ctxvec.loading.decoders import PAD_FALLBACK
from ctxvec.loading.stacks import STACK_STATE
from ctxvec.study.config import StudyConfig
from ctxvec.study.units import UNIT_FORMAT, UnitResult, initialised_weights
from ctxvec.tasks import get_task

ATTENTION_RECORD = ("used", "skipped", "seconds")


def manifest(
    config: StudyConfig,
    dataset: Dataset,
    resolved: Sequence[ResolvedModel],
    results: Sequence[UnitResult],
    figures: Sequence[Path],
    started: float,
    execution: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest; ``execution`` says where the units ran (executor, cluster resources,
    shard size)."""
    import torch

    device = resolve_device(config.device)
    task = get_task(config.task)
    return {
        "ctxvec_format": UNIT_FORMAT,
        "config": dataclasses.asdict(config),
        # What the report says of the task, so that it can be rebuilt from the folder alone.
        "task": {"name": task.name, "title": task.title, "description": task.description},
        "models": [
            {
                "name": m.spec.label,
                "id": m.spec.id,
                "path": m.path,
                "revision": m.revision,
                "fingerprint": m.fingerprint,
                # What the panel says of the model (family, steps, ...): the confounds' controls.
                "attributes": m.spec.attribute_map,
                # Weights not in the checkpoint, run random (--allow-untrained-head); null: unknown.
                "initialised": initialised_weights(results).get(m.spec.label, []),
                # How a tokenizer without a pad token got one (docs/metrics.md, "Decoders"),
                # which stack was measured (docs/metrics.md, "Encoder-decoders") and its depth.
                **{
                    key: next(
                        (r.summary.state.get(key) for r in results if r.unit.model == m.spec),
                        None,
                    )
                    for key in (PAD_FALLBACK, STACK_STATE, N_LAYERS)
                },
            }
            for m in resolved
        ],
        "dataset": {
            "source": dataset.source,
            "split": config.split,
            "fingerprint": dataset.fingerprint,
            "n_examples": len(dataset),
        },
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "dtype": str(resolve_dtype(config.dtype, device)).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "execution": execution or {"executor": "local"},
        "units": [
            {
                "model": r.unit.model.label,
                "subset": r.unit.subset,
                "key": r.unit.key,
                "seconds": round(r.seconds, 3),
                "from_cache": r.from_cache,
                "n_skipped": r.summary.n_skipped,
                "skipped_ids": r.summary.skipped_ids,
                "cpu_kernels": r.summary.kernels,
                "shards": r.summary.shards,
                # Where each shard ran and how often it was retried (this run's, not cached).
                "ran_on": r.parts,
                # --attention-stats: the sampled examples measured, those too long, the time.
                **(
                    {"attention": {k: r.summary.attention[k] for k in ATTENTION_RECORD}}
                    if r.summary.attention is not None
                    else {}
                ),
            }
            for r in results
        ],
        "figures": [p.name for p in figures],
        "seconds_total": round(time.perf_counter() - started, 3),
    }


def _versions() -> dict[str, str]:
    names = [
        "ctxvec",
        "torch",
        "transformers",
        "tokenizers",
        "numpy",
        "scipy",
        "scikit-learn",
        "pandas",
        "pyarrow",
        "matplotlib",
        "statsmodels",
    ]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
