"""What both tasks' predict functions return."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ctxvec.inference.summaries import PooledSample


@dataclass
class Predictions:
    """Per-example rows (columns in ``docs/outputs.md``), the ids skipped in baseline-compat
    mode, the pooled sample of the subset-level metrics (None with ``metrics="core"``), the
    extra layers measured and the CPU kernels used."""

    rows: pd.DataFrame
    skipped: list[str]
    sample: PooledSample | None = None
    layers: tuple[int, ...] = ()
    kernels: dict[str, bool] = field(default_factory=dict)
