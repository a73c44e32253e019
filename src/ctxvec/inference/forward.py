"""The study's forward pass: one forward per batch, context-vector metrics on the device.

Both tasks hand this module already-tokenised features (lists of ids, no padding).
:func:`run_forward` groups them by length (:mod:`ctxvec.inference.batching`), runs each batch
once under ``torch.inference_mode`` with hidden states but without attentions (attentions force
the slow eager path), in parallel CPU streams (:mod:`ctxvec.inference.streams`) and with the
faster CPU kernels (:mod:`ctxvec.inference.kernels`) where they run correctly. It measures the
context vectors on the model's device and returns the head's outputs unpadded, in the features'
original order. Turning logits into answers or labels is the task modules' job.

Metrics: at the chosen ``layer``, Variance, CSE, self-similarity and intra-sentence similarity
(:mod:`ctxvec.metrics.context`, one fused kernel) and the effective rank
(:mod:`ctxvec.metrics.geometry`); at every extra layer of ``layers`` (per-layer curves), the
same except the effective rank, whose eigendecomposition would dominate the extra cost. From
the chosen layer it also keeps what subset-level metrics pool: a seeded sample of token vectors
per feature and, for classification, each feature's sentence vectors (the token the head reads,
the summary column of :mod:`ctxvec.inference.tokens`, and the mean of the tokens).
``metrics="core"`` keeps only the fused kernel's four metrics: no effective rank and nothing
pooled (a few percent faster; ``docs/performance.md``).
``standardise=True`` computes the cosine-based metrics (CSE, self- and intra-sentence
similarity) on per-dimension standardised vectors ``(h - mu) / sigma`` (Timkey & van Schijndel
2021, rogue dimensions): before the pass, the ``reference`` features run through the same
batches and give each measured layer's mean and standard deviation per dimension over their
measured tokens (float64 sums); Variance and the effective rank stay on the raw vectors.
``representation="attention-output"`` measures the attention blocks' pre-residual outputs
(:mod:`ctxvec.inference.representations`) instead of the hidden states. Which stack of an
encoder-decoder, which tokens and with what weights (a decoder's first tokens left out, its
tokens weighted by position) is :mod:`ctxvec.inference.tokens`' rule.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ctxvec.errors import CtxvecError, require_at_least, require_one_of
from ctxvec.inference.batching import (
    GPU_WIDTH_MULTIPLE,
    MAX_PADDING,
    Feature,
    collate,
    collate_arrays,
    feature_length,
    length_sorted_batches,
)
from ctxvec.inference.kernels import KERNEL_CHOICES, KernelChoice, cpu_kernels
from ctxvec.inference.measured import (
    Layers,
    MetricSet,
    check_layers,
    check_metric_set,
    resolve_layers,
)
from ctxvec.inference.representations import (
    REPRESENTATIONS,
    Representation,
    capture_attention_outputs,
)
from ctxvec.inference.streams import cpu_streams
from ctxvec.inference.tokens import (
    MeasuredTokens,
    TokenRule,
    TokenWeighting,
    check_token_options,
    measured_tokens,
    media_tokens,
)
from ctxvec.loading import LoadedModel
from ctxvec.loading.stacks import STACKS, Stack, measured_stack
from ctxvec.metrics.context import context_vector_metrics, token_weights
from ctxvec.metrics.geometry import effective_rank
from ctxvec.metrics.registry import EXAMPLE_METRICS, LAYER_METRICS


@dataclass(frozen=True)
class PassSettings:
    """How a forward pass runs and what it measures; both tasks' settings extend it.

    Attributes:
        batch_size: most features per forward.
        layer: the chosen layer (see :func:`resolve_layers`; -1 = last).
        layers: extra layers for per-layer curves: none ``()``, ``"all"``, or numbers such as
            ``(0, 3, 6)``.
        representation: ``"hidden"`` states or ``"attention-output"`` (pre-residual).
        metrics: ``"all"``, or ``"core"`` for the four metrics of one fused kernel only.
        exclude_special_tokens: leave [CLS]/[SEP]-like tokens out of the metrics.
        kernels: ``"auto"`` uses :mod:`ctxvec.inference.kernels` where they run correctly,
            ``"off"`` keeps PyTorch's own.
        stack: an encoder-decoder's measured stack, ``"encoder"``, ``"decoder"`` or
            ``"both"`` (:mod:`ctxvec.loading.stacks`); the encoder by default, the stack that
            reads the input as encoder-only models do. Single-stack models ignore it.
        skip_first: real positions left out at the start of a causal stack (attention
            sinks); 0 by default, so every real token counts as for encoders.
        token_weighting: ``"uniform"``, or ``"position"``: a causal stack's tokens weighted by
            position (SGPT) in the metrics and the mean sentence vector
            (:mod:`ctxvec.inference.tokens`).
        standardise: compute the cosine-based metrics on vectors standardised per dimension
            with the statistics of a reference sample (:func:`run_forward`'s ``reference``).
    """

    batch_size: int = 32
    layer: int = -1
    layers: Layers = ()
    representation: Representation = "hidden"
    metrics: MetricSet = "all"
    exclude_special_tokens: bool = False
    kernels: KernelChoice = "auto"
    stack: Stack = "encoder"
    skip_first: int = 0
    token_weighting: TokenWeighting = "uniform"
    standardise: bool = False

    def __post_init__(self) -> None:
        """Refuse impossible values at once, in the API as in the CLI (the same line)."""
        require_at_least("batch_size", self.batch_size)
        require_one_of("stack", self.stack, STACKS)
        check_token_options(self.skip_first, self.token_weighting)
        check_metric_set(self.metrics)
        require_one_of("kernels", self.kernels, KERNEL_CHOICES)
        require_one_of("representation", self.representation, REPRESENTATIONS)
        check_layers(self.layers)


@dataclass(frozen=True)
class Keep:
    """What a task keeps of the model's output besides the metrics.

    Attributes:
        per_token: output fields cut to each feature's real tokens (QA: ``start_logits``,
            ``end_logits``), one ``[n_tokens]`` array per feature.
        per_feature: output fields kept whole per feature (classification: ``logits``),
            one ``[n_features, ...]`` array each.
        sentence: the head's summary token and the mean of the measured tokens per feature
            (what the class-separability metrics pool).
    """

    per_token: tuple[str, ...] = ()
    per_feature: tuple[str, ...] = ()
    sentence: bool = False


@dataclass
class ForwardOutput:
    """Per-feature results, in the order the features were given.

    Attributes:
        metrics: ``{name: [n_features]}`` float64 values at the chosen layer (NaN where
            undefined), for every name in :data:`EXAMPLE_METRICS` (``"all"``) or
            :data:`LAYER_METRICS` (``"core"``).
        n_tokens: ``[n_features]`` tokens the metrics were computed over.
        layers: the extra layers measured (absolute indices), possibly empty.
        layer_metrics: ``{name: [n_features, n_layers]}`` for the names in
            :data:`LAYER_METRICS`, one column per entry of ``layers``.
        tokens: ``[n_sampled, hidden]`` float32 token vectors sampled from every feature
            (None with ``metrics="core"``).
        token_feature: ``[n_sampled]`` the feature each sampled token comes from.
        token_rank: ``[n_sampled]`` its rank among that feature's measured tokens.
        sentence: with :attr:`Keep.sentence` and ``metrics="all"`` only; ``{"summary" | "mean":
            [n_features, hidden]}`` float32.
        outputs: the fields of :class:`Keep`: per-token ones as a list of one
            ``[feature_length]`` float32 array per feature, per-feature ones as one
            ``[n_features, ...]`` float32 array.
        kernels: which :mod:`ctxvec.inference.kernels` replacements ran (all False off the CPU),
            and what stepped aside (Linear subclasses kept, one CPU stream and why).
        standard: with ``standardise``, ``[2, hidden]`` float64: the chosen layer's
            per-dimension mean and standard deviation over the reference's measured tokens.
    """

    metrics: dict[str, np.ndarray]
    n_tokens: np.ndarray
    layers: tuple[int, ...] = ()
    layer_metrics: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: np.ndarray | None = None
    token_feature: np.ndarray | None = None
    token_rank: np.ndarray | None = None
    sentence: dict[str, np.ndarray] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    kernels: dict[str, Any] = field(default_factory=dict)
    standard: np.ndarray | None = None

    @property
    def variance(self) -> np.ndarray:
        return self.metrics["variance"]

    @property
    def cse(self) -> np.ndarray:
        return self.metrics["cse"]


@dataclass(frozen=True)
class _Plan:
    """What every batch of one pass shares."""

    lm: LoadedModel
    features: Sequence[Feature]
    keep: Keep
    primary: int
    extra: tuple[int, ...]
    hidden: bool
    rule: TokenRule
    all_metrics: bool
    token_sample: int
    seeds: Sequence[Sequence[int]]
    pad_values: Mapping[str, int]
    multiple: int
    # With standardise: {layer: (mean, std)}, [hidden] float32 each on the model's device.
    standard: Mapping[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


@dataclass
class _Batch:
    """One batch's results, on the CPU, rows in the order of ``idx``."""

    idx: list[int]
    metrics: dict[str, torch.Tensor]  # {name: [batch]}, "n_tokens" included
    layer_metrics: dict[str, torch.Tensor]  # {name: [batch, n_extra]} float64; empty: no extra
    tokens: np.ndarray | None = None  # [n_sampled, hidden]
    token_feature: np.ndarray | None = None  # [n_sampled]
    token_rank: np.ndarray | None = None  # [n_sampled]
    sentence: dict[str, np.ndarray] = field(default_factory=dict)  # {pooling: [batch, hidden]}
    per_feature: dict[str, np.ndarray] = field(default_factory=dict)  # {name: [batch, ...]}
    per_token: dict[str, list[np.ndarray]] = field(default_factory=dict)  # {name: [n_tokens] x b}


