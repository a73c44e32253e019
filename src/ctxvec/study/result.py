"""What :func:`~ctxvec.study.run.run_study` returns: the output folder's tables, in memory.

In a notebook a :class:`StudyResult` shows itself (``_repr_html_``): the per-model table with
bootstrap intervals, the score's correlations with Variance and CSE, a small scatter of score
against Variance, and where the report is. ``str(result)`` is the summary the terminal gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ctxvec.report import Run, summary_markdown
from ctxvec.report.summary import summary_html
from ctxvec.study.units import UnitResult


@dataclass(repr=False)
class StudyResult:
    """What a study produced; the same tables are in the output folder."""

    out_dir: Path
    examples: pd.DataFrame
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict[str, Any]
    manifest: dict[str, Any]
    units: list[UnitResult] = field(default_factory=list)
    # attention.csv's table (``--attention-stats``), or None without it.
    attention: pd.DataFrame | None = None

    def as_run(self) -> Run:
        """The result as the report reads a finished folder (no file is read)."""
        return Run(
            path=Path(self.out_dir),
            manifest=self.manifest,
            subsets=self.subsets,
            models=self.models,
            correlations=self.correlations,
            attention=self.attention,
        )

    def __repr__(self) -> str:
        config = self.manifest.get("config", {})
        return (
            f"StudyResult({config.get('task', '?')}, {len(self.models)} model(s) x "
            f"{config.get('subsets', '?')} subset(s), score {self.correlations.get('score')}, "
            f"out_dir={str(self.out_dir)!r})"
        )

    def __str__(self) -> str:
        return summary_markdown(self.as_run())

    def _repr_html_(self) -> str:
        return summary_html(self.as_run())
