"""Reading tables and hub datasets, shared by the QA and classification loaders.

Local tables are parquet, CSV or JSON Lines; hub datasets go through ``datasets.load_dataset``
(imported only on that path) and come back as a pandas table, with the label names of a
``ClassLabel`` column in ``table.attrs["label_names"]`` (for a parquet file that ``datasets``
wrote, too: from its ``huggingface`` schema metadata). Every failure is one
:class:`~ctxvec.errors.CtxvecError` line naming the file or dataset.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet

from ctxvec.errors import CtxvecError, first_line

# Short names users type, mapped to the hub's canonical dataset ids.
HUB_ALIASES = {"squad_v2": "rajpurkar/squad_v2", "imdb": "stanfordnlp/imdb"}
TABLE_SUFFIXES = {".parquet", ".csv", ".jsonl", ".json"}


def read_table(path: Path) -> pd.DataFrame:
    """A parquet, CSV or JSON Lines file as a table (``attrs["label_names"]`` for a parquet
    file that ``datasets`` wrote with a ClassLabel ``label``)."""
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
            names = _hub_label_names(pyarrow.parquet.read_schema(path).metadata or {})
            if names is not None:
                table.attrs["label_names"] = names
            return table
        if path.suffix == ".csv":
            return pd.read_csv(path)
        if path.suffix in {".jsonl", ".json"}:
            return pd.read_json(path, lines=True)
    # What pandas and pyarrow raise for an unreadable or malformed file (parser errors are
    # ValueErrors, I/O errors OSErrors; pyarrow's own derive from ArrowException).
    except (OSError, ValueError, UnicodeDecodeError, pyarrow.ArrowException) as e:
        raise CtxvecError(f"cannot read '{path}': {first_line(e)}") from None
    raise CtxvecError(
        f"unsupported file type '{path.suffix}' for '{path}'; use .json, .parquet, .csv or .jsonl"
    )


def _hub_label_names(metadata: dict[bytes, bytes]) -> list[str] | None:
    """The ClassLabel names of ``label`` in a parquet file's ``huggingface`` metadata, if any."""
    try:
        features = json.loads(metadata.get(b"huggingface", b"{}"))["info"]["features"]
        names = features["label"]["names"]
    # Absent or not what `datasets` writes: the file simply does not name its labels.
    except (ValueError, KeyError, TypeError):
        return None
    return names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None


def load_hub(name: str, split: str, undecoded: str | None = None) -> pd.DataFrame:
    """One split of a hub dataset as a table (``attrs["label_names"]`` for a ClassLabel).

    ``undecoded`` names a media column (an ``Image`` or ``Audio`` feature) to read as its stored
    files, ``{"bytes", "path"}`` cells, rather than as decoded PIL images or arrays.
    """
    import datasets  # imported lazily: only the hub path needs it
    from datasets.exceptions import DatasetsError

    hub_id = HUB_ALIASES.get(name, name)
    try:
        ds = datasets.load_dataset(hub_id, split=split)
    # Missing datasets and files are DatasetsErrors or OSErrors (hub HTTP errors are OSErrors
    # too), an unknown split a ValueError.
    except (DatasetsError, OSError, ValueError) as e:
        raise CtxvecError(
            f"cannot load dataset '{name}' (split '{split}') from the hub: {first_line(e)}; "
            "check the name and your connection, or give a local file"
        ) from None
    feature = ds.features.get(undecoded) if undecoded else None
    if hasattr(feature, "decode"):
        ds = ds.cast_column(undecoded, dataclasses.replace(feature, decode=False))
    table = ds.to_pandas()
    label_feature = ds.features.get("label")
    if label_feature is not None and hasattr(label_feature, "names"):
        table.attrs["label_names"] = list(label_feature.names)
    return table


def looks_like_path(source: str) -> bool:
    """Whether a source that does not exist was meant as a file (so it is not a hub id)."""
    return Path(source).suffix in TABLE_SUFFIXES or source.startswith((".", "/", "~"))


def check_unique_ids(ids: Sequence[str], where: str) -> None:
    """Stop with one line at the first id that occurs twice."""
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise CtxvecError(f"{where} has duplicate example id '{dup}'; ids must be unique")


def table_labels(values: list, source: str) -> list[int] | list[str]:
    """Integer labels (whole floats included, as parquet stores them) or label names."""
    if all(isinstance(v, (int, np.integer)) for v in values):
        return [int(v) for v in values]
    if all(isinstance(v, (float, np.floating)) and float(v).is_integer() for v in values):
        return [int(v) for v in values]
    if all(isinstance(v, str) and v.strip() for v in values):
        return values
    raise CtxvecError(
        f"{source}: 'label' must hold integers or names, one kind only; fix those values"
    )