def _forward(plan: _Plan, idx: list[int], take) -> tuple[dict, Any, MeasuredTokens]:
    """Pad and forward one batch; its inputs, the model's output and the measured vectors
    (call inside ``torch.inference_mode``)."""
    lm = plan.lm
    batch = [plan.features[i] for i in idx]
    if lm.media is not None:
        return _forward_media(plan, batch)
    inputs, special = collate(
        batch, lm.input_names, plan.pad_values, lm.padding_side, plan.multiple
    )
    if lm.padding_side == "left" and lm.positions_from_mask:
        # Real tokens keep the positions they would have unpadded: 0, 1, 2, ...
        inputs["position_ids"] = (inputs["attention_mask"].cumsum(1) - 1).clamp(min=0)
    inputs = {k: v.to(lm.device) for k, v in inputs.items()}
    out = lm.model(**inputs, output_hidden_states=plan.hidden, return_dict=True)
    measured = measured_tokens(
        plan.rule,
        out,
        inputs,
        special,
        {plan.primary, *plan.extra},
        attention_outputs=None if plan.hidden else take(),
    )
    return inputs, out, measured


def _forward_media(plan: _Plan, batch: list[Feature]) -> tuple[dict, Any, MeasuredTokens]:
    """:func:`_forward` for an image or audio model: its arrays stacked, its tokens read by
    :func:`~ctxvec.inference.tokens.media_tokens`."""
    lm = plan.lm
    inputs, lengths = media_batch(lm, batch)
    out = lm.model(**inputs, output_hidden_states=True, return_dict=True)
    measured = media_tokens(
        lm.media,
        out,
        lengths,
        {plan.primary, *plan.extra},
        plan.primary,
        functools.partial(real_frames, lm) if lm.media.frames_from_length else None,
        plan.rule.exclude_special_tokens,
    )
    return inputs, out, measured


