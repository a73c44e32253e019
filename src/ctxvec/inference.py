"""The study's forward pass: length-sorted batches, one forward each, metrics on the device.

Both tasks hand this module already-tokenised features (lists of ids, no padding). It sorts them
by length so batches carry little padding, pads each batch on the model's padding side, runs one
forward under ``torch.inference_mode`` with hidden states but without attentions (attentions
force the slow eager path), computes the context-vector metrics of the chosen layer on the
model's device, and returns the head's outputs unpadded, in the features' original order.
Turning logits into answers or labels is the task modules' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from ctxvec.errors import CtxvecError
from ctxvec.loading import LoadedModel
from ctxvec.metrics import context_vector_metrics

Feature = Mapping[str, Sequence[int]]


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


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first (fail fast on memory)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


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
        batch_size: features per forward.
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
    batches = length_sorted_batches([len(f["input_ids"]) for f in features], batch_size)
    with torch.inference_mode():
        for idx in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
            batch = [features[i] for i in idx]
            inputs, special = collate(batch, lm.input_names, pad_values, lm.padding_side)
            if lm.padding_side == "left" and lm.positions_from_mask:
                # Real tokens keep the positions they would have unpadded: 0, 1, 2, ...
                inputs["position_ids"] = (inputs["attention_mask"].cumsum(1) - 1).clamp(min=0)
            inputs = {k: v.to(lm.device) for k, v in inputs.items()}
            out = lm.model(**inputs, output_hidden_states=True, return_dict=True)
            mask = inputs["attention_mask"].bool()
            if exclude_special_tokens:
                mask &= ~special.to(lm.device)
            stats = context_vector_metrics(out.hidden_states[layer], mask)
            variance[idx] = stats["variance"].double().cpu().numpy()
            cse[idx] = stats["cse"].double().cpu().numpy()
            n_tokens[idx] = stats["n_tokens"].cpu().numpy()
            if head == "qa":
                real = inputs["attention_mask"].bool().cpu()
                s = out.start_logits.float().cpu()
                e = out.end_logits.float().cpu()
                for row, i in enumerate(idx):
                    starts[i] = s[row][real[row]].numpy()
                    ends[i] = e[row][real[row]].numpy()
            else:
                batch_logits = out.logits.float().cpu().numpy()
                if logits is None:
                    logits = np.zeros((n, batch_logits.shape[1]), np.float32)
                logits[idx] = batch_logits
    if head == "qa":
        return ForwardOutput(variance, cse, n_tokens, start_logits=starts, end_logits=ends)
    return ForwardOutput(variance, cse, n_tokens, logits=logits)
