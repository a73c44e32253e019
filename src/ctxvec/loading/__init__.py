"""Resolve and load checkpoints with the head of a task.

A model is named by a hub id or a local directory (:class:`ModelSpec`). :func:`resolve_model`
turns that name into a local directory and a content fingerprint without loading weights, so a
study can tell whether a cached result is still valid; :func:`load_model` loads tokenizer and
model with the task's head onto a device and dtype. A panel (:mod:`~ctxvec.loading.panels`) is
a list of such names.

:mod:`~ctxvec.loading.names` and :mod:`~ctxvec.loading.panels` import neither torch nor
transformers, so naming models and listing panels stays fast (``ctxvec panels``);
:mod:`~ctxvec.loading.load` imports torch, and is imported here on first use of one of its
names (``LoadedModel``, ``load_model``, ``resolve_device``, ``resolve_dtype``, ``DTYPES``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ctxvec.loading.names import (
    HUB_PATTERNS,
    SMALL_FILE_BYTES,
    DeviceName,
    DTypeName,
    ModelSpec,
    ResolvedModel,
    resolve_model,
)

# Names of the torch-side module, imported on first use.
_LAZY = {"DTYPES", "Head", "LoadedModel", "load_model", "resolve_device", "resolve_dtype"}

if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__
    from ctxvec.loading.load import (
        DTYPES,
        Head,
        LoadedModel,
        load_model,
        resolve_device,
        resolve_dtype,
    )

__all__ = [
    "DTYPES",
    "HUB_PATTERNS",
    "SMALL_FILE_BYTES",
    "DTypeName",
    "DeviceName",
    "Head",
    "LoadedModel",
    "ModelSpec",
    "ResolvedModel",
    "load_model",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ctxvec.loading' has no attribute '{name}'")
    value = getattr(importlib.import_module("ctxvec.loading.load"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