def media_batch(lm: LoadedModel, features: Sequence[Feature]) -> tuple[dict, torch.Tensor]:
    """An image or audio batch (:func:`~ctxvec.inference.batching.collate_arrays`) on the
    model's device, its arrays in the model's dtype; and ``[batch]`` the real lengths."""
    inputs, lengths = collate_arrays(features, lm.input_names)
    dtypes = {k: lm.dtype if v.is_floating_point() else v.dtype for k, v in inputs.items()}
    return {k: v.to(lm.device, dtypes[k]) for k, v in inputs.items()}, lengths


def real_frames(lm: LoadedModel, lengths: torch.Tensor) -> torch.Tensor:
    """``[batch]`` an audio model's tokens of real input (``lengths``: real samples or mel
    frames), by the model's own ``_get_feat_extract_output_lengths`` and SEW's squeeze."""
    return lm.model._get_feat_extract_output_lengths(lengths) // lm.media.squeeze


def _moments_batch(plan: _Plan, idx: list[int], take) -> dict[int, torch.Tensor]:
    """Per measured layer, ``[3, hidden]`` float64 on the CPU: the count, sum and sum of
    squares of each dimension over the batch's measured tokens (a reference batch)."""
    with torch.inference_mode():
        _, _, measured = _forward(plan, idx, take)
        sums = {}
        for j, h in measured.states.items():
            x = h[measured.mask_of(j)].to("cpu", torch.float64)  # [n_measured, hidden]
            sums[j] = torch.stack([torch.full_like(x[0], len(x)), x.sum(0), x.square().sum(0)])
        return sums


