"""Attention weights of one input, the model's prediction for it, and per-head statistics.

:func:`load_for_attention` loads a checkpoint like the study does (:func:`ctxvec.loading.
load_model`) and switches it to the eager attention path, the only one that returns attention
weights; the study's metric pass never asks for them. :func:`attend` runs one QA pair (question
first, one window, no truncation) or one text and returns an :class:`Attention`: the weights
``[layers, heads, n, n]`` (rows are queries, columns keys), the token strings, which tokens are
special and which belong to the question or the context (from the tokenizer's sequence ids and
special-tokens mask, never from positions: XLNet puts its special tokens last), and the prediction
(the task's :meth:`~ctxvec.tasks.base.Task.read`: the answer span through
:func:`ctxvec.tasks.windows.best_span`, or the label with its probability).
Encoding an input and the eager forward pass are shared with the study's ``--attention-stats``
and live in :mod:`ctxvec.tasks.heads`.

Per-head statistics follow their papers: attention entropy with Clark et al. (2019)'s smoothing
against the uniform baseline, averaged over inputs (for a causal model, over the keys each query
can see); mean attention distance pooled over all query
tokens as Vig & Belinkov (2019); the share of attention on special tokens; for QA the share from
question tokens to context tokens and back. :func:`subset_statistics` averages them over a seeded
subset of a dataset drawn with the study's loaders. Layers and heads are numbered from 1 in
everything a user sees (``-1`` is the last); arrays are indexed from 0.

Deliberately left out: batching (one input at a time, so no padding ever enters the weights),
sliding windows (an input longer than the model takes is an error, not silently cut), XLNet's
query stream and attention to memory, and gradient-based attributions. Figures live in
:mod:`ctxvec.attention.plots`, the HTML viewer in :mod:`ctxvec.attention.viewer`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from ctxvec.errors import CtxvecError
from ctxvec.inference.forward import real_frames
from ctxvec.loading import DTypeName, LoadedModel, ModelSpec, load_model, resolve_model
from ctxvec.metrics.heads import (
    CONTEXT,
    SPECIAL,
    combine_statistics,
    input_statistics,
    visible_keys,
)
from ctxvec.tasks import Task, get_task, task_names, task_of_model
from ctxvec.tasks.heads import attention_weights, input_limit, media_segments, switch_to_eager


@dataclass
class Attention:
    """One input's attention weights and prediction.

    Attributes:
        model: the model's label.
        task: the task's name: ``qa`` (question + context) or ``cls`` (one text).
        weights: ``[layers, heads, n_tokens, n_tokens]`` float32; row ``i`` is query token ``i``
            and sums to 1 over the keys.
        tokens: ``[n_tokens]`` token strings as the tokenizer writes them.
        segment: ``[n_tokens]`` int8: -1 special token, 0 question (or the text), 1 context.
        prediction: the answer (``""``: no answer) or the predicted label.
        probability: QA: softmax(start) x softmax(end) of the best span; cls: of the label.
        span: QA: first and last token (inclusive) of the best span, even when the no-answer
            score wins; ``None`` for cls or when no span is valid.
        na_prob: QA: null score minus best span score (answer ``""`` when above the threshold).
        inputs: the question and context, or the text (an image or a clip: where it came
            from, as a short description).
        causal: the model is causal (decoder-only): query ``i`` sees keys ``0..i`` only, its
            weights on the others are 0, and the statistics are over the keys each query sees.
        picture: an image model's input image ``[height, width, 3]`` uint8, or an audio
            model's log-power spectrogram ``[frequencies, time]`` of the window it read; None
            for text.
        grid: the patch grid ``(rows, cols)`` (ViT-like images; AST: frequency x time), or
            None (frames in time order).
        n_frames: the tokens of real audio (an audio model; Whisper pads to its chunk).
    """

    model: str
    task: str
    weights: np.ndarray
    tokens: list[str]
    segment: np.ndarray
    prediction: str
    probability: float
    span: tuple[int, int] | None = None
    na_prob: float | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    causal: bool = False
    picture: np.ndarray | None = None
    grid: tuple[int, int] | None = None
    n_frames: int | None = None

    @property
    def n_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def n_heads(self) -> int:
        return self.weights.shape[1]

    @property
    def special(self) -> np.ndarray:
        """``[n_tokens]`` bool: special tokens ([CLS]/[SEP] or the family's equivalents)."""
        return self.segment == SPECIAL

    @property
    def boundary(self) -> int | None:
        """Index of the first context token (QA), or ``None``."""
        context = np.flatnonzero(self.segment == CONTEXT)
        return int(context[0]) if context.size else None

    @property
    def visible(self) -> np.ndarray:
        """``[n_tokens, n_tokens]`` bool, query by key: the keys each query can see (all, or
        causal the lower triangle); the views draw the others as masked, not as zero."""
        return visible_keys(len(self.tokens), self.causal)

    def layer_index(self, layer: int) -> int:
        """0-based index of a 1-based layer number (``-1`` = last)."""
        return _index(layer, self.n_layers, "layer", self.model)

    def head_index(self, head: int) -> int:
        """0-based index of a 1-based head number (``-1`` = last)."""
        return _index(head, self.n_heads, "head", self.model)

    def head(self, layer: int, head: int) -> np.ndarray:
        """``[n_tokens, n_tokens]`` weights of one head (1-based numbers, ``-1`` = last)."""
        return self.weights[self.layer_index(layer), self.head_index(head)]

    def describe(self) -> str:
        """The prediction as one line."""
        if self.na_prob is None:  # a label, not an answer span
            return f"{self.model}: label {self.prediction} (probability {self.probability:.3f})"
        if not self.prediction:
            return f"{self.model}: no answer (null score - best span score = {self.na_prob:.3f})"
        return (
            f'{self.model}: answer "{self.prediction}" (span probability {self.probability:.3f}, '
            f"null score - span score = {self.na_prob:.3f})"
        )

    def statistics(self) -> pd.DataFrame:
        """Per-head statistics of this input (columns as :func:`combine_statistics`)."""
        return combine_statistics([input_statistics(self.weights, self.segment, self.causal)])

    def _repr_html_(self) -> str:
        """The interactive viewer in a notebook (offline: its script and data are inline).

        Two things differ from a page of its own: a frontend may run an output's scripts
        before the output is in the page (the classic Notebook does), so the viewer waits for
        its root; and a notebook that is not trusted (reopened from disk) runs no script at
        all, so a line says what the output is and how to see it, until the viewer replaces it.
        """
        import html
        import re

        from ctxvec.attention.viewer import viewer_fragment

        fragment = viewer_fragment(self)
        call = re.search(
            r'ctxvecAttentionViewer\(document\.getElementById\("([\w-]+)"\)\);', fragment
        )
        if call is None:  # not the layout this method knows: show the viewer as it is
            return fragment
        root = call.group(1)
        boot = (
            "(function boot(tries) {"
            f' const root = document.getElementById("{root}");'
            f' const note = document.getElementById("{root}-note");'
            " if (root === null) { if (tries < 200) setTimeout(boot, 25, tries + 1); return; }"
            " if (note !== null) note.remove();"
            " ctxvecAttentionViewer(root);"
            "})(0);"
        )
        note = (
            f'<p id="{root}-note" class="ctxvec-viewer-note">'
            f"{html.escape(self.describe())}. The attention viewer appears when the cell runs in "
            "a trusted notebook (a notebook reopened from disk runs no scripts until trusted)."
            "</p>\n"
        )
        return note + fragment[: call.start()] + boot + fragment[call.end() :]


def _index(number: int, count: int, what: str, model: str) -> int:
    if number < 0 and -number <= count:
        return count + number
    if 1 <= number <= count:
        return number - 1
    raise CtxvecError(
        f"{what} {number} is out of range for '{model}' ({count} {what}s: use 1..{count} "
        "or -1 for the last)"
    )


def load_for_attention(
    model: str | ModelSpec,
    task: str | Task,
    device: str = "auto",
    dtype: DTypeName = "float32",
    allow_untrained_head: bool = False,
) -> LoadedModel:
    """Load a checkpoint with the task's head on the eager attention path.

    Raises:
        CtxvecError: the checkpoint cannot be loaded or cannot switch to eager attention.
    """
    spec = model if isinstance(model, ModelSpec) else ModelSpec(model)
    head = get_task(task).head
    # Image and audio models are built eager at once: some cannot switch to it later.
    eager = head.modality != "text"
    lm = load_model(resolve_model(spec), head, device, dtype, allow_untrained_head, eager)
    switch_to_eager(lm)
    return lm


def attend(
    lm: LoadedModel,
    *,
    question: str | None = None,
    context: str | None = None,
    text: str | None = None,
    image: str | None = None,
    audio: str | None = None,
    max_length: int | None = None,
    n_best: int = 20,
    max_answer_length: int = 30,
    na_threshold: float = 0.0,
) -> Attention:
    """Run one QA pair (``question`` and ``context``), one ``text``, or one ``image`` or
    ``audio`` file (its first window) and keep its attentions.

    Args:
        lm: a model from :func:`load_for_attention` (QA head for a pair, cls head for a text).
        max_length: longest input in tokens (default: the model's limit, or 512 without one).
        n_best, max_answer_length, na_threshold: the QA span search, as in the study.

    Raises:
        CtxvecError: wrong combination of inputs, input too long, or no attentions returned.
    """
    given = {"question": question, "context": context, "text": text, "image": image}
    given["audio"] = audio
    return attend_inputs(
        lm,
        {k: v for k, v in given.items() if v is not None},
        max_length,
        n_best=n_best,
        max_answer_length=max_answer_length,
        na_threshold=na_threshold,
    )


def attend_inputs(
    lm: LoadedModel, inputs: dict[str, str], max_length: int | None = None, **options: Any
) -> Attention:
    """:func:`attend` for any task: ``inputs`` are the fields of the task of ``lm``'s head
    (:attr:`~ctxvec.tasks.base.Task.input_fields`); ``options`` are the task's reading options
    it takes (the QA span search's, for instance)."""
    task = task_of_model(lm)
    wanted = task_for_inputs(inputs)
    if wanted is not task:
        raise CtxvecError(
            f"model '{lm.resolved.spec.label}' was loaded with a {task.name} head but got "
            f"{_fields(wanted.input_fields)}; load it with task='{wanted.name}'"
        )
    accepted = inspect.signature(task.read).parameters
    reading = task.read(
        lm,
        inputs,
        input_limit(lm, max_length),
        **{k: v for k, v in options.items() if k in accepted},
    )
    weights = attention_weights(reading.output)
    if lm.media is not None:
        return _media_attention(lm, task, reading, weights, inputs)
    return Attention(
        model=lm.resolved.spec.label,
        task=task.name,
        weights=weights,
        tokens=lm.tokenizer.convert_ids_to_tokens(reading.encoded.feature["input_ids"]),
        segment=reading.encoded.segment,
        prediction=reading.prediction,
        probability=reading.probability,
        span=reading.span,
        na_prob=reading.na_prob,
        inputs=dict(inputs),
        causal=lm.causal,
    )


def _media_attention(
    lm: LoadedModel, task: Task, reading: Any, weights: np.ndarray, inputs: dict[str, Any]
) -> Attention:
    """:func:`attend_inputs`' :class:`Attention` of an image or a clip: tokens named by place
    (``[CLS]``-like ``[S0]``, patch ``r2c3``, frame ``t17``), and the picture to draw over."""
    n = weights.shape[-1]
    layout = lm.media
    names = [f"[S{k}]" for k in range(layout.n_special)]
    if layout.grid is not None:
        rows, cols = layout.grid
        names += [f"r{r}c{c}" for r in range(rows) for c in range(cols)]
    names += [f"t{k}" for k in range(n - len(names))]
    (field_name,) = task.input_fields
    given = inputs[field_name]
    n_frames = None
    if layout.modality == "sound":
        n_frames = n
        if layout.frames_from_length:
            length = torch.tensor([reading.encoded.feature["length"]])
            n_frames = min(n, int(real_frames(lm, length)[0]))
    return Attention(
        model=lm.resolved.spec.label,
        task=task.name,
        weights=weights,
        tokens=names,
        segment=media_segments(lm, n),
        prediction=reading.prediction,
        probability=reading.probability,
        inputs={field_name: given if isinstance(given, str) else f"an array ({field_name})"},
        picture=reading.picture,
        grid=layout.grid,
        n_frames=n_frames,
    )


def task_for_inputs(inputs: dict[str, str]) -> Task:
    """The task whose input fields are exactly the ones given."""
    for name in task_names():
        task = get_task(name)
        if set(task.input_fields) == set(inputs):
            return task
    kinds = " or ".join(_fields(get_task(n).input_fields) for n in task_names())
    raise CtxvecError(f"give either {kinds}")


def _fields(names: tuple[str, ...]) -> str:
    return " and ".join(f"a {n}" for n in names)
