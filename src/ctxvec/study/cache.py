"""The unit cache: each finished unit's rows and summary, stored under its content key, verified.

A unit is stored as soon as it finishes, as ``<label>__subset<k>__<key>.parquet`` (its example
rows), ``.npz`` (its examples' mean sentence vectors, ``[n, hidden]`` float32 in the rows' order,
for the cross-model similarity; none where nothing was pooled) and ``.json`` (its summary), all
written atomically. The JSON is written last: it marks the unit complete and vouches for the rows
and vectors files by their sizes and SHA-256. A stored unit is used only when everything checks
out: the marker parses, names this unit's key and format, the rows and vectors files have the
recorded sizes and checksums, the rows are this unit's examples in its order and the vectors
one per row.
Anything else (a file cut short by a crash or a full disk, another unit's file copied under this
name, a stale format) is reported in one line and the unit is recomputed, so a damaged cache
never stops a study and never feeds wrong rows into its results.

Shards of a sharded unit (:mod:`ctxvec.study.shards`) are stored the same way, under
``shards/``, with their arrays (the pooled sample, the attention sample's per-input statistics)
as ``.npz`` beside the rows. One serialiser turns a result into (rows, arrays, JSON) and back:
:func:`shard_to_stored` and :func:`shard_from_stored`; a unit's summary has its own
``to_json``/``from_json``.

Two studies may share a cache folder: every write is atomic and every read verified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow

from ctxvec import files
from ctxvec.inference.summaries import PooledSample
from ctxvec.study.shards import Shard, ShardResult
from ctxvec.study.units import UNIT_FORMAT, Unit, UnitResult, UnitSummary
from ctxvec.tasks.heads import HeadInputs

_SEP = "."  # joins the levels of a nested name in a shard's .npz ("sample.sentence.mean")


def cache_paths(cache_dir: Path, unit: Unit) -> tuple[Path, Path]:
    """The unit's rows file and completion marker."""
    stem = f"{_safe(unit.model.label)}__subset{unit.subset}__{unit.key}"
    return cache_dir / f"{stem}.parquet", cache_dir / f"{stem}.json"


def vectors_path(cache_dir: Path, unit: Unit) -> Path:
    """The unit's vectors file, beside its rows."""
    return cache_paths(cache_dir, unit)[0].with_suffix(".npz")


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
        meta = _marker(meta_path, unit.key)
        summary = UnitSummary.from_json(meta["summary"])
        rows = _rows(rows_path, meta, unit.example_ids, summary.skipped_ids, "unit")
        vectors = _vectors(vectors_path(cache_dir, unit), meta, len(rows))
    except _Damaged as why:
        warn(
            f"ctxvec: cached unit {meta_path.name} is unusable ({why}); recomputing "
            f"{unit.model.label} subset {unit.subset}"
        )
        return None
    rows["model"] = unit.model.label  # the label may differ from the one cached
    return UnitResult(unit, rows, summary, meta["seconds"], from_cache=True, vectors=vectors)


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


def _vouched(path: Path, digest: object) -> None:
    """Stop unless ``path`` is the file its marker vouches for (size and SHA-256)."""
    if not path.is_file():
        raise _Damaged(f"{path.name} is missing")
    if file_digest(path) != digest:
        raise _Damaged(f"{path.name} is not the file its marker vouches for")


def _rows(
    rows_path: Path, meta: dict, ids: tuple[str, ...], skipped: list[str], whose: str
) -> pd.DataFrame:
    """The rows file, if it is the one the marker vouches for and holds the examples ``ids``
    (in order, less the ``skipped``)."""
    _vouched(rows_path, meta.get("rows"))
    try:
        rows = pd.read_parquet(rows_path)
    except (OSError, ValueError, pyarrow.ArrowException) as e:  # checksum collision: paranoia
        raise _Damaged(f"{rows_path.name} cannot be read ({type(e).__name__})") from None
    left_out = set(skipped)
    if "id" not in rows or rows["id"].tolist() != [i for i in ids if i not in left_out]:
        raise _Damaged(f"{rows_path.name} holds other examples than this {whose}'s")
    return rows


def _vectors(path: Path, meta: dict, n_rows: int) -> np.ndarray | None:
    """The vectors file, if the marker vouches for one and it holds a vector per row."""
    if meta.get("vectors") is None:
        return None
    arrays = _arrays(path, meta["vectors"])
    vectors = arrays.get("vectors")
    if vectors is None or vectors.ndim != 2 or len(vectors) != n_rows:
        raise _Damaged(f"{path.name} holds no vector per row")
    return vectors