def _standard(moments: Sequence[Mapping[int, torch.Tensor]]) -> dict[int, torch.Tensor]:
    """``{layer: [2, hidden]}`` float64: the mean and population standard deviation of each
    dimension from the batches' moments; a dimension constant over the reference gets standard
    deviation 1 (scikit-learn's ``StandardScaler`` rule), so it is centred, never divided by 0."""
    out = {}
    for j in moments[0]:
        n, total, squares = torch.stack([m[j] for m in moments]).sum(0)
        mean = total / n
        std = (squares / n - mean.square()).clamp(min=0).sqrt()
        out[j] = torch.stack([mean, torch.where(std > 0, std, 1.0)])
    return out


def _run_batch(plan: _Plan, idx: list[int], take) -> _Batch:
    """Pad, forward and measure one batch (in the calling stream's thread)."""
    # inference_mode is thread-local: each stream enters it itself.
    with torch.inference_mode():
        inputs, out, measured = _forward(plan, idx, take)
        mask, weights = measured.mask, measured.weights
        states = measured.states
        h = states[plan.primary]
        stats = context_vector_metrics(h, mask, weights, plan.standard.get(plan.primary))
        if plan.all_metrics:
            stats["effective_rank"] = effective_rank(h, mask)
        per_layer = [
            stats
            if j == plan.primary
            else context_vector_metrics(
                states[j], measured.mask_of(j), weights, plan.standard.get(j)
            )
            for j in plan.extra
        ]
        result = _Batch(
            idx=idx,
            metrics={k: v.cpu() for k, v in stats.items()},
            layer_metrics={
                name: torch.stack([s[name].double().cpu() for s in per_layer], 1)
                for name in LAYER_METRICS
                if per_layer
            },
        )
        if plan.all_metrics:
            result.tokens, result.token_feature, result.token_rank = _sample_tokens(
                h, mask, idx, plan.seeds, plan.token_sample
            )
        if plan.keep.sentence and plan.all_metrics:
            result.sentence = _sentence_vectors(h, mask, weights, measured.summary)
        result.per_feature = {k: out[k].float().cpu().numpy() for k in plan.keep.per_feature}
        if plan.keep.per_token:  # only tasks that keep per-token outputs pay for the cut
            # Real positions are contiguous in every row: cut the flat real values by length.
            real = inputs["attention_mask"].bool().cpu()
            cuts = np.cumsum(real.sum(1).numpy())[:-1]
            result.per_token = {
                k: np.split(out[k].float().cpu()[real].numpy(), cuts) for k in plan.keep.per_token
            }
        return result


