"""Studies on a real Ray: an in-process local Ray, and a two-node cluster on this machine.

Run by ``tests/study/test_ray.py`` inside a private network namespace that has only a loopback
interface, so that every Ray server binds to 127.0.0.1 (outside one, Ray replaces 127.0.0.1
with the machine's outward address) and no traffic can leave the machine. Every node is started
here with ``ray start --block --node-ip-address 127.0.0.1 --num-cpus 1`` in a session of its
own and stopped by killing that session's processes, also when a test fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from media_models import build_media_checkpoint
from sample_data import reviews, squad_json
from tiny_models import FAMILIES
from transformers import AutoConfig

from ctxvec import ClsSettings, ModelSpec, QASettings, StudyConfig, run_study
from ctxvec.study.executors import RayExecutor
from ctxvec.tasks.media import MediaSettings

NODE = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]


def quiet(*_: object) -> None:
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The head notices a dead node after two missed health checks a second apart (Ray's default
# waits about a minute), so the killed-node check does not sit idle.
FAST_HEALTH_CHECKS = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_failure_threshold": "2",
}


def start_node(processes, *args: str) -> subprocess.Popen:
    return processes.start(
        processes.ray, "start", *NODE, *args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=processes.env(**FAST_HEALTH_CHECKS),
        start_new_session=True,  # its processes share a session we can kill as a whole
    )  # fmt: skip


def stop_node(node: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(node.pid, signal.SIGKILL)
    node.wait()


def wait_for_cpus(processes, address: str, cpus: int, timeout: float = 90) -> None:
    # A plain driver joins a token-mode cluster only with RAY_AUTH_MODE=token.
    probe = (
        "import ray, sys, time; ray.init(address=sys.argv[1], log_to_driver=False); "
        f"[time.sleep(0.5) for _ in range({int(timeout * 2)}) "
        f"if ray.cluster_resources().get('CPU', 0) < {cpus}]; "
        f"sys.exit(ray.cluster_resources().get('CPU', 0) < {cpus})"
    )
    env = processes.env(RAY_AUTH_MODE="token")
    processes.run(processes.python, "-c", probe, address, check=True, timeout=timeout + 30, env=env)


def ensure_a_token(processes) -> None:
    """A token at Ray's default path, as any earlier local Ray of 2.59+ leaves one: `ray start`
    then turns token authentication on, which a driver must follow (docs/cluster.md)."""
    if not (Path.home() / ".ray" / "auth_token").is_file():
        processes.run(processes.ray, "get-auth-token", "--generate", check=True, timeout=60)


@pytest.fixture(scope="module")
def cluster(processes):
    """A head node and a worker node, one CPU each, bound to 127.0.0.1, in token mode."""
    ensure_a_token(processes)
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = start_node(processes, "--head", "--port", str(port), "--include-dashboard", "false")
    nodes = [head]
    try:
        wait_for_cpus(processes, address, 1)
        nodes.append(start_node(processes, "--address", address))
        wait_for_cpus(processes, address, 2)
        yield address, nodes
    finally:
        for node in reversed(nodes):
            stop_node(node)


def config(task: str, root: Path, tiny_model, families=FAMILIES, subsets=4) -> StudyConfig:
    if task == "qa":
        data, settings, size = squad_json(root / "dev.json", copies=2), QASettings(), 4
    else:
        data, settings, size = reviews(root / "r.parquet", ["neg", "pos"] * 12), ClsSettings(), 6
    models = tuple(ModelSpec(str(tiny_model(f, task)), f) for f in families)
    return StudyConfig(
        figures=(),
        task=task,
        models=models,
        data=str(data),
        subsets=subsets,
        subset_size=size,
        settings=settings,
        device="cpu",
        dtype="float32",
    )


@pytest.fixture(scope="session")
def assert_equal_outputs(assert_close):
    """``assert_equal_outputs(a, b, tol=1e-6)``: two run folders hold the same files, columns
    and rows; numbers within ``tol``."""
    return lambda a, b, tol=1e-6: _assert_equal_outputs(assert_close, a, b, tol)


def _assert_equal_outputs(assert_close, a: Path, b: Path, tol: float) -> None:
    for name in ("examples.parquet", "subsets.csv", "models.csv", "attention.csv"):
        if name == "attention.csv" and not (b / name).exists():
            continue
        read = pd.read_parquet if name.endswith("parquet") else pd.read_csv
        x, y = read(a / name), read(b / name)
        assert list(x.columns) == list(y.columns) and len(x) == len(y), name
        for column in x.columns:
            if pd.api.types.is_numeric_dtype(x[column]) and x[column].dtype != bool:
                np.testing.assert_allclose(x[column], y[column], rtol=tol, atol=tol)
            else:
                assert x[column].astype(str).tolist() == y[column].astype(str).tolist(), column
    got, want = (json.loads((p / "correlations.json").read_text()) for p in (a, b))
    assert_close(got, want, tol, "correlations")
    assert {p.name for p in a.iterdir()} == {p.name for p in b.iterdir()}


def test_every_family_qa_on_a_local_ray_equals_the_local_executor(
    tmp_path, tiny_model, assert_equal_outputs
):
    """The executor starts (and stops) a local Ray of this machine's CPUs."""
    study = config("qa", tmp_path, tiny_model, subsets=2)
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    result = run_study(study, tmp_path / "ray", progress=False, log=quiet, executor=RayExecutor())
    assert_equal_outputs(tmp_path / "ray", tmp_path / "local")
    assert result.manifest["execution"]["executor"] == "ray"
    workers = {u["ran_on"][0]["pid"] for u in result.manifest["units"]}
    assert os.getpid() not in workers


