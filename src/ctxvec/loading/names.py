"""A model as the user names it, and that name pinned down to files and a fingerprint.

Nothing here imports torch or transformers: naming and resolving a model (and listing panels)
stays cheap; :mod:`~ctxvec.loading.load` does the loading.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from ctxvec.errors import CtxvecError, first_line

DeviceName = str  # "auto", "cpu", "cuda", "cuda:1", "mps"
# A model attribute's value (family, steps, seed, ...): what one CSV cell and one TOML value hold.
Scalar: TypeAlias = str | int | float | bool
Attributes: TypeAlias = Mapping[str, Scalar] | Iterable[tuple[str, Scalar]]
DTypeName = Literal["auto", "float32", "bfloat16", "float16"]
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
        attributes: what the panel says of the model (``family``, ``steps``, ``seed``, ...) as
            ``(key, value)`` pairs with scalar values; a mapping is accepted and kept as pairs,
            so the spec stays hashable. They describe the model and change nothing it computes
            (a unit's key leaves them out); the study's confounds analysis controls for them
            (``docs/study.md``). :attr:`attribute_map` reads them as a dict.
    """

    id: str
    name: str = ""
    revision: str | None = None
    attributes: tuple[tuple[str, Scalar], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "attributes", attribute_pairs(self.attributes, self.name or self.id)
        )

    @property
    def attribute_map(self) -> dict[str, Scalar]:
        return dict(self.attributes)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        path = Path(self.id)
        return path.name if path.is_dir() else self.id


def attribute_pairs(attributes: Attributes, model: str) -> tuple[tuple[str, Scalar], ...]:
    """``attributes`` as ``(key, value)`` pairs in their given order, or one line saying which
    key is not a name or which value is not a string, a finite number or a boolean."""
    pairs = list(attributes.items() if isinstance(attributes, Mapping) else attributes)
    seen: set[str] = set()
    for key, value in pairs:
        if not isinstance(key, str) or not key.strip():
            raise CtxvecError(f"model '{model}': attribute name {key!r} must be non-empty text")
        if key in seen:
            raise CtxvecError(f"model '{model}': attribute '{key}' is given twice")
        seen.add(key)
        if not isinstance(value, Scalar) or (isinstance(value, float) and not math.isfinite(value)):
            raise CtxvecError(
                f"model '{model}': attribute '{key}' = {value!r} is not a scalar; give a string, "
                "a finite number or a boolean"
            )
    return tuple(pairs)


@dataclass(frozen=True)
class ResolvedModel:
    """A model pinned down: where its files are, which revision, and a content fingerprint."""

    spec: ModelSpec
    path: str
    revision: str | None
    fingerprint: str


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
