"""Resolve and load checkpoints with the head of a task.

A model is named by a hub id or a local directory (:class:`ModelSpec`). :func:`resolve_model`
turns that name into a local directory and a content fingerprint without loading weights, so a
study can tell whether a cached result is still valid; :func:`load_model` loads tokenizer and
model with the task's head onto a device and dtype.

A checkpoint whose task head is missing or freshly initialised is refused unless the caller
passes ``allow_untrained_head=True`` (the baseline silently ran sentiment classifiers through a
QA head). This module also decides the inputs a model gets (``token_type_ids`` only where both
tokenizer and model take them) and the padding side (right, except for models that summarise a
sequence from its last position, such as XLNet). It does not tokenise data or run inference.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ctxvec.data import Task
from ctxvec.errors import CtxvecError, first_line

DeviceName = str  # "auto", "cpu", "cuda", "cuda:1", "mps"
DTypeName = Literal["auto", "float32", "bfloat16", "float16"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Files a checkpoint needs; other formats (TF, Flax, ONNX) are never downloaded.
HUB_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors", "*.tiktoken"]
# Files hashed in full; weights are hashed by size plus their first and last MiB.
SMALL_FILE_BYTES = 4 << 20


@dataclass(frozen=True)
class ModelSpec:
    """A model as the user names it.

    Attributes:
        id: hub id (``deepset/roberta-base-squad2``) or local directory.
        name: the label in tables and plots (default: the hub id, or the directory's name).
        revision: hub branch, tag or commit (ignored for local directories).
    """

    id: str
    name: str = ""
    revision: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        path = Path(self.id)
        return path.name if path.is_dir() else self.id


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned down: where its files are, which revision, and a content fingerprint."""

    spec: ModelSpec
    path: str
    revision: str | None
    fingerprint: str


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


def resolve_model(spec: ModelSpec) -> ResolvedModel:
    """Find a model's files (downloading from the hub if needed) and fingerprint them."""
    path = Path(spec.id).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CtxvecError(
                f"model directory '{spec.id}' has no config.json; give a folder written by "
                "save_pretrained or a hub id"
            )
        return ResolvedModel(spec, str(path.resolve()), None, _fingerprint_dir(path))
    if spec.id.startswith((".", "/", "~")) or spec.id.count("/") > 1:
        raise CtxvecError(f"model directory '{spec.id}' does not exist; check the path")
    snapshot = _download(spec)
    revision = Path(snapshot).name  # snapshots/<commit sha>
    return ResolvedModel(spec, snapshot, revision, f"{spec.id}@{revision}")


def _download(spec: ModelSpec) -> str:
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot = huggingface_hub.snapshot_download(
            spec.id, revision=spec.revision, allow_patterns=HUB_PATTERNS
        )
        if not any(Path(snapshot).glob("*.safetensors")):  # older repos ship only .bin weights
            snapshot = huggingface_hub.snapshot_download(
                spec.id, revision=spec.revision, allow_patterns=[*HUB_PATTERNS, "*.bin"]
            )
    except LocalEntryNotFoundError:
        raise CtxvecError(
            f"model '{spec.id}' is neither a local directory nor in the hub cache, and the hub "
            "cannot be reached; check the name, go online, or give a local directory"
        ) from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise CtxvecError(f"cannot get model '{spec.id}' from the hub: {first_line(e)}") from None
    return snapshot


def _fingerprint_dir(path: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        size = f.stat().st_size
        digest.update(f"{f.relative_to(path)}:{size}".encode())
        with f.open("rb") as fh:
            if size <= SMALL_FILE_BYTES:
                digest.update(fh.read())
            else:
                digest.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read())
    return digest.hexdigest()[:16]


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
    task: Task,
    device: DeviceName = "auto",
    dtype: DTypeName = "auto",
    allow_untrained_head: bool = False,
) -> LoadedModel:
    """Load tokenizer and model with the task's head, in eval mode on ``device``.

    Raises:
        CtxvecError: the checkpoint cannot be loaded, has no head class for the task, or its head
            is missing from the checkpoint (unless ``allow_untrained_head``).
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    auto_class = {
        "qa": transformers.AutoModelForQuestionAnswering,
        "cls": transformers.AutoModelForSequenceClassification,
    }[task]
    task_words = {"qa": "question-answering", "cls": "sequence-classification"}[task]
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
    )


def _max_positions(config: object) -> int | None:
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None or limit <= 0:  # XLNet reports -1: relative positions, no limit
        return None
    # RoBERTa-style embeddings reserve positions for the padding offset.
    if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert", "longformer"}:
        limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
    return int(limit)
