"""The unit cache: each finished unit's rows and summary, stored under its content key.

A unit is stored as soon as it finishes, as ``<label>__subset<k>__<key>.parquet`` (its example
rows) and ``.json`` (its summary), both written atomically; the JSON is written last and marks
the unit complete. An interrupted study resumes from what is stored, and a rerun with the same
settings recomputes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from ctxvec import files
from ctxvec.study.units import Unit, UnitResult


def cache_paths(cache_dir: Path, unit: Unit) -> tuple[Path, Path]:
    stem = f"{_safe(unit.model.label)}__subset{unit.subset}__{unit.key}"
    return cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def load_cached(cache_dir: Path, unit: Unit) -> UnitResult | None:
    rows_path, meta_path = cache_paths(cache_dir, unit)
    if not (meta_path.is_file() and rows_path.is_file()):
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rows = pd.read_parquet(rows_path)
    rows["model"] = unit.model.label  # the label may differ from the one cached
    return UnitResult(unit, rows, meta["summary"], meta["seconds"], from_cache=True)


def store(cache_dir: Path, result: UnitResult) -> None:
    rows_path, meta_path = cache_paths(cache_dir, result.unit)
    files.write_parquet(rows_path, result.rows)
    # The JSON is written last: its presence marks the unit as complete.
    files.write_json(
        meta_path,
        {
            "unit": dataclasses.asdict(result.unit),
            "summary": result.summary,
            "seconds": result.seconds,
        },
    )
