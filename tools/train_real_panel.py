"""Train the real-weights panel of docs/real-data.md: MiniLM-L6 and MPNet-base, fine-tuned here.

Classification: all-MiniLM-L6-v2 (two seeds) and all-mpnet-base-v2 fine-tuned on the IMDB train
split, each saved at three step budgets. QA: all-MiniLM-L6-v2 fine-tuned on half of the SQuAD 2.0
dev articles (the other half is what the study reads), at three budgets, once on every window
and once on the windows that hold the answer. MPNet is left out of the QA half: one QA step of
MPNet-base at 256 tokens would cost about 25 s on one core here, so three useful budgets would
not fit the 90-minute training allowance next to the rest.

Every member trains on one thread (the zoo's rule, so weights do not depend on the core count),
two members at a time. Each checkpoint's ``card.json`` records its training time and dev score;
``training.json`` records the command, each job's wall time and the total. A rerun reuses every
finished member (the zoo's cards), so an interrupted run resumes.

    .venv/bin/python tools/train_real_panel.py --out runs/real-panel     # about 75 min

Needs ../shared/data (IMDB, SQuAD 2.0 dev) and the fetched MPNet weights (tools/fetch_mpnet.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ctxvec import files
from ctxvec.offline.progress import TrainingProgress
from ctxvec.offline.training import MINILM, MPNET
from ctxvec.offline.zoo import Member, ZooSettings, build_member
from ctxvec.tasks import load_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMDB_TRAIN = SHARED / "imdb" / "train.parquet"
SQUAD_DEV = SHARED / "squad_v2" / "dev-v2.0-cs224n.json"

CLS_BUDGETS = (25, 100, 200)
# (task, member, seed, settings), in the order they are handed to the two workers: the long
# jobs pair up so that both cores finish together.
JOBS: list[tuple[str, Member, int, ZooSettings]] = [
    ("cls", Member("minilm", MINILM, CLS_BUDGETS, learning_rate=1e-4, batch_size=16), 0,
     ZooSettings(max_length=256)),
    ("cls", Member("mpnet", MPNET, (20, 60, 150), learning_rate=5e-5, batch_size=16), 0,
     ZooSettings(max_length=128)),
    ("qa", Member("minilm", MINILM, (50, 150, 400), learning_rate=1e-4, batch_size=16), 0,
     ZooSettings(max_length=256, stride=64)),
    ("cls", Member("minilm-seed1", MINILM, CLS_BUDGETS, learning_rate=1e-4, batch_size=16), 1,
     ZooSettings(max_length=256)),
    # Trained on every window, MiniLM learned only to abstain within 400 steps (its F1 is the
    # unanswerable share at every budget); trained on windows that hold the answer, it must
    # find spans, and its F1 follows that skill.
    ("qa", Member("minilm-answers", MINILM, (50, 150, 400), learning_rate=1e-4, batch_size=16,
                  unanswerable=False), 0, ZooSettings(max_length=256, stride=64)),
]  # fmt: skip


def split_squad(out: Path) -> tuple[Path, Path]:
    """SQuAD 2.0 dev split by article: sorted by title, shuffled with Random(0), 8 + 8."""
    source = json.loads(SQUAD_DEV.read_text(encoding="utf-8"))
    articles = sorted(source["data"], key=lambda a: a["title"])
    random.Random(0).shuffle(articles)
    half = len(articles) // 2
    paths = out / "squad-train.json", out / "squad-test.json"
    for path, part in zip(paths, (articles[:half], articles[half:]), strict=True):
        files.write_json(path, {"version": source["version"], "data": part})
    return paths


def train(task: str, member: Member, seed: int, settings: ZooSettings, data: str, out: str):
    """Worker entry: one member, returning its checkpoint names, log lines and wall time."""
    started = time.perf_counter()
    lines: list[str] = []
    dataset = load_dataset(task, data, "train")
    # A line on stderr now and then (no bars: workers share the terminal).
    progress = TrainingProgress(False, [member.name], lines.append)
    on_step = functools.partial(progress.step, member.name)
    checkpoints = build_member(member, task, dataset, out, seed, settings, lines.append, on_step)
    return [c.name for c in checkpoints], lines, round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/real-panel"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for path in (IMDB_TRAIN, SQUAD_DEV):
        if not path.is_file():
            sys.exit(f"{path} is missing; this tool needs ../shared/data beside the project")
    squad_train, _ = split_squad(args.out)
    data = {"cls": str(IMDB_TRAIN), "qa": str(squad_train)}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    panels: dict[str, list[str]] = {"cls": [], "qa": []}
    log = []
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        jobs = [
            pool.submit(train, task, m, seed, s, data[task], str(args.out / task))
            for task, m, seed, s in JOBS
        ]
        for (task, member, seed, _), job in zip(JOBS, jobs, strict=True):
            names, lines, seconds = job.result()
            panels[task] += names
            print("\n".join(lines), flush=True)
            log.append({"task": task, "member": member.name, "seed": seed, "seconds": seconds})
    for task, names in panels.items():
        text = [f'task = "{task}"', ""]
        for name in names:
            text += ["[[models]]", f'id = "{name}"', f'name = "{name}"', ""]
        files.write_text(args.out / task / "panel.toml", "\n".join(text))
    total = round(time.perf_counter() - started, 1)
    files.write_json(
        args.out / "training.json",
        {"command": " ".join(["tools/train_real_panel.py", *sys.argv[1:]]), "jobs": log,
         "wall_seconds": total},
    )  # fmt: skip
    print(f"trained the real panel in {total} s; panels in {args.out}/cls and {args.out}/qa")


if __name__ == "__main__":
    main()
