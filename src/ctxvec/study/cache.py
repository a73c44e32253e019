"""The unit cache: each finished unit's rows and summary, stored under its content key, verified.

A unit is stored as soon as it finishes, as ``<label>__subset<k>__<key>.parquet`` (its example
rows) and ``.json`` (its summary), both written atomically. The JSON is written last: it marks
the unit complete and vouches for the rows file by its size and SHA-256. A stored unit is used
only when everything checks out: the marker parses, names this unit's key and format, the rows
file has the recorded size and checksum, and the rows are this unit's examples in its order.
Anything else (a file cut short by a crash or a full disk, another unit's file copied under this
name, a stale format) is reported in one line and the unit is recomputed, so a damaged cache
never stops a study and never feeds wrong rows into its results.

Shards of a sharded unit (:mod:`ctxvec.study.shards`) are stored the same way, under
``shards/``, with their pooled sample and their attention sample's per-input statistics as
``.npz`` beside the rows.

Two studies may share a cache folder: every write is atomic and every read verified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow

from ctxvec import files
from ctxvec.inference.summaries import PooledSample
from ctxvec.study.shards import Shard, ShardResult
from ctxvec.study.units import UNIT_FORMAT, Unit, UnitResult
from ctxvec.tasks.heads import HeadInputs

_HEADS = "heads_"  # prefix of the per-input attention statistics in a shard's .npz


def cache_paths(cache_dir: Path, unit: Unit) -> tuple[Path, Path]:
    """The unit's rows file and completion marker."""
    stem = f"{_safe(unit.model.label)}__subset{unit.subset}__{unit.key}"
    return cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]


def file_digest(path: Path) -> dict[str, int | str]:
    """``{"bytes": size, "sha256": hex digest}`` of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def load_cached(
    cache_dir: Path, unit: Unit, warn: Callable[[str], None] = print
) -> UnitResult | None:
    """The stored result of ``unit``, or None when there is none or it does not check out
    (then ``warn`` gets one line saying why, and the caller recomputes the unit)."""
    rows_path, meta_path = cache_paths(cache_dir, unit)
    if not meta_path.is_file():
        return None
    try:
        result = _verified(unit, rows_path, meta_path)
    except _Damaged as why:
        warn(
            f"ctxvec: cached unit {meta_path.name} is unusable ({why}); recomputing "
            f"{unit.model.label} subset {unit.subset}"
        )
        return None
    return result


class _Damaged(Exception):
    """Why a stored unit cannot be used (never leaves this module)."""


def _marker(meta_path: Path, key: str) -> dict:
    """The marker's content, if it parses and names ``key`` in this format."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _Damaged("its marker is not valid JSON: cut short or overwritten") from None
    if not isinstance(meta, dict) or meta.get("format") != UNIT_FORMAT:
        raise _Damaged("its marker is of another format")
    if meta.get("key") != key:
        raise _Damaged(f"its marker is for {meta.get('key')}, not {key}")
    return meta


def _rows(rows_path: Path, meta: dict) -> pd.DataFrame:
    """The rows file, if it is the one the marker vouches for."""
    if not rows_path.is_file():
        raise _Damaged(f"{rows_path.name} is missing")
    if file_digest(rows_path) != meta.get("rows"):
        raise _Damaged(f"{rows_path.name} is not the file its marker vouches for")
    try:
        return pd.read_parquet(rows_path)
    except (OSError, ValueError, pyarrow.ArrowException) as e:  # checksum collision: paranoia
        raise _Damaged(f"{rows_path.name} cannot be read ({type(e).__name__})") from None


def _verified(unit: Unit, rows_path: Path, meta_path: Path) -> UnitResult:
    meta = _marker(meta_path, unit.key)
    rows = _rows(rows_path, meta)
    expected = [i for i in unit.example_ids if i not in set(meta["summary"]["skipped_ids"])]
    if "id" not in rows or rows["id"].tolist() != expected:
        raise _Damaged(f"{rows_path.name} holds other examples than this unit's")
    rows["model"] = unit.model.label  # the label may differ from the one cached
    return UnitResult(unit, rows, meta["summary"], meta["seconds"], from_cache=True)


def store(cache_dir: Path, result: UnitResult) -> None:
    """Store a finished unit: rows first, then the marker that vouches for them."""
    rows_path, meta_path = cache_paths(cache_dir, result.unit)
    with files.atomic_path(rows_path) as tmp:
        result.rows.to_parquet(tmp, index=False)
        rows = file_digest(tmp)  # of what is written, whatever else writes the same name
    files.write_json(
        meta_path,
        {
            "format": UNIT_FORMAT,
            "key": result.unit.key,
            "rows": rows,
            "unit": dataclasses.asdict(result.unit),
            "summary": result.summary,
            "seconds": result.seconds,
        },
    )


