"""What :func:`~ctxvec.study.run.run_study` returns: the output folder's tables, in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ctxvec.study.units import UnitResult


@dataclass
class StudyResult:
    """What a study produced; the same tables are in the output folder."""

    out_dir: Path
    examples: pd.DataFrame
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict[str, Any]
    manifest: dict[str, Any]
    units: list[UnitResult] = field(default_factory=list)
