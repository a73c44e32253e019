"""The study's forward pass: length-sorted batches, one forward each, metrics on the device.

Both tasks hand this module already-tokenised features (lists of ids, no padding). It sorts them
by length so batches carry little padding, pads each batch on the model's padding side, runs one
forward under ``torch.inference_mode`` with hidden states but without attentions (attentions
force the slow eager path), computes the context-vector metrics on the model's device, and
returns the head's outputs unpadded, in the features' original order. Turning logits into
answers or labels is the task modules' job.

Metrics: at the chosen ``layer``, Variance, CSE, self-similarity and intra-sentence similarity
(:mod:`ctxvec.metrics`, one fused kernel) and the effective rank (:mod:`ctxvec.geometry`); at
every extra layer of ``layers`` (per-layer curves), the same except the effective rank, whose
eigendecomposition would dominate the extra cost. From the chosen layer it also keeps what
subset-level metrics pool: a seeded sample of token vectors per feature and, for
classification, each feature's sentence vectors (the head's summary token and the mean of the
tokens). ``metrics="core"`` keeps only the fused kernel's four metrics: no effective rank and
nothing pooled (a few percent faster; ``docs/performance.md``).
``representation="attention-output"`` measures the attention blocks' pre-residual outputs
(:mod:`ctxvec.representations`) instead of the hidden states.

On a CPU with ``torch.get_num_threads() > 1``, batches run as independent single-threaded
streams, one per thread, instead of one batch at a time split across threads: each matrix
multiply then stays in one core's cache and no core waits at a barrier for another (on a
shared or busy machine a barrier waits for the slowest, descheduled thread). The thread count is
restored afterwards; ``torch.set_num_threads(1)`` gives the one-stream behaviour. Results do not
depend on the number of streams. On a CPU, linear layers run with packed weights and, in
bfloat16 or float16, attention runs sequence by sequence (:mod:`ctxvec.cpu_kernels`). Figures
in ``docs/performance.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ctxvec.cpu_kernels import cpu_kernels
from ctxvec.errors import CtxvecError, MetricUndefinedError
from ctxvec.geometry import class_separability, effective_rank, isoscore, random_token_baseline
from ctxvec.loading import LoadedModel
from ctxvec.metrics import context_vector_metrics
from ctxvec.representations import Representation, capture_attention_outputs

Feature = Mapping[str, Sequence[int]]
# Largest share of a batch's width a feature may be padded by (see length_sorted_batches).
MAX_PADDING = 0.05
GPU_WIDTH_MULTIPLE = 64


# Per-example metrics at the chosen layer, and the subset of them also measured per layer.
LAYER_METRICS = ("variance", "cse", "self_similarity", "intra_similarity")
METRICS = (*LAYER_METRICS, "effective_rank")
# "all": every metric, pooled subset metrics included; "core": the fused kernel's four only.
MetricSet = Literal["all", "core"]
METRIC_SETS: tuple[MetricSet, ...] = ("all", "core")


@dataclass
class ForwardOutput:
    """Per-feature results, in the order the features were given.

    Attributes:
        metrics: ``{name: [n_features]}`` float64 values at the chosen layer (NaN where
            undefined), for every name in :data:`METRICS` (``"all"``) or
            :data:`LAYER_METRICS` (``"core"``).
        n_tokens: ``[n_features]`` tokens the metrics were computed over.
        layers: the extra layers measured (absolute indices), possibly empty.
        layer_metrics: ``{name: [n_features, n_layers]}`` for the names in
            :data:`LAYER_METRICS`, one column per entry of ``layers``.
        tokens: ``[n_sampled, hidden]`` float32 token vectors sampled from every feature
            (None with ``metrics="core"``).
        token_feature: ``[n_sampled]`` the feature each sampled token comes from.
        sentence: classification with ``metrics="all"`` only; ``{"summary" | "mean":
            [n_features, hidden]}`` float32.
        start_logits, end_logits: QA only; one ``[feature_length]`` float32 array per feature.
        logits: classification only; ``[n_features, n_labels]`` float32.
        kernels: which :mod:`ctxvec.cpu_kernels` replacements ran (all False off the CPU).
    """

    metrics: dict[str, np.ndarray]
    n_tokens: np.ndarray
    layers: tuple[int, ...] = ()
    layer_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: np.ndarray | None = None
    token_feature: np.ndarray | None = None
    sentence: dict[str, np.ndarray] | None = None
    start_logits: list[np.ndarray] | None = None
    end_logits: list[np.ndarray] | None = None
    logits: np.ndarray | None = None
    kernels: dict[str, bool] = field(default_factory=dict)

    @property
    def variance(self) -> np.ndarray:
        return self.metrics["variance"]

    @property
    def cse(self) -> np.ndarray:
        return self.metrics["cse"]


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
    multiple: int = 1,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Pad a batch of features into tensors, ``multiple`` dividing the padded width.

    Returns:
        The model inputs (``[batch, n_tokens]`` each, ``attention_mask`` included) and the
        ``[batch, n_tokens]`` bool special-tokens mask (False on padding).
    """
    width = -(-max(len(f["input_ids"]) for f in features) // multiple) * multiple
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


def check_metric_set(metrics: str) -> None:
    """Stop with a one-line error for a name not in :data:`METRIC_SETS`."""
    if metrics not in METRIC_SETS:
        raise CtxvecError(f"unknown metric set '{metrics}'; use {' or '.join(METRIC_SETS)}")


def resolve_layers(
    lm: LoadedModel,
    layer: int,
    layers: str = "",
    representation: Representation = "hidden",
) -> tuple[int, tuple[int, ...]]:
    """The chosen layer and the extra layers as absolute indices.

    Hidden states are numbered 0 (embeddings) to L (last layer), attention outputs 1 to L;
    negative numbers count from the end (-1 = last). ``layers`` is ``""`` (none), ``"all"``
    or comma-separated numbers.
    """
    n_layers = lm.model.config.num_hidden_layers
    lowest = 1 if representation == "attention-output" else 0
    label = lm.resolved.spec.label

    def absolute(number: int) -> int:
        index = number + n_layers + 1 if number < 0 else number
        if not lowest <= index <= n_layers:
            raise CtxvecError(
                f"layer {number} is out of range for '{label}' ({n_layers} layers: use "
                f"{lowest}..{n_layers} or -1 for the last)"
            )
        return index

    if layers.strip() == "all":
        extra = range(lowest, n_layers + 1)
    else:
        try:
            extra = [absolute(int(x)) for x in layers.split(",") if x.strip()]
        except ValueError:
            raise CtxvecError(
                f"--layers '{layers}' must be 'all' or comma-separated layer numbers"
            ) from None
    return absolute(layer), tuple(sorted(set(extra)))


def run_forward(
    lm: LoadedModel,
    features: Sequence[Feature],
    head: Literal["qa", "cls"],
    batch_size: int = 32,
    layer: int = -1,
    exclude_special_tokens: bool = False,
    desc: str = "",
    progress: bool = True,
    layers: str = "",
    representation: Representation = "hidden",
    token_sample: int = 32,
    metrics: MetricSet = "all",
) -> ForwardOutput:
    """Run every feature through the model once and measure its context vectors.

    Args:
        lm: the loaded model.
        features: tokenised inputs; each has ``input_ids``, ``special_tokens_mask`` and the
            other names in ``lm.input_names``.
        head: which outputs to keep (span logits or class logits).
        batch_size: most features per forward.
        layer: the chosen layer (see :func:`resolve_layers`; -1 = last).
        exclude_special_tokens: leave [CLS]/[SEP]-like tokens out of the metrics.
        desc: label of the progress bar.
        progress: show a progress bar.
        layers: extra layers for per-layer curves: ``""``, ``"all"`` or ``"0,3,6"``.
        representation: ``"hidden"`` states or ``"attention-output"`` (pre-residual).
        token_sample: token vectors kept per feature for pooled metrics (seeded by the
            feature's position, so the sample does not depend on batching).
        metrics: ``"all"``, or ``"core"`` for the four metrics of one fused kernel only.
    """
    check_metric_set(metrics)
    names = METRICS if metrics == "all" else LAYER_METRICS
    all_metrics = metrics == "all"
    primary, extra = resolve_layers(lm, layer, layers, representation)
    hidden = representation == "hidden"
    summary_last = getattr(lm.model.config, "summary_type", None) == "last"
    pad_values = {
        "input_ids": lm.tokenizer.pad_token_id or 0,
        "token_type_ids": getattr(lm.tokenizer, "pad_token_type_id", 0),
    }
    n = len(features)
    per_example = {name: np.full(n, np.nan) for name in names}
    layer_metrics = {name: np.full((n, len(extra)), np.nan) for name in LAYER_METRICS}
    n_tokens = np.zeros(n, np.int64)
    starts: list[np.ndarray | None] = [None] * n
    ends: list[np.ndarray | None] = [None] * n
    logits: np.ndarray | None = None
    sentence: dict[str, np.ndarray] | None = None
    tokens: list[np.ndarray] = []
    token_feature: list[np.ndarray] = []

    def step(idx: list[int], take) -> tuple:
        # inference_mode is thread-local: each stream enters it itself.
        with torch.inference_mode():
            batch = [features[i] for i in idx]
            inputs, special = collate(batch, lm.input_names, pad_values, lm.padding_side, multiple)
            if lm.padding_side == "left" and lm.positions_from_mask:
                # Real tokens keep the positions they would have unpadded: 0, 1, 2, ...
                inputs["position_ids"] = (inputs["attention_mask"].cumsum(1) - 1).clamp(min=0)
            inputs = {k: v.to(lm.device) for k, v in inputs.items()}
            out = lm.model(**inputs, output_hidden_states=hidden, return_dict=True)
            states = out.hidden_states if hidden else [None, *take()]
            real = inputs["attention_mask"].bool()
            mask = real & ~special.to(lm.device) if exclude_special_tokens else real
            h = states[primary]
            stats = context_vector_metrics(h, mask)
            if all_metrics:
                stats["effective_rank"] = effective_rank(h, mask)
            per_layer = [
                stats if j == primary else context_vector_metrics(states[j], mask) for j in extra
            ]
            stats = {k: v.cpu() for k, v in stats.items()}
            by_layer = {
                name: torch.stack([s[name].double().cpu() for s in per_layer], 1)
                if per_layer
                else None
                for name in LAYER_METRICS
            }
            sample, owner = None, None
            if all_metrics:
                sample, owner = _sample_tokens(h, mask, idx, token_sample)
            if head == "cls":
                pooled = _sentence_vectors(h, real, mask, summary_last) if all_metrics else {}
                return idx, stats, by_layer, sample, owner, pooled, [out.logits.float().cpu()]
            # Real positions are contiguous in every row: cut the flat real logits by length.
            real = real.cpu()
            cuts = np.cumsum(real.sum(1).numpy())[:-1]
            spans = [
                np.split(x.float().cpu()[real].numpy(), cuts)
                for x in (out.start_logits, out.end_logits)
            ]
            return idx, stats, by_layer, sample, owner, None, spans

    # On a GPU each new input shape can cost a kernel plan (cuDNN attention builds one per
    # shape, ~0.1 s), which padding does not: there, fixed-size batches and widths rounded up
    # to a multiple of 64 keep the shapes few. On a CPU padding is the cost: bucket tightly.
    gpu = lm.device.type == "cuda"
    multiple = GPU_WIDTH_MULTIPLE if gpu else 1
    lengths = [len(f["input_ids"]) for f in features]
    batches = length_sorted_batches(lengths, batch_size, max_padding=1.0 if gpu else MAX_PADDING)
    capture = nullcontext(None) if hidden else capture_attention_outputs(lm.model)
    with (
        capture as take,
        cpu_kernels(lm.model) as kernels,
        _cpu_streams(lm.device, len(batches)) as pool,
    ):
        results = (
            pool.map(step, batches, [take] * len(batches))
            if pool is not None
            else (step(b, take) for b in batches)
        )
        for idx, stats, by_layer, sample, owner, pooled, head_out in tqdm(
            results, total=len(batches), desc=desc, unit="batch", disable=not progress, leave=False
        ):
            for name in names:
                per_example[name][idx] = stats[name].double().numpy()
            for name, values in by_layer.items():
                if values is not None:
                    layer_metrics[name][idx] = values.numpy()
            n_tokens[idx] = stats["n_tokens"].numpy()
            if sample is not None:
                tokens.append(sample)
                token_feature.append(owner)
            if head == "qa":
                for row, i in enumerate(idx):
                    starts[i], ends[i] = head_out[0][row], head_out[1][row]
                continue
            if logits is None:
                logits = np.zeros((n, head_out[0].shape[1]), np.float32)
                sentence = {k: np.zeros((n, v.shape[1]), np.float32) for k, v in pooled.items()}
            logits[idx] = head_out[0].numpy()
            for key, values in pooled.items():
                sentence[key][idx] = values
    result = ForwardOutput(
        metrics=per_example,
        n_tokens=n_tokens,
        layers=extra,
        layer_metrics=layer_metrics if extra else {},
        tokens=np.concatenate(tokens) if tokens else None,
        token_feature=np.concatenate(token_feature) if token_feature else None,
        kernels=kernels,
    )
    if head == "qa":
        result.start_logits, result.end_logits = starts, ends
    else:
        result.logits, result.sentence = logits, sentence or None
    return result


def example_metrics(out: ForwardOutput, feats: Sequence[int]) -> dict[str, float | list[float]]:
    """One example's metrics from its features (QA windows; one feature for classification).

    Each metric is the mean over the features weighted by their token counts; per-layer values
    come as lists ``{metric}_by_layer`` aligned with ``out.layers``.
    """
    weights = out.n_tokens[feats].astype(np.float64)
    row: dict[str, float | list[float]] = {
        name: float(np.average(values[feats], weights=weights))
        for name, values in out.metrics.items()
    }
    for name, values in out.layer_metrics.items():
        row[f"{name}_by_layer"] = np.average(values[feats], axis=0, weights=weights).tolist()
    return row


def check_defined(metrics: Mapping[str, object], example_id: str, model: str) -> None:
    """Stop with a one-line error where the study's own metrics are undefined for an example."""
    if not (np.isfinite(metrics["variance"]) and np.isfinite(metrics["cse"])):
        raise MetricUndefinedError(
            f"Variance/CSE undefined for example '{example_id}' with model '{model}' (a token "
            "vector is constant or zero); check the checkpoint's weights or pick another --layer"
        )


def pooled_metrics(
    out: ForwardOutput,
    feature_example: Sequence[int],
    self_similarity_mean: float,
    labels: Sequence[int] | None = None,
) -> dict[str, float]:
    """Metrics of a whole subset at the chosen layer, from the pooled token sample.

    ``isoscore`` (NaN when the sample has fewer than 5 points per dimension), the
    ``random_baseline`` of Ethayarajh (2019) and ``self_similarity_adjusted`` (the subset's mean
    self-similarity minus that baseline); with ``labels`` (classification), class separability
    of the summary-token and mean-pooled sentence vectors. Empty where nothing was pooled
    (``metrics="core"``).
    """
    result: dict[str, float] = {}
    tokens = out.tokens
    if tokens is None:
        return result
    owners = np.asarray(feature_example)[out.token_feature]
    try:
        result["isoscore"] = isoscore(tokens)
    except CtxvecError:
        result["isoscore"] = float("nan")
    if len(np.unique(owners)) > 1:
        result["random_baseline"] = random_token_baseline(tokens, owners)
    else:
        result["random_baseline"] = float("nan")
    result["self_similarity_adjusted"] = self_similarity_mean - result["random_baseline"]
    if labels is not None and out.sentence is not None and len(set(labels)) > 1:
        for pooling, vectors in out.sentence.items():
            for name, value in class_separability(vectors, labels).items():
                result[f"{name}_{pooling}"] = value
    return result


def _sample_tokens(
    h: torch.Tensor, mask: torch.Tensor, idx: Sequence[int], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``k`` token vectors per row, chosen by a generator seeded with the feature index."""
    rows, cols, owners = [], [], []
    mask_cpu = mask.cpu().numpy()
    for row, feature in enumerate(idx):
        positions = np.flatnonzero(mask_cpu[row])
        if len(positions) > k:
            positions = np.sort(np.random.default_rng(feature).choice(positions, k, replace=False))
        rows.extend([row] * len(positions))
        cols.extend(positions)
        owners.extend([feature] * len(positions))
    picked = h[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)]
    return picked.float().cpu().numpy(), np.asarray(owners, np.int64)


def _sentence_vectors(
    h: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, summary_last: bool
) -> dict[str, np.ndarray]:
    """The token the classification head summarises (first real one, last for XLNet-like
    models) and the mean of the measured tokens, ``[batch, hidden]`` each."""
    width = real.shape[1]
    first = real.int().argmax(1)
    last = width - 1 - real.flip(1).int().argmax(1)
    rows = torch.arange(h.shape[0], device=h.device)
    summary = h[rows, last if summary_last else first].float()
    m = mask.unsqueeze(-1)
    mean = torch.where(m, h.float(), 0.0).sum(1) / mask.sum(1, keepdim=True)
    return {"summary": summary.cpu().numpy(), "mean": mean.cpu().numpy()}


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