def shard_paths(cache_dir: Path, shard: Shard) -> tuple[Path, Path, Path]:
    """A shard's rows, pooled sample and completion marker."""
    stem = f"{_safe(shard.unit.model.label)}__subset{shard.unit.subset}__{shard.key}"
    folder = cache_dir / "shards"
    return folder / f"{stem}.parquet", folder / f"{stem}.npz", folder / f"{stem}.json"


def store_shard(cache_dir: Path, result: ShardResult) -> None:
    """Store a finished shard: rows and sample first, then the marker that vouches for them."""
    rows_path, sample_path, meta_path = shard_paths(cache_dir, result.shard)
    with files.atomic_path(rows_path) as tmp:
        result.rows.to_parquet(tmp, index=False)
        rows = file_digest(tmp)
    arrays: dict[str, np.ndarray] = {}
    if result.sample is not None:
        arrays.update(
            tokens=result.sample.tokens,
            keys=result.sample.keys,
            examples=result.sample.examples,
            **{f"sentence_{k}": v for k, v in result.sample.sentence.items()},
        )
    heads = result.heads
    if heads is not None and heads.per_input:
        arrays.update(
            {_HEADS + k: np.stack([s[k] for s in heads.per_input]) for k in heads.per_input[0]}
        )
    sample = None
    if arrays:
        with files.atomic_path(sample_path) as tmp:
            with tmp.open("wb") as f:
                np.savez(f, **arrays)
            sample = file_digest(tmp)
    files.write_json(
        meta_path,
        {
            "format": UNIT_FORMAT,
            "key": result.shard.key,
            "rows": rows,
            "sample": sample,
            "skipped": result.skipped,
            "layers": list(result.layers),
            "kernels": result.kernels,
            "seconds": result.seconds,
            "positive": result.positive,
            "where": result.where,
            "has_sample": result.sample is not None,
            "heads": None
            if heads is None
            else {"used": heads.used, "skipped": heads.skipped, "seconds": result.heads_seconds},
        },
    )


def load_cached_shard(
    cache_dir: Path, shard: Shard, warn: Callable[[str], None] = print
) -> ShardResult | None:
    """The stored result of ``shard``, or None (with one line to ``warn`` when it is unusable)."""
    rows_path, sample_path, meta_path = shard_paths(cache_dir, shard)
    if not meta_path.is_file():
        return None
    try:
        meta = _marker(meta_path, shard.key)
        rows = _rows(rows_path, meta)
        expected = [i for i in shard.example_ids if i not in set(meta["skipped"])]
        if "id" not in rows or rows["id"].tolist() != expected:
            raise _Damaged(f"{rows_path.name} holds other examples than this shard's")
        sample, heads, arrays = None, None, {}
        if meta["sample"] is not None:
            if not sample_path.is_file() or file_digest(sample_path) != meta["sample"]:
                raise _Damaged(f"{sample_path.name} is not the file its marker vouches for")
            with np.load(sample_path) as z:
                arrays = {k: z[k] for k in z.files}
        # Shards stored before attention statistics existed have neither field.
        if meta.get("has_sample", meta["sample"] is not None):
            sentence = {k[9:]: v for k, v in arrays.items() if k.startswith("sentence_")}
            sample = PooledSample(arrays["tokens"], arrays["keys"], arrays["examples"], sentence)
        if meta.get("heads") is not None:
            stacks = {k[len(_HEADS) :]: v for k, v in arrays.items() if k.startswith(_HEADS)}
            used = meta["heads"]["used"]
            per_input = [{k: v[i] for k, v in stacks.items()} for i in range(len(used))]
            heads = HeadInputs(per_input, used, meta["heads"]["skipped"])
    except _Damaged as why:
        warn(f"ctxvec: cached shard {meta_path.name} is unusable ({why}); recomputing it")
        return None
    return ShardResult(
        shard,
        rows,
        sample,
        meta["skipped"],
        tuple(meta["layers"]),
        meta["kernels"],
        meta["seconds"],
        meta["positive"],
        meta["where"],
        from_cache=True,
        heads=heads,
        heads_seconds=meta["heads"]["seconds"] if heads is not None else 0.0,
    )
