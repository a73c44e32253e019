"""Shared fixtures: tiny local checkpoints of every family, built once per test session."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_models import make_tiny_model
from transformers.utils import logging as transformers_logging

transformers_logging.disable_progress_bar()  # save_pretrained's bars would pollute stderr checks

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_model(family, task, **kwargs)``: the directory of a tiny checkpoint (cached)."""
    root = tmp_path_factory.mktemp("tiny_models")
    built: dict[tuple, Path] = {}

    def get(family: str, task: str, **kwargs) -> Path:
        key = (family, task, *sorted(kwargs.items(), key=str))
        if key not in built:
            name = "-".join(str(part) for part in key).replace("/", "_").replace(" ", "")
            built[key] = make_tiny_model(family, task, root / name, **kwargs)
        return built[key]

    return get