def run_forward(
    lm: LoadedModel,
    features: Sequence[Feature],
    keep: Keep,
    settings: PassSettings = PassSettings(),
    *,
    desc: str = "",
    progress: bool = True,
    token_sample: int = 32,
    seeds: Sequence[Sequence[int]] | None = None,
    reference: Sequence[Feature] = (),
) -> ForwardOutput:
    """Run every feature through the model once and measure its context vectors.

    Args:
        lm: the loaded model.
        features: tokenised inputs; each has ``input_ids``, ``special_tokens_mask`` and the
            other names in ``lm.input_names``.
        keep: which of the head's outputs to keep (span logits, class logits, ...).
        settings: batch size, layers, representation, metric set and kernels.
        desc: label of the progress bar.
        progress: show a progress bar.
        token_sample: token vectors kept per feature for pooled metrics.
        seeds: per feature, the seed of its token sample (default: its position); the tasks
            seed by (example, window), so neither batching nor sharding changes the sample.
        reference: with ``settings.standardise``, the tokenised reference sample whose measured
            tokens give each layer's per-dimension mean and standard deviation (the same for
            every part of a unit, so sharding does not change them); run first, unmeasured.
    """
    metrics = settings.metrics
    check_metric_set(metrics)
    names = EXAMPLE_METRICS if metrics == "all" else LAYER_METRICS
    primary, extra = resolve_layers(
        lm, settings.layer, settings.layers, settings.representation, settings.stack
    )
    config = lm.model.config
    # On a GPU each new input shape can cost a kernel plan (cuDNN attention builds one per
    # shape, ~0.1 s), which padding does not: there, fixed-size batches and widths rounded up
    # to a multiple of 64 keep the shapes few. On a CPU padding is the cost: bucket tightly.
    gpu = lm.device.type == "cuda"
    plan = _Plan(
        lm=lm,
        features=features,
        keep=keep,
        primary=primary,
        extra=extra,
        hidden=settings.representation == "hidden",
        rule=TokenRule(
            stack=measured_stack(config, settings.stack, causal=lm.causal),
            summary_position=lm.summary_position,
            exclude_special_tokens=settings.exclude_special_tokens,
            skip_first=settings.skip_first,
            token_weighting=settings.token_weighting,
            pad_id=getattr(config, "pad_token_id", None),
            eos_id=getattr(config, "eos_token_id", None),
        ),
        all_metrics=metrics == "all",
        token_sample=token_sample,
        seeds=seeds if seeds is not None else [(i,) for i in range(len(features))],
        pad_values={
            "input_ids": getattr(lm.tokenizer, "pad_token_id", None) or 0,
            "token_type_ids": getattr(lm.tokenizer, "pad_token_type_id", 0),
        },
        multiple=GPU_WIDTH_MULTIPLE if gpu else 1,
    )
    n = len(features)
    result = ForwardOutput(
        metrics={name: np.full(n, np.nan) for name in names},
        n_tokens=np.zeros(n, np.int64),
        layers=extra,
        layer_metrics={name: np.full((n, len(extra)), np.nan) for name in LAYER_METRICS}
        if extra
        else {},
    )
    result.outputs = {k: [None] * n for k in keep.per_token}
    samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lengths = [feature_length(f) for f in features]
    batches = length_sorted_batches(lengths, settings.batch_size, max_padding=_max_padding(lm, gpu))
    reference_batches = []
    if settings.standardise:
        if not reference:
            raise CtxvecError(
                "standardise needs a reference sample, and this task's pass gave none; "
                "drop --standardise"
            )
        reference_batches = length_sorted_batches(
            [feature_length(f) for f in reference],
            settings.batch_size,
            max_padding=_max_padding(lm, gpu),
        )
    capture = nullcontext(None) if plan.hidden else capture_attention_outputs(lm.model)
    with (
        capture as take,
        cpu_kernels(lm.model, enabled=settings.kernels == "auto") as used,
        cpu_streams(lm.device, len(batches) + len(reference_batches), lm.model) as (pool, streams),
    ):
        if reference_batches:
            measure = functools.partial(
                _moments_batch, replace(plan, features=reference), take=take
            )
            sums = (
                pool.map(measure, reference_batches)
                if pool is not None
                else map(measure, reference_batches)
            )
            standard = _standard(list(sums))
            result.standard = standard[primary].numpy()
            on_device = {j: v.to(lm.device, torch.float32) for j, v in standard.items()}
            plan = replace(plan, standard={j: (v[0], v[1]) for j, v in on_device.items()})
        run = functools.partial(_run_batch, plan, take=take)
        done = pool.map(run, batches) if pool is not None else map(run, batches)
        for batch in tqdm(
            done, total=len(batches), desc=desc, unit="batch", disable=not progress, leave=False
        ):
            idx = batch.idx
            for name in names:
                result.metrics[name][idx] = batch.metrics[name].double().numpy()
            for name, values in batch.layer_metrics.items():
                result.layer_metrics[name][idx] = values.numpy()
            result.n_tokens[idx] = batch.metrics["n_tokens"].numpy()
            if batch.tokens is not None:
                samples.append((batch.tokens, batch.token_feature, batch.token_rank))
            for name, values in batch.per_token.items():
                for row, i in enumerate(idx):
                    result.outputs[name][i] = values[row]
            for name, values in batch.per_feature.items():
                if name not in result.outputs:
                    result.outputs[name] = np.zeros((n, *values.shape[1:]), np.float32)
                result.outputs[name][idx] = values
            for key, values in batch.sentence.items():
                if result.sentence is None:
                    result.sentence = {}
                if key not in result.sentence:
                    result.sentence[key] = np.zeros((n, values.shape[1]), np.float32)
                result.sentence[key][idx] = values
    result.kernels = {**used, **streams}  # plus what stepped aside (kernels, streams)
    if samples:
        parts = zip(*samples, strict=True)
        result.tokens, result.token_feature, result.token_rank = map(np.concatenate, parts)
    return result


