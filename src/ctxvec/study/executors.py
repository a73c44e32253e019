"""Where a study's shards are computed: in this process, or across a Ray cluster.

Both executors take the shards still to compute and call ``on_done`` with each
:class:`~ctxvec.study.shards.ShardResult` as it finishes, in this (the driver's) process, which
alone writes the cache and the output folder. Neither changes what a shard computes.

- :class:`LocalExecutor` runs the shards one model at a time, each model loaded once.
- :class:`RayExecutor` runs them on Ray (https://docs.ray.io): a local Ray started for the
  study, or an existing cluster (``address="auto"`` or ``"HOST:PORT"``). Each shard is a Ray
  task of ``cpus_per_unit`` CPUs and ``gpus_per_unit`` GPUs; a worker process keeps the model it
  loaded and shards go out model by model, so a checkpoint is loaded about once per worker, not
  once per shard. A shard carries its examples (through Ray's object store), so workers need no
  copy of the data; hub models are loaded from each worker's hub cache, and a local model
  folder must exist on every node (checked before anything runs). A shard whose worker process
  or node dies runs again elsewhere, up to ``max_retries`` times; a user error in a shard
  (``CtxvecError``) stops the study with its line.

Left out: a scheduler of ctxvec's own (Ray places the tasks), autoscaling and object spilling
settings (the cluster's), and GPU memory sharing between shards (one shard per GPU).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ctxvec.data import Dataset
from ctxvec.errors import ParameterError, require_at_least, require_one_of
from ctxvec.loading import LoadedModel
from ctxvec.study.shards import Shard, ShardResult, compute, examples_of, load_unit_model

ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = ("local", "ray")
OnDone = Callable[[ShardResult], None]


def here() -> dict[str, Any]:
    """Where this process runs, for the manifest."""
    return {"node": platform.node(), "pid": os.getpid(), "retries": 0}


@dataclass
class LocalExecutor:
    """Every shard in this process, model by model."""

    name: str = "local"

    def run(
        self,
        shards: Sequence[Shard],
        dataset: Dataset,
        on_done: OnDone,
        progress: bool = True,
    ) -> None:
        loaded: tuple[str, LoadedModel] | None = None
        for shard in shards:
            fingerprint = shard.unit.model_fingerprint
            if loaded is None or loaded[0] != fingerprint:
                loaded = None  # free the previous model before loading the next
                loaded = (fingerprint, load_unit_model(shard.unit))
            result = compute(shard, examples_of(shard, dataset), loaded[1], progress)
            result.where = here()
            on_done(result)

    def describe(self) -> dict[str, Any]:
        return {"executor": "local", "node": platform.node()}


@dataclass
class RayExecutor:
    """The shards on a Ray cluster: started here (``address=None``) or joined."""

    address: str | None = None
    cpus_per_unit: float = 1.0
    gpus_per_unit: float | None = None  # None: 1 where the cluster has GPUs, else 0
    max_retries: int = 2
    name: str = "ray"
    _resources: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.cpus_per_unit <= 0:
            raise ParameterError("cpus_per_unit", f"must be positive, got {self.cpus_per_unit}")
        if self.gpus_per_unit is not None and self.gpus_per_unit < 0:
            raise ParameterError("gpus_per_unit", f"must be 0 or more, got {self.gpus_per_unit}")
        require_at_least("max_retries", self.max_retries, 0)

    def run(
        self,
        shards: Sequence[Shard],
        dataset: Dataset,
        on_done: OnDone,
        progress: bool = True,
    ) -> None:
        from ctxvec.study import ray_cluster

        with ray_cluster.connected(self.address) as ray:
            self._resources = dict(ray.cluster_resources())
            gpus = self.gpus_per_unit
            if gpus is None:
                gpus = 1.0 if self._resources.get("GPU", 0) >= 1 else 0.0
            ray_cluster.check_models_reachable(ray, shards)
            if gpus:
                ray_cluster.check_models_fit(ray, shards, gpus)
            ray_cluster.dispatch(
                ray,
                shards,
                lambda s: examples_of(s, dataset),
                on_done,
                cpus=self.cpus_per_unit,
                gpus=gpus,
                max_retries=self.max_retries,
                progress=progress,
            )

    def describe(self) -> dict[str, Any]:
        return {
            "executor": "ray",
            "address": self.address or "local",
            "cluster_resources": self._resources,
            "cpus_per_unit": self.cpus_per_unit,
            "gpus_per_unit": self.gpus_per_unit,
            "max_retries": self.max_retries,
        }


def make_executor(
    name: str = "local",
    address: str | None = None,
    cpus_per_unit: float = 1.0,
    gpus_per_unit: float | None = None,
    max_retries: int = 2,
) -> LocalExecutor | RayExecutor:
    """The executor a user named (``--executor``)."""
    require_one_of("executor", name, EXECUTORS)
    if name == "local":
        if address is not None:
            raise ParameterError("address", "needs executor ray", others=("executor",))
        return LocalExecutor()
    return RayExecutor(address, cpus_per_unit, gpus_per_unit, max_retries)
