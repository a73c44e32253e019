"""Load a resolved checkpoint with the head of a task (tokenizer and model, device, dtype).

A checkpoint whose task head is missing or freshly initialised is refused unless the caller
passes ``allow_untrained_head=True`` (the baseline silently ran sentiment classifiers through a
QA head). This module also decides the inputs a model gets (``token_type_ids`` only where both
tokenizer and model take them) and the padding side (right, except for models that summarise a
sequence from its last position, such as XLNet). It does not tokenise data or run inference.
transformers is imported on the first load only.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Literal

import torch

from ctxvec.errors import CtxvecError, first_line
from ctxvec.loading.names import DeviceName, DTypeName, ResolvedModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# RoBERTa-style embeddings number positions from padding_idx + 1, so the table holds that many
# more rows than tokens fit (MPNet too: its 514 positions take 512 tokens; a 513th would index
# past the table).
_PADDING_OFFSET_TYPES = frozenset({"roberta", "xlm-roberta", "camembert", "longformer", "mpnet"})


@dataclass(frozen=True)
class Head:
    """The task head a model is loaded with: a transformers auto class (by name, so that this
    module imports transformers only when it loads) and how a message names the head."""

    auto_class: str  # e.g. "AutoModelForQuestionAnswering"
    words: str  # e.g. "question-answering"

    @property
    def class_suffix(self) -> str:
        """What the concrete classes' names end with (``ForQuestionAnswering``)."""
        return self.auto_class.removeprefix("AutoModel")


@dataclass
class LoadedModel:
    resolved: ResolvedModel
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    # Tokenizer outputs passed to forward (e.g. no token_type_ids for RoBERTa).
    input_names: tuple[str, ...]
    padding_side: Literal["left", "right"]
    # Longest input the model takes, or None for models without absolute positions.
    max_positions: int | None
    # Left padding shifts default absolute position ids; such models get them from the mask.
    positions_from_mask: bool = False
    loading_notes: tuple[str, ...] = ()
    # The task head it was loaded with.
    head: Head | None = None


def resolve_device(device: DeviceName = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CtxvecError(
            f"unknown device '{device}'; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CtxvecError("device 'cuda' was asked for but no CUDA GPU is available; use cpu")
    return dev


def resolve_dtype(dtype: DTypeName, device: torch.device) -> torch.dtype:
    """``auto`` means bfloat16 on a GPU that supports it, float32 elsewhere."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise CtxvecError(f"unknown dtype '{dtype}'; use auto, float32, bfloat16 or float16")
    return DTYPES[dtype]


def load_model(
    resolved: ResolvedModel,
    head: Head,
    device: DeviceName = "auto",
    dtype: DTypeName = "auto",
    allow_untrained_head: bool = False,
) -> LoadedModel:
    """Load tokenizer and model with a task's ``head``, in eval mode on ``device``.

    Raises:
        CtxvecError: the checkpoint cannot be loaded, has no head class for the task, or its head
            is missing from the checkpoint (unless ``allow_untrained_head``).
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    auto_class = getattr(transformers, head.auto_class)
    task_words = head.words
    name = resolved.spec.label
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(resolved.path)
        # A fixed seed makes an allowed untrained head the same on every run.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, info = auto_class.from_pretrained(
                resolved.path, output_loading_info=True, dtype=torch_dtype
            )
    except ValueError as e:
        if "Unrecognized configuration class" in str(e):
            raise CtxvecError(
                f"model '{name}' has no {task_words} head class in transformers; "
                "pick a checkpoint of an encoder family that has one"
            ) from None
        raise CtxvecError(f"cannot load model '{name}': {first_line(e)}") from None
    except OSError as e:
        raise CtxvecError(f"cannot load model '{name}': {first_line(e)}") from None

    head_missing = sorted(info.get("missing_keys", ()))
    mismatched = sorted(str(k) for k in info.get("mismatched_keys", ()))
    notes = []
    if head_missing or mismatched:
        what = ", ".join((head_missing + mismatched)[:4])
        if not allow_untrained_head:
            raise CtxvecError(
                f"model '{name}' has no trained {task_words} head (freshly initialised: {what}); "
                "use a checkpoint fine-tuned for the task, or pass --allow-untrained-head"
            )
        notes.append(f"untrained head allowed: {what}")

    model.to(dev).eval()
    forward_params = inspect.signature(model.forward).parameters
    input_names = tuple(n for n in tokenizer.model_input_names if n in forward_params)
    # Sequence summaries read from the last position (XLNet's "last") need left padding; every
    # other model gets right padding so absolute position ids of real tokens never shift.
    padding_side = "left" if getattr(model.config, "summary_type", None) == "last" else "right"
    # RoBERTa-like embeddings (a ``padding_idx``) already derive positions from the input ids.
    embeddings = getattr(model.base_model, "embeddings", None)
    positions_from_mask = "position_ids" in forward_params and not hasattr(
        embeddings, "padding_idx"
    )
    return LoadedModel(
        resolved=resolved,
        model=model,
        tokenizer=tokenizer,
        device=dev,
        dtype=torch_dtype,
        input_names=input_names,
        padding_side=padding_side,
        max_positions=_max_positions(model.config),
        positions_from_mask=positions_from_mask,
        loading_notes=tuple(notes),
        head=head,
    )


def _max_positions(config: object) -> int | None:
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None or limit <= 0:  # XLNet reports -1: relative positions, no limit
        return None
    if getattr(config, "model_type", "") in _PADDING_OFFSET_TYPES:
        limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
    return int(limit)
