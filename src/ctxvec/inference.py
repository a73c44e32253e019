"""The study's forward pass: length-sorted batches, one forward each, metrics on the device.

Both tasks hand this module already-tokenised features (lists of ids, no padding). It sorts them
by length so batches carry little padding, pads each batch on the model's padding side, runs one
forward under ``torch.inference_mode`` with hidden states but without attentions (attentions
force the slow eager path), computes the context-vector metrics of the chosen layer on the
model's device, and returns the head's outputs unpadded, in the features' original order.
Turning logits into answers or labels is the task modules' job.

On a CPU with ``torch.get_num_threads() > 1``, batches run as independent single-threaded
streams, one per thread, instead of one batch at a time split across threads: each matrix
multiply then stays in one core's cache and no core waits at a barrier for another (on a
shared or busy machine a barrier waits for the slowest, descheduled thread). The thread count is
restored afterwards; ``torch.set_num_threads(1)`` gives the one-stream behaviour. Results do not
depend on the number of streams. Figures in ``docs/performance.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ctxvec.errors import CtxvecError
from ctxvec.loading import LoadedModel
from ctxvec.metrics import context_vector_metrics

Feature = Mapping[str, Sequence[int]]
# Largest share of a batch's width a feature may be padded by (see length_sorted_batches).
MAX_PADDING = 0.05


@dataclass
class ForwardOutput:
    """Per-feature results, in the order the features were given.

    Attributes:
        variance, cse: ``[n_features]`` float64 metric values (NaN where undefined).
        n_tokens: ``[n_features]`` tokens the metrics were computed over.
        start_logits, end_logits: QA only; one ``[feature_length]`` float32 array per feature.
        logits: classification only; ``[n_features, n_labels]`` float32.
    """

    variance: np.ndarray
    cse: np.ndarray
    n_tokens: np.ndarray
    start_logits: list[np.ndarray] | None = None
    end_logits: list[np.ndarray] | None = None
    logits: np.ndarray | None = None


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_padding: float = MAX_PADDING
) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on memory).

    A batch holds at most ``batch_size`` features; a new one starts where the next feature is
    shorter than the batch's first by more than ``max_padding`` of that length, so no feature
    is padded by more than that share (sorted fixed-size batches of 32 carried 13% padding
    tokens on 200 SQuAD pairs, 25% on 100; this rule, 2%).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last and len(last) < batch_size and lengths[i] >= (1 - max_padding) * lengths[last[0]]:
            last.append(i)
        else:
            batches.append([i])
    return batches


def collate(
    features: Sequence[Feature],
    input_names: Sequence[str],
    pad_values: Mapping[str, int],
    padding_side: Literal["left", "right"],
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pad a batch of features into tensors.

    Returns:
        The model inputs (``[batch, n_tokens]`` each, ``attention_mask`` included) and the
        ``[batch, n_tokens]`` bool special-tokens mask (False on padding).
    """
    width = max(len(f["input_ids"]) for f in features)
    names = [n for n in input_names if n != "attention_mask"]
    arrays = {n: np.full((len(features), width), pad_values.get(n, 0), np.int64) for n in names}
    attention = np.zeros((len(features), width), np.int64)
    special = np.zeros((len(features), width), bool)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        cols = slice(width - n, width) if padding_side == "left" else slice(0, n)
        for name in names:
            arrays[name][row, cols] = f[name]
        attention[row, cols] = 1
        special[row, cols] = f["special_tokens_mask"]
    inputs = {n: torch.from_numpy(a) for n, a in arrays.items()}
    inputs["attention_mask"] = torch.from_numpy(attention)
    return inputs, torch.from_numpy(special)