def test_every_family_cls_on_a_cluster_equals_the_local_executor(
    cluster, tmp_path, tiny_model, assert_equal_outputs
):
    study = config("cls", tmp_path, tiny_model, subsets=2)
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    executor = RayExecutor(cluster[0])
    result = run_study(study, tmp_path / "ray", progress=False, log=quiet, executor=executor)
    assert_equal_outputs(tmp_path / "ray", tmp_path / "local")
    assert result.manifest["execution"]["cluster_resources"]["CPU"] == 2


def test_an_image_study_sharded_on_a_cluster_equals_the_local_executor(
    cluster, tmp_path, assert_equal_outputs
):
    """ViT-like (patches after [CLS]) and Swin-like (per stage) models on the digits, with the
    per-layer curves, in shards of 7 images."""
    models = []
    for model_type in ("vit", "swin"):
        path = build_media_checkpoint(model_type, tmp_path / model_type, num_labels=10)
        config = AutoConfig.from_pretrained(path)
        config.id2label = {i: str(i) for i in range(10)}
        config.label2id = {str(i): i for i in range(10)}
        config.save_pretrained(path)
        models.append(ModelSpec(str(path), model_type))
    study = StudyConfig(
        figures=(), task="image", models=tuple(models), data="sklearn-digits", subsets=2,
        subset_size=12, settings=MediaSettings(layers="all"), device="cpu", dtype="float32",
    )  # fmt: skip
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    executor = RayExecutor(cluster[0])
    result = run_study(
        study, tmp_path / "ray", progress=False, log=quiet, executor=executor, shard_size=7
    )
    assert_equal_outputs(tmp_path / "ray", tmp_path / "local")
    assert {u["shards"] for u in result.manifest["units"]} == {2}


