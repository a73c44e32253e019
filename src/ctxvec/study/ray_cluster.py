"""The Ray side of :class:`~ctxvec.study.executors.RayExecutor`: connect, check, dispatch.

Ray is an optional dependency (``pip install "ctxvec[ray]"``), imported only here. A local Ray
started for a study binds to 127.0.0.1 and is shut down when the study ends. Workers are
actors (:class:`_Worker`) that keep the last model they loaded; the driver gives an idle worker
a shard of the model it holds when there is one, else of a model no other worker is busy with,
else any shard, so each model is loaded about once per worker. A worker that dies (its process
or its node) is replaced by a new actor and its shard runs again; after ``max_retries`` failed
attempts of one shard the study stops with one line.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ctxvec.errors import CtxvecError
from ctxvec.study.shards import Shard, ShardResult, compute, load_unit_model

INSTALL_HINT = 'Ray is not installed; pip install "ctxvec[ray]" (or ray[default]>=2.40)'


@contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """The ``ray`` module, connected to ``address`` or to a local Ray started (and stopped)
    here; an existing connection of the caller's is used as it is."""
    try:
        import ray
    except ImportError:
        raise CtxvecError(INSTALL_HINT) from None
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address is None:
        options.update(_node_ip_address="127.0.0.1", include_dashboard=False)
    try:
        ray.init(address=address, **options)
    except ConnectionError as e:
        raise CtxvecError(
            f"cannot reach a Ray cluster at '{address}' ({str(e).splitlines()[0]}); start one "
            "with `ray start --head`, or leave out --address to start a local one"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _local_folders(shards: Sequence[Shard]) -> dict[str, str]:
    """Label -> folder of each model given as a local folder (hub models resolve anywhere)."""
    return {
        s.unit.model.label: s.unit.model_path
        for s in shards
        if s.unit.model_revision is None  # a folder, not a hub snapshot
    }


def check_models_reachable(ray: Any, shards: Sequence[Shard]) -> None:
    """Refuse, before anything runs, a local model folder that some node cannot see."""
    folders = _local_folders(shards)
    if not folders:
        return
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    def missing(paths: dict[str, str]) -> tuple[str, list[str]]:
        return platform.node(), [m for m, p in paths.items() if not Path(p).is_dir()]

    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    checks = [
        missing.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
            folders
        )
        for n in nodes
    ]
    for node, absent in ray.get(checks):
        if absent:
            raise CtxvecError(
                f"model folder '{folders[absent[0]]}' is not on cluster node {node}; copy it to "
                "the same path on every node, put it on a shared filesystem, or use a hub id"
            )


def check_models_fit(ray: Any, shards: Sequence[Shard], gpus: float) -> None:
    """Refuse a model whose weights alone exceed the memory of one GPU, before it loads."""

    @ray.remote(num_gpus=min(gpus, 1.0), num_cpus=0)
    def gpu_bytes() -> int:
        import torch

        return torch.cuda.get_device_properties(0).total_memory

    memory = ray.get(gpu_bytes.remote()) * max(gpus, 1.0)
    for label, folder in _local_folders(shards).items():
        weights = sum(f.stat().st_size for f in Path(folder).glob("*.safetensors"))
        if weights > 0.9 * memory:
            raise CtxvecError(
                f"model '{label}' has {weights / 2**30:.1f} GiB of weights, more than one "
                f"worker's GPU memory ({memory / 2**30:.1f} GiB); raise --gpus-per-unit or use "
                "a smaller model"
            )


class _Worker:
    """A Ray actor: computes shards, keeping the last model it loaded."""

    def __init__(self) -> None:
        self.fingerprint: str | None = None
        self.lm = None

    def run(self, shard: Shard, data: Any, attempt: int) -> ShardResult:
        import ray

        if self.fingerprint != shard.unit.model_fingerprint:
            self.lm = None
            self.lm = load_unit_model(shard.unit)
            self.fingerprint = shard.unit.model_fingerprint
        result = compute(shard, data, self.lm, progress=False)
        context = ray.get_runtime_context()
        result.where = {
            "node": platform.node(),
            "node_id": context.get_node_id(),
            "pid": os.getpid(),
            "retries": attempt,
        }
        return result


def dispatch(
    ray: Any,
    shards: Sequence[Shard],
    data_of: Callable[[Shard], Any],
    on_done: Callable[[ShardResult], None],
    cpus: float,
    gpus: float,
    max_retries: int,
    progress: bool,
) -> None:
    """Run ``shards`` on ``min(shards, cluster capacity)`` workers; ``on_done`` in the driver."""
    if not shards:
        return
    resources = ray.cluster_resources()
    capacity = int(resources.get("CPU", 1) // cpus) if cpus else len(shards)
    if gpus:
        capacity = min(capacity, int(resources.get("GPU", 0) // gpus))
    if capacity < 1:
        raise CtxvecError(
            f"the Ray cluster ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} "
            f"GPUs) cannot hold one worker of {cpus:g} CPUs and {gpus:g} GPUs; lower "
            "--cpus-per-unit/--gpus-per-unit or add nodes"
        )
    actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=0)(_Worker)
    todo = list(shards)
    attempts = {s.key: 0 for s in shards}
    idle = [actor_class.remote() for _ in range(min(capacity, len(shards)))]
    holding: dict[Any, str] = {}  # actor -> fingerprint of its model
    running: dict[Any, tuple[Any, Shard]] = {}  # result ref -> (actor, shard)
    total = sum(len(s.example_ids) for s in shards)
    bar = tqdm(total=total, unit="ex", desc="ctxvec (ray)", disable=not progress)
    try:
        while todo or running:
            while idle and todo:
                actor = idle.pop()
                shard = _next_for(actor, todo, holding, running)
                todo.remove(shard)
                holding[actor] = shard.unit.model_fingerprint
                ref = actor.run.remote(shard, data_of(shard), attempts[shard.key])
                running[ref] = (actor, shard)
            ready, _ = ray.wait(list(running), num_returns=1)
            actor, shard = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError) as e:
                attempts[shard.key] += 1
                if attempts[shard.key] > max_retries:
                    raise CtxvecError(
                        f"{shard.unit.model.label} subset {shard.unit.subset} lost its worker "
                        f"{attempts[shard.key]} times ({type(e).__name__}); check the cluster's "
                        "nodes and memory, or raise --max-retries"
                    ) from None
                holding.pop(actor, None)
                todo.insert(0, shard)
                idle.append(actor_class.remote())  # a new worker, placed where there is room
                continue
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if hasattr(e, "cause") else None
                if isinstance(cause, CtxvecError):
                    raise CtxvecError(str(cause)) from None
                raise
            idle.append(actor)
            bar.update(len(shard.example_ids))
            on_done(result)
    finally:
        bar.close()
        for ref in running:
            ray.cancel(ref, force=True)
        for actor in [*idle, *(a for a, _ in running.values())]:
            ray.kill(actor)


def _next_for(
    actor: Any, todo: list[Shard], holding: dict[Any, str], running: dict[Any, tuple[Any, Shard]]
) -> Shard:
    """The shard an idle worker takes: of its model, else of a model nobody works on."""
    held = holding.get(actor)
    for shard in todo:
        if shard.unit.model_fingerprint == held:
            return shard
    busy = {s.unit.model_fingerprint for _, s in running.values()} | set(holding.values())
    for shard in todo:
        if shard.unit.model_fingerprint not in busy:
            return shard
    return todo[0]
