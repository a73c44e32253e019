"""The Ray side of :class:`~ctxvec.study.executors.RayExecutor`: connect, check, dispatch.

Ray is an optional dependency (``pip install "ctxvec[ray]"``), imported only here. A local Ray
started for a study binds to 127.0.0.1 and is shut down when the study ends. Each shard is a
Ray task; a worker process keeps the last model it loaded (Ray reuses worker processes), and
shards go out in model order, so a model is loaded about once per worker. A shard whose worker
process or node dies runs again elsewhere; after ``max_retries`` retries of one shard the study
stops with one line.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ctxvec.data import Dataset
from ctxvec.errors import CtxvecError, ParameterError
from ctxvec.study.executors import here
from ctxvec.study.shards import Shard, ShardResult, compute, load_unit_model

INSTALL_HINT = 'Ray is not installed; pip install "ctxvec[ray]" (or ray[default]>=2.60,<3)'


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
        # "local" starts a Ray of our own, even where `ray start` left a cluster (or the file
        # that names one) on this machine.
        address = "local"
        options.update(_node_ip_address="127.0.0.1", include_dashboard=False)
    else:
        _use_the_cluster_token()
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


def _use_the_cluster_token() -> None:
    """Send the cluster's token where one is here and the user set no mode.

    `ray start` (Ray 2.60) turns token authentication on and writes ``~/.ray/auth_token``, but
    a driver sends the token only with ``RAY_AUTH_MODE=token``; without it joining fails with
    "Missing authorization header". Ray's own rule (as its CLI applies it) is used: token mode
    when ``RAY_AUTH_MODE`` is unset and a token is found (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH`` or the default file). An explicit ``RAY_AUTH_MODE`` is respected.
    """
    from ray._private.authentication.authentication_token_setup import (
        maybe_enable_token_auth_if_token_available,
    )

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


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


# The model a Ray worker process loaded last: Ray reuses worker processes across tasks, so a
# worker given a model's shards one after another loads that model once.
_LOADED: dict[str, Any] = {}


def _run_shard(shard: Shard, data: Dataset, attempt: int) -> ShardResult:
    """A Ray task: one shard, with the worker process's model (loaded if it is another)."""
    import ray

    fingerprint = shard.unit.model_fingerprint
    if fingerprint not in _LOADED:
        _LOADED.clear()  # free the previous model first
        _LOADED[fingerprint] = load_unit_model(shard.unit)
    result = compute(shard, data, _LOADED[fingerprint], progress=False)
    result.where = {
        **here(),
        "node_id": ray.get_runtime_context().get_node_id(),
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
    """Run ``shards`` as Ray tasks of ``cpus`` CPUs and ``gpus`` GPUs each, in model order so
    that a worker process keeps its model; ``on_done`` runs here, in the driver.

    Retries are the driver's: a shard whose worker process or node died is submitted again
    (another worker, wherever Ray finds room), so the manifest knows every attempt.
    """
    if not shards:
        return
    resources = ray.cluster_resources()
    if resources.get("CPU", 0) < cpus or resources.get("GPU", 0) < gpus:
        raise ParameterError(
            "cpus_per_unit",
            f"({cpus:g}) and gpus_per_unit ({gpus:g}) ask for more than the Ray cluster has "
            f"({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs); lower them "
            "or add nodes",
            others=("gpus_per_unit",),
        )
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_run_shard)
    lost = (
        ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.LocalRayletDiedError,
        ray.exceptions.ObjectLostError,
    )
    running = {task.remote(s, data_of(s), 0): (s, 0) for s in shards}
    bar = tqdm(
        total=sum(len(s.example_ids) for s in shards),
        unit="ex",
        desc="ctxvec (ray)",
        disable=not progress,
    )
    finished = 0
    try:
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            shard, attempt = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except lost as e:
                if attempt >= max_retries:
                    raise CtxvecError(
                        f"{shard.unit.model.label} subset {shard.unit.subset} lost its worker "
                        f"{attempt + 1} times ({type(e).__name__}); check the cluster's nodes "
                        "and memory, or raise --max-retries"
                    ) from None
                running[task.remote(shard, data_of(shard), attempt + 1)] = (shard, attempt + 1)
                continue
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, CtxvecError):  # the user's mistake, found on a worker
                    raise CtxvecError(str(e.cause)) from None
                raise
            finished += 1
            bar.update(len(shard.example_ids))
            bar.set_postfix_str(f"{finished}/{len(shards)} shards")
            on_done(result)
    finally:
        bar.close()
        for ref in running:
            ray.cancel(ref, force=True)