def test_the_cli_joins_a_ray_start_cluster_and_shards_units_without_ray_variables(
    cluster, tmp_path, tiny_model, processes, markers, assert_equal_outputs
):
    """As docs/cluster.md says: `ray start` nodes (token mode), then `ctxvec study ...
    --address HOST:PORT` from an environment that sets no RAY_AUTH_MODE. Its sharded units (with
    attention statistics, which travel back with the shards) equal unsharded local ones."""
    address, _ = cluster
    study = config("qa", tmp_path, tiny_model, families=("bert", "xlnet"), subsets=2)
    study = dataclasses.replace(study, attention_stats=3)
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    panel = tmp_path / "panel.toml"
    panel.write_text(
        "".join(f'[[models]]\nid = "{m.id}"\nname = "{m.name}"\n' for m in study.models)
    )
    env = {k: v for k, v in processes.env().items() if not k.startswith("RAY_AUTH")}
    args = ["study", "qa", "--data", study.data, "--out", str(tmp_path / "ray")]
    args += ["--quiet", "--figures", "none", "--panel", str(panel)]
    args += ["--subsets", "2", "--subset-size", "4", "--dtype", "float32", "--device", "cpu"]
    args += ["--executor", "ray", "--address", address, "--shard-size", "3"]
    run = processes.run(processes.ctxvec, *args, "--attention-stats", "3", env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_equal_outputs(tmp_path / "ray", tmp_path / "local")
    result = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert result["execution"]["executor"] == "ray" and result["execution"]["shard_size"] == 3
    assert {u["shards"] for u in result["units"]} == {2}
    nodes = {p["node_id"] for u in result["units"] for p in u["ran_on"]}
    assert len(nodes) == 2  # both nodes worked
    assert len(markers(tmp_path / "ray" / "units" / "shards")) == 8


def test_a_killed_worker_node_loses_nothing(
    cluster, tmp_path, tiny_model, processes, markers, assert_equal_outputs
):
    """``kill -9`` of the worker node's processes mid-study: the study still finishes, equal to
    an uninterrupted run, and no unit finished before the kill is computed again."""
    address, nodes = cluster
    study = config("cls", tmp_path, tiny_model, families=("bert", "roberta", "albert"))
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    units = tmp_path / "ray" / "units"
    before: dict[Path, int] = {}  # unit and shard markers stored before the kill

    def kill_worker_after_first_unit() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not markers(units, below=True):
            time.sleep(0.02)
        before.update({p: p.stat().st_mtime_ns for p in markers(units, below=True)})
        stop_node(nodes[1])

    killer = threading.Thread(target=kill_worker_after_first_unit)
    killer.start()
    # Shards of two examples: both nodes always have one running, so the kill lands mid-shard.
    executor = RayExecutor(address)
    result = run_study(
        study, tmp_path / "ray", progress=False, log=quiet, executor=executor, shard_size=2
    )
    killer.join()
    assert before, "the worker node should die after the first unit"
    assert_equal_outputs(tmp_path / "ray", tmp_path / "local")
    for marker, mtime in before.items():  # stored once, never recomputed
        assert marker.stat().st_mtime_ns == mtime
    assert nodes[1].poll() is not None  # the worker node's processes are gone
    # The kill came mid-study: most markers were written after it. Whether a shard was running
    # on the node at that instant is Ray's scheduling; when one was, it ran again (retries).
    assert len(before) < len(markers(units, below=True)) / 2, len(before)
    retried = [p for u in result.manifest["units"] for p in u["ran_on"] if p["retries"]]
    print(f"shards retried after the worker node died: {len(retried)}")
    nodes[1] = start_node(processes, "--address", address)  # for the tests after this one
    wait_for_cpus(processes, address, 2)


DRIVER = """
import sys
import pickle
from ctxvec.study.executors import RayExecutor
from ctxvec.tasks.media import MediaSettings
study, out, address = pickle.load(open(sys.argv[1], "rb"))
from ctxvec import run_study
run_study(study, out, progress=False, log=print, executor=RayExecutor(address))
"""


def test_a_killed_driver_resumes_without_recomputing(
    cluster, tmp_path, tiny_model, processes, markers, assert_equal_outputs
):
    import pickle

    address, _ = cluster
    study = config("qa", tmp_path, tiny_model, families=("bert", "electra", "deberta-v2"))
    run_study(study, tmp_path / "local", progress=False, log=quiet)
    out = tmp_path / "ray"
    args = tmp_path / "args.pkl"
    args.write_bytes(pickle.dumps((study, out, address)))
    env = processes.env(PYTHONPATH=str(Path(__file__).resolve().parents[1]))  # tests/
    driver = processes.start(processes.python, "-c", DRIVER, str(args), env=env)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(markers(out / "units")) < 2:
            time.sleep(0.02)
    finally:
        driver.kill()  # SIGKILL: the driver dies mid-study
        driver.wait()
    finished = {p.name for p in markers(out / "units")}
    assert 2 <= len(finished) < 12
    result = run_study(study, out, progress=False, log=quiet, executor=RayExecutor(address))
    reused = {u["key"] for u in result.manifest["units"] if u["from_cache"]}
    assert {n.rsplit("__", 1)[1].removesuffix(".json") for n in finished} <= reused
    assert_equal_outputs(out, tmp_path / "local")
