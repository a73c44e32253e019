"""What ``--attention-stats N`` adds to a study: the same study with and without it, side by side.

Each round runs the study twice, in alternating order, each time into a fresh output folder (no
cache): once plain and once with ``--attention-stats N``. The default is the case
docs/performance.md reports: MiniLM (real all-MiniLM-L6-v2 weights, untrained QA head) on real
SQuAD 2.0 pairs from ``../shared/data``, 2 subsets of 200 questions, N = 32. It prints the median
wall time of each, the ratio, and how much of the difference the attention pass itself took
(the units' own timing), so the overhead is measured, not inferred.

    .venv/bin/python benchmarks/bench_attention.py [--n 32] [--subset-size 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import common
import torch

from ctxvec import ModelSpec, QASettings, StudyConfig, run_study


def run(config: StudyConfig, out: Path) -> tuple[float, float]:
    """Wall seconds of one uncached study, and the seconds its units spent on attention."""
    started = time.perf_counter()
    result = run_study(config, out, progress=False, log=lambda _: None)
    wall = time.perf_counter() - started
    attention = sum((u.summary.attention or {}).get("seconds", 0.0) for u in result.units)
    return wall, attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", help="minilm, bert-base or a directory")
    parser.add_argument("--n", type=int, default=32, help="--attention-stats N")
    parser.add_argument("--subsets", type=int, default=2)
    parser.add_argument("--subset-size", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=common.DATA_DIR)
    args = parser.parse_args()
    squad = args.data_dir / common.SQUAD_FILE
    if not squad.is_file():
        sys.exit(f"{squad} is missing: this benchmark measures real SQuAD pairs")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path, untrained = common.model_dir(args.model, "qa", work)
        base = StudyConfig(
            task="qa",
            models=(ModelSpec(path, args.model),),
            data=str(squad),
            subsets=args.subsets,
            subset_size=args.subset_size,
            settings=QASettings(),
            device="cpu",
            dtype="float32",
            allow_untrained_head=untrained,
        )
        configs = {
            "plain": base,
            "attention": StudyConfig(**{**vars(base), "attention_stats": args.n}),
        }
        print(
            f"model {args.model}, {args.subsets} x {args.subset_size} real SQuAD pairs, "
            f"--attention-stats {args.n}, {torch.get_num_threads()} threads, {args.rounds} rounds"
        )
        run(base, work / "warm-up")  # first load of weights and tokenizer: not measured
        walls: dict[str, list[float]] = {"plain": [], "attention": []}
        spent: list[float] = []
        for r in range(args.rounds):
            order = ["plain", "attention"] if r % 2 == 0 else ["attention", "plain"]
            for name in order:
                wall, attention = run(configs[name], work / f"{name}-{r}")
                walls[name].append(wall)
                if name == "attention":
                    spent.append(attention)
                print(f"  round {r + 1} {name:9s} {wall:6.1f} s", flush=True)
    plain, with_stats = (statistics.median(walls[k]) for k in ("plain", "attention"))
    print(f"median: plain {plain:.1f} s, with --attention-stats {args.n} {with_stats:.1f} s")
    print(
        f"extra: {100 * (with_stats / plain - 1):.0f}% of the plain study "
        f"(the attention pass itself: {statistics.median(spent):.1f} s, "
        f"{100 * statistics.median(spent) / plain:.0f}%)"
    )


if __name__ == "__main__":
    main()