def _max_padding(lm: LoadedModel, gpu: bool) -> float:
    """The share of a batch's width a feature may be padded by: none for variable-length
    audio (padding reaches its real frames, :class:`~ctxvec.loading.media.MediaLayout`), any
    for inputs of one shape (never padded), else the device's rule
    (:func:`~ctxvec.inference.batching.length_sorted_batches`)."""
    if lm.media is not None:
        return 1.0 if lm.media.fixed_size else 0.0
    return 1.0 if gpu else MAX_PADDING


def _sample_tokens(
    h: torch.Tensor, mask: torch.Tensor, idx: Sequence[int], seeds: Sequence[Sequence[int]], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``k`` token vectors per row, chosen by a generator seeded with the feature's seed.

    Returns the ``[n, hidden]`` float32 vectors, the feature of each, and its rank among the
    feature's measured tokens (which, unlike a column, does not depend on padding).
    """
    rows, cols, owners, ranks = [], [], [], []
    mask_cpu = mask.cpu().numpy()
    for row, feature in enumerate(idx):
        positions = np.flatnonzero(mask_cpu[row])
        rank = np.arange(len(positions))
        if len(positions) > k:
            rng = np.random.default_rng(list(seeds[feature]))
            rank = np.sort(rng.choice(len(positions), k, replace=False))
        rows.extend([row] * len(rank))
        cols.extend(positions[rank])
        owners.extend([feature] * len(rank))
        ranks.extend(rank)
    picked = h[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)]
    return picked.float().cpu().numpy(), np.asarray(owners, np.int64), np.asarray(ranks, np.int64)


def _sentence_vectors(
    h: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None, columns: torch.Tensor
) -> dict[str, np.ndarray]:
    """The summary token (at ``columns``, one per row; or the head's pooling, where
    ``columns`` holds ``[batch, n]`` weights) and the mean of the measured tokens (weighted by
    ``weights`` where given: a decoder's position-weighted mean), ``[batch, hidden]`` each."""
    if columns.is_floating_point():
        summary = torch.einsum("bn,bnh->bh", columns.to(h.device), h.float())
    else:
        rows = torch.arange(h.shape[0], device=h.device)
        summary = h[rows, columns.to(h.device)].float()
    w = token_weights(mask, weights)
    mean = torch.bmm(w.unsqueeze(1), torch.where(mask.unsqueeze(-1), h.float(), 0.0)).squeeze(1)
    return {"summary": summary.cpu().numpy(), "mean": mean.cpu().numpy()}