def _arrays(path: Path, digest: object) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file its marker vouches for."""
    _vouched(path, digest)
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:  # checksum collision: paranoia
        raise _Damaged(f"{path.name} cannot be read ({type(e).__name__})") from None


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, int | str]:
    with files.atomic_path(path) as tmp:
        with tmp.open("wb") as f:
            np.savez(f, **arrays)
        return file_digest(tmp)


def _write_rows(path: Path, rows: pd.DataFrame) -> dict[str, int | str]:
    with files.atomic_path(path) as tmp:
        rows.to_parquet(tmp, index=False)
        return file_digest(tmp)  # of what is written, whatever else writes the same name


def store(cache_dir: Path, result: UnitResult) -> None:
    """Store a finished unit: rows and vectors first, then the marker that vouches for them."""
    rows_path, meta_path = cache_paths(cache_dir, result.unit)
    vectors = None
    if result.vectors is not None:
        vectors = _write_arrays(vectors_path(cache_dir, result.unit), {"vectors": result.vectors})
    files.write_json(
        meta_path,
        {
            "format": UNIT_FORMAT,
            "key": result.unit.key,
            "rows": _write_rows(rows_path, result.rows),
            "vectors": vectors,
            "unit": result.unit.to_json(),
            "summary": result.summary.to_json(),
            "seconds": result.seconds,
        },
    )


def shard_paths(cache_dir: Path, shard: Shard) -> tuple[Path, Path, Path]:
    """A shard's rows, arrays and completion marker."""
    stem = f"{_safe(shard.unit.model.label)}__subset{shard.unit.subset}__{shard.key}"
    folder = cache_dir / "shards"
    return folder / f"{stem}.parquet", folder / f"{stem}.npz", folder / f"{stem}.json"


def shard_to_stored(result: ShardResult) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A shard's result, less its rows, as flat named arrays and JSON data."""
    tree: dict[str, Any] = {}
    if result.sample is not None:
        tree["sample"] = dataclasses.asdict(result.sample)
    heads = result.heads
    if heads is not None and heads.per_input:
        tree["heads"] = {k: np.stack([s[k] for s in heads.per_input]) for k in heads.per_input[0]}
    fields = {
        name: getattr(result, name)
        for name in ("skipped", "kernels", "seconds", "state", "where", "heads_seconds")
    }
    fields["layers"] = list(result.layers)
    fields["heads"] = None if heads is None else {"used": heads.used, "skipped": heads.skipped}
    return _flatten(tree), fields


def shard_from_stored(
    shard: Shard, rows: pd.DataFrame, arrays: dict[str, np.ndarray], fields: dict[str, Any]
) -> ShardResult:
    """The inverse of :func:`shard_to_stored`."""
    tree = _nest(arrays)
    heads = None
    if fields["heads"] is not None:
        stacks = tree.get("heads", {})
        per_input = [
            {k: v[i] for k, v in stacks.items()} for i in range(len(fields["heads"]["used"]))
        ]
        heads = HeadInputs(per_input, fields["heads"]["used"], fields["heads"]["skipped"])
    return ShardResult(
        shard,
        rows,
        PooledSample(**tree["sample"]) if "sample" in tree else None,
        fields["skipped"],
        tuple(fields["layers"]),
        fields["kernels"],
        fields["seconds"],
        fields["state"],
        fields["where"],
        from_cache=True,
        heads=heads,
        heads_seconds=fields["heads_seconds"],
    )


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for name, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}{_SEP}"))
        else:
            flat[prefix + name] = np.asarray(value)
    return flat


def _nest(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in flat.items():
        *path, leaf = name.split(_SEP)
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def store_shard(cache_dir: Path, result: ShardResult) -> None:
    """Store a finished shard: rows and arrays first, then the marker that vouches for them."""
    rows_path, arrays_path, meta_path = shard_paths(cache_dir, result.shard)
    arrays, fields = shard_to_stored(result)
    digest = _write_arrays(arrays_path, arrays) if arrays else None
    files.write_json(
        meta_path,
        {
            "format": UNIT_FORMAT,
            "key": result.shard.key,
            "rows": _write_rows(rows_path, result.rows),
            "arrays": digest,
            "result": fields,
        },
    )


def load_cached_shard(
    cache_dir: Path, shard: Shard, warn: Callable[[str], None] = print
) -> ShardResult | None:
    """The stored result of ``shard``, or None (with one line to ``warn`` when it is unusable)."""
    rows_path, arrays_path, meta_path = shard_paths(cache_dir, shard)
    if not meta_path.is_file():
        return None
    try:
        meta = _marker(meta_path, shard.key)
        fields = meta["result"]
        rows = _rows(rows_path, meta, shard.example_ids, fields["skipped"], "shard")
        arrays = _arrays(arrays_path, meta["arrays"]) if meta["arrays"] is not None else {}
    except _Damaged as why:
        warn(f"ctxvec: cached shard {meta_path.name} is unusable ({why}); recomputing it")
        return None
    return shard_from_stored(shard, rows, arrays, fields)
