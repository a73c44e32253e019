"""Classification data: a table with ``text`` and ``label`` columns, an aclImdb folder, or the hub.

Integer labels stay integers and string labels stay names; the label mapping to a model is the
classification task's job (:mod:`ctxvec.tasks.classify`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ctxvec.data.examples import TextDataset, TextExample
from ctxvec.data.sources import (
    check_unique_ids,
    load_hub,
    looks_like_path,
    read_table,
    table_labels,
)
from ctxvec.errors import CtxvecError


def load_text_dataset(source: str | Path, split: str = "test") -> TextDataset:
    """Load text-classification data from a local file or folder, or from the hub.

    Args:
        source: a parquet/CSV/JSONL file with ``text`` and ``label`` columns (an ``id`` column is
            used when present, else the row number), an ``aclImdb``-style folder holding ``pos/``
            and ``neg/`` (or a split folder such as ``aclImdb/test``), or a hub dataset id
            (``imdb`` is an alias of ``stanfordnlp/imdb``).
        split: the hub split, or the sub-folder of an ``aclImdb`` root (ignored otherwise).
    """
    path = Path(source)
    if path.is_dir():
        return _read_acl_folder(path, split)
    if path.exists():
        table = read_table(path)
        return _text_from_records(table, source=str(path.resolve()), label_names=None)
    if looks_like_path(str(source)):
        raise CtxvecError(f"classification data '{source}' does not exist; check the path")
    table = load_hub(str(source), split)
    names = table.attrs.get("label_names")
    return _text_from_records(table, source=f"hub:{source}", label_names=names)


def _text_from_records(
    table: pd.DataFrame, source: str, label_names: list[str] | None
) -> TextDataset:
    missing = {"text", "label"} - set(table.columns)
    if missing:
        raise CtxvecError(
            f"{source} lacks column(s) {sorted(missing)}; classification data needs "
            "'text' and 'label' columns"
        )
    if table["label"].isna().any() or table["text"].isna().any():
        raise CtxvecError(f"{source} has empty 'text' or 'label' values; fill or drop those rows")
    ids = table["id"].astype(str).tolist() if "id" in table.columns else None
    if ids is not None:
        check_unique_ids(ids, source)
    labels = table_labels(table["label"].tolist(), source)
    examples = []
    for i, (text, label) in enumerate(zip(table["text"].tolist(), labels, strict=True)):
        eid = ids[i] if ids else str(i)
        # CSV readers turn a text of digits into a number; anything else is not a text.
        if isinstance(text, (int, float, np.number)) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not text.strip():
            raise CtxvecError(f"{source}: the text of example '{eid}' is empty or not text")
        examples.append(TextExample(id=eid, text=text, label=label))
    return TextDataset(examples, source=source, label_names=label_names)


def _read_acl_folder(path: Path, split: str) -> TextDataset:
    root = path
    if not (root / "pos").is_dir() and (root / split / "pos").is_dir():
        root = root / split
    if not ((root / "pos").is_dir() and (root / "neg").is_dir()):
        raise CtxvecError(
            f"folder '{path}' has no pos/ and neg/ sub-folders; give an aclImdb-style folder "
            "or a parquet/CSV/JSONL file"
        )
    examples = []
    for label, name in enumerate(("neg", "pos")):  # the hub's imdb order: 0 neg, 1 pos
        for f in sorted((root / name).glob("*.txt")):
            try:
                text = f.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise CtxvecError(f"cannot read '{f}': {e.strerror}") from None
            examples.append(TextExample(id=f"{name}/{f.name}", text=text, label=label))
    if not examples:
        raise CtxvecError(f"folder '{root}' has no .txt reviews under pos/ or neg/")
    empty = next((e.id for e in examples if not e.text.strip()), None)
    if empty is not None:
        raise CtxvecError(f"folder '{root}': review '{empty}' is empty; remove or fill it")
    return TextDataset(examples, source=str(root.resolve()), label_names=["neg", "pos"])
