"""Fixtures of the report's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sample_data import squad_json

from ctxvec import QASettings, StudyConfig, run_study


@pytest.fixture(scope="session")
def qa_study() -> Callable[..., Path]:
    """``qa_study(root, models, subsets, subset_size, log=None, **config)``: a QA study of
    ``models`` (``ModelSpec``s) on the sample SQuAD file, batches of 8, written to ``root/out``
    (``config``: more :class:`StudyConfig` fields); returns that folder."""

    def run(root: Path, models, subsets: int, subset_size: int, log=None, **config) -> Path:
        study = StudyConfig(
            figures=(),
            task="qa",
            models=tuple(models),
            data=str(squad_json(root / "dev.json")),
            subsets=subsets,
            subset_size=subset_size,
            settings=QASettings(batch_size=8),
            **config,
        )
        run_study(study, root / "out", progress=False, log=log or (lambda *_: None))
        return root / "out"

    return run