def run_forward(
    lm: LoadedModel,
    features: Sequence[Feature],
    head: Literal["qa", "cls"],
    batch_size: int = 32,
    layer: int = -1,
    exclude_special_tokens: bool = False,
    desc: str = "",
    progress: bool = True,
) -> ForwardOutput:
    """Run every feature through the model once and measure its context vectors.

    Args:
        lm: the loaded model.
        features: tokenised inputs; each has ``input_ids``, ``special_tokens_mask`` and the
            other names in ``lm.input_names``.
        head: which outputs to keep (span logits or class logits).
        batch_size: most features per forward.
        layer: index into the model's hidden states (0 = embeddings, -1 = last layer).
        exclude_special_tokens: leave [CLS]/[SEP]-like tokens out of the metrics.
        desc: label of the progress bar.
        progress: show a progress bar.
    """
    n_layers = lm.model.config.num_hidden_layers
    if not -(n_layers + 1) <= layer <= n_layers:
        raise CtxvecError(
            f"layer {layer} is out of range for '{lm.resolved.spec.label}' "
            f"({n_layers} layers: use 0..{n_layers} or -1 for the last)"
        )
    pad_values = {
        "input_ids": lm.tokenizer.pad_token_id or 0,
        "token_type_ids": getattr(lm.tokenizer, "pad_token_type_id", 0),
    }
    n = len(features)
    variance = np.full(n, np.nan)
    cse = np.full(n, np.nan)
    n_tokens = np.zeros(n, np.int64)
    starts: list[np.ndarray | None] = [None] * n
    ends: list[np.ndarray | None] = [None] * n
    logits: np.ndarray | None = None

    def step(idx: list[int]) -> tuple[list[int], dict[str, torch.Tensor], list[np.ndarray]]:
        # inference_mode is thread-local: each stream enters it itself.
        with torch.inference_mode():
            batch = [features[i] for i in idx]
            inputs, special = collate(batch, lm.input_names, pad_values, lm.padding_side)
            if lm.padding_side == "left" and lm.positions_from_mask:
                # Real tokens keep the positions they would have unpadded: 0, 1, 2, ...
                inputs["position_ids"] = (inputs["attention_mask"].cumsum(1) - 1).clamp(min=0)
            inputs = {k: v.to(lm.device) for k, v in inputs.items()}
            out = lm.model(**inputs, output_hidden_states=True, return_dict=True)
            real = inputs["attention_mask"].bool()
            mask = real & ~special.to(lm.device) if exclude_special_tokens else real
            stats = context_vector_metrics(out.hidden_states[layer], mask)
            stats = {k: v.cpu() for k, v in stats.items()}
            if head == "cls":
                return idx, stats, [out.logits.float().cpu().numpy()]
            # Real positions are contiguous in every row: cut the flat real logits by length.
            real = real.cpu()
            cuts = np.cumsum(real.sum(1).numpy())[:-1]
            return (
                idx,
                stats,
                [
                    np.split(x.float().cpu()[real].numpy(), cuts)
                    for x in (out.start_logits, out.end_logits)
                ],
            )

    batches = length_sorted_batches([len(f["input_ids"]) for f in features], batch_size)
    with _cpu_streams(lm.device, len(batches)) as pool:
        results = pool.map(step, batches) if pool is not None else map(step, batches)
        for idx, stats, head_out in tqdm(
            results, total=len(batches), desc=desc, unit="batch", disable=not progress, leave=False
        ):
            variance[idx] = stats["variance"].double().numpy()
            cse[idx] = stats["cse"].double().numpy()
            n_tokens[idx] = stats["n_tokens"].numpy()
            if head == "qa":
                for row, i in enumerate(idx):
                    starts[i], ends[i] = head_out[0][row], head_out[1][row]
            else:
                if logits is None:
                    logits = np.zeros((n, head_out[0].shape[1]), np.float32)
                logits[idx] = head_out[0]
    if head == "qa":
        return ForwardOutput(variance, cse, n_tokens, start_logits=starts, end_logits=ends)
    return ForwardOutput(variance, cse, n_tokens, logits=logits)


@contextmanager
def _cpu_streams(device: torch.device, n_batches: int) -> Iterator[ThreadPoolExecutor | None]:
    """A pool of single-threaded workers, one per torch thread, on a CPU; else None."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads < 2 or n_batches < 2:
        yield None
        return
    # set_num_threads in each worker sets that thread's OpenMP team size to one.
    pool = ThreadPoolExecutor(
        min(threads, n_batches), initializer=torch.set_num_threads, initargs=(1,)
    )
    try:
        yield pool
    finally:
        # After an error, batches not yet started are dropped instead of run to the end.
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
