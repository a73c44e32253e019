"""Datasets for the two tasks, and the seeded subsets a study draws from them.

QA data comes from the hub (``squad_v2``) or a local file: the official SQuAD JSON format
(v1.1 or v2.0, ``data[].paragraphs[].qas[]``) or the hub's flat squad schema
(``id, title, context, question, answers{text, answer_start}``) as parquet or JSON Lines.
Classification data comes from the hub (``imdb``), a local parquet/CSV/JSONL file with ``text``
and ``label`` columns, or an ``aclImdb``-style folder (``pos/*.txt``, ``neg/*.txt``).

Every loader returns the same small container (:class:`QADataset` or :class:`TextDataset`) with a
content fingerprint, so downstream code never special-cases a source. Malformed input raises
:class:`~ctxvec.errors.CtxvecError` with one line. Tokenisation, length filtering and the label
mapping to a model belong to the task modules, not here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ctxvec.errors import CtxvecError

# Short names users type, mapped to the hub's canonical dataset ids.
HUB_ALIASES = {"squad_v2": "rajpurkar/squad_v2", "imdb": "stanfordnlp/imdb"}
TABLE_SUFFIXES = {".parquet", ".csv", ".jsonl", ".json"}


@dataclass(frozen=True)
class QAExample:
    """One extractive-QA question. ``answers`` empty means unanswerable (SQuAD 2.0)."""

    id: str
    question: str
    context: str
    answers: tuple[str, ...] = ()
    answer_starts: tuple[int, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class TextExample:
    """One text to classify, with its label as the dataset gives it (int or name)."""

    id: str
    text: str
    label: int | str


@dataclass
class QADataset:
    examples: list[QAExample]
    source: str
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(
                [(e.id, e.question, e.context, e.answers) for e in self.examples]
            )

    def __len__(self) -> int:
        return len(self.examples)


@dataclass
class TextDataset:
    examples: list[TextExample]
    source: str
    # Names of the integer labels when the source knows them (hub ClassLabel, aclImdb folders).
    label_names: list[str] | None = None
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(
                [(e.id, e.text, e.label) for e in self.examples] + [self.label_names]
            )

    def __len__(self) -> int:
        return len(self.examples)


def fingerprint(obj: object) -> str:
    """A short, stable content hash of anything JSON can serialise."""
    blob = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- QA


def load_qa_dataset(source: str | Path, split: str = "validation") -> QADataset:
    """Load SQuAD-style QA data from a local file or the hub.

    Args:
        source: a path to an official SQuAD JSON file, or a parquet/JSONL file in the hub's squad
            schema; otherwise a hub dataset id (``squad_v2`` is an alias of ``rajpurkar/squad_v2``).
        split: the hub split to read (ignored for local files).
    """
    path = Path(source)
    if path.exists():
        if path.is_dir():
            raise CtxvecError(
                f"QA data '{source}' is a folder; give a SQuAD JSON, parquet or JSONL file"
            )
        return QADataset(_read_qa_file(path), source=str(path.resolve()))
    if _looks_like_path(str(source)):
        raise CtxvecError(f"QA data file '{source}' does not exist; check the path")
    return QADataset(_qa_from_records(_load_hub(str(source), split)), source=f"hub:{source}")


def _read_qa_file(path: Path) -> list[QAExample]:
    if path.suffix == ".json":
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CtxvecError(f"'{path}' is not valid JSON ({e}); expected SQuAD JSON") from None
        if isinstance(obj, dict) and "data" in obj:
            return _qa_from_official(obj, path)
        raise CtxvecError(
            f"'{path}' is JSON without a top-level 'data' list; expected the official SQuAD format"
        )
    return _qa_from_records(_read_table(path), where=str(path))


def _qa_from_official(obj: dict, path: Path) -> list[QAExample]:
    examples = []
    try:
        for article in obj["data"]:
            title = article.get("title", "")
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    answers = qa.get("answers", [])
                    examples.append(
                        QAExample(
                            id=str(qa["id"]),
                            question=qa["question"],
                            context=context,
                            answers=tuple(a["text"] for a in answers),
                            answer_starts=tuple(int(a["answer_start"]) for a in answers),
                            title=title,
                        )
                    )
    except (KeyError, TypeError) as e:
        raise CtxvecError(
            f"'{path}' is not in the official SQuAD format (missing or bad field {e}); "
            "expected data[].paragraphs[].qas[] with id, question and answers"
        ) from None
    _check_unique_ids([e.id for e in examples], str(path))
    return examples


def _qa_from_records(records: pd.DataFrame, where: str = "the hub dataset") -> list[QAExample]:
    missing = {"id", "question", "context", "answers"} - set(records.columns)
    if missing:
        raise CtxvecError(
            f"{where} lacks column(s) {sorted(missing)}; the squad schema needs "
            "id, question, context, answers{text, answer_start}"
        )
    examples = []
    for row in records.itertuples(index=False):
        answers = row.answers
        if isinstance(answers, str):  # CSV-like sources store the struct as JSON text
            answers = json.loads(answers)
        if not isinstance(answers, dict) or "text" not in answers:
            raise CtxvecError(
                f"{where}: 'answers' of id {row.id} is not a {{text, answer_start}} record"
            )
        texts = [str(t) for t in answers["text"]]
        starts = [int(s) for s in answers.get("answer_start", [-1] * len(texts))]
        examples.append(
            QAExample(
                id=str(row.id),
                question=str(row.question),
                context=str(row.context),
                answers=tuple(texts),
                answer_starts=tuple(starts),
                title=str(getattr(row, "title", "") or ""),
            )
        )
    _check_unique_ids([e.id for e in examples], where)
    return examples


# ------------------------------------------------------------------ classification


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
        table = _read_table(path)
        return _text_from_records(table, source=str(path.resolve()), label_names=None)
    if _looks_like_path(str(source)):
        raise CtxvecError(f"classification data '{source}' does not exist; check the path")
    table = _load_hub(str(source), split)
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
        _check_unique_ids(ids, source)
    labels = table["label"].tolist()
    if all(isinstance(v, (int, np.integer)) for v in labels):
        labels = [int(v) for v in labels]
    elif all(isinstance(v, str) for v in labels):
        pass
    else:
        raise CtxvecError(f"{source}: 'label' mixes numbers and names; use one kind")
    examples = [
        TextExample(id=ids[i] if ids else str(i), text=str(t), label=lab)
        for i, (t, lab) in enumerate(zip(table["text"].tolist(), labels, strict=True))
    ]
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
            text = f.read_text(encoding="utf-8", errors="replace")
            examples.append(TextExample(id=f"{name}/{f.name}", text=text, label=label))
    if not examples:
        raise CtxvecError(f"folder '{root}' has no .txt reviews under pos/ or neg/")
    return TextDataset(examples, source=str(root.resolve()), label_names=["neg", "pos"])


# ------------------------------------------------------------------ shared helpers


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        if path.suffix in {".jsonl", ".json"}:
            return pd.read_json(path, lines=True)
    except Exception as e:  # pandas/pyarrow raise many types for a corrupt file
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CtxvecError(f"cannot read '{path}': {first}") from None
    raise CtxvecError(
        f"unsupported file type '{path.suffix}' for '{path}'; use .json, .parquet, .csv or .jsonl"
    )


def _load_hub(name: str, split: str) -> pd.DataFrame:
    import datasets  # imported lazily: only the hub path needs it

    hub_id = HUB_ALIASES.get(name, name)
    try:
        ds = datasets.load_dataset(hub_id, split=split)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CtxvecError(
            f"cannot load dataset '{name}' (split '{split}') from the hub: {first}; "
            "check the name and your connection, or give a local file"
        ) from None
    table = ds.to_pandas()
    label_feature = ds.features.get("label")
    if label_feature is not None and hasattr(label_feature, "names"):
        table.attrs["label_names"] = list(label_feature.names)
    return table


def _looks_like_path(source: str) -> bool:
    return Path(source).suffix in TABLE_SUFFIXES or source.startswith((".", "/", "~"))


def _check_unique_ids(ids: Sequence[str], where: str) -> None:
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise CtxvecError(f"{where} has duplicate example id '{dup}'; ids must be unique")


# ------------------------------------------------------------------------ subsets


def select_subsets(
    n_examples: int,
    n_subsets: int,
    size: int,
    seed: int,
    starts: Sequence[int] | None = None,
) -> list[np.ndarray]:
    """Seeded, disjoint subsets of example indices, the same for every model.

    The examples are shuffled once with ``numpy.random.default_rng(seed)``; subset ``k`` is the
    block of ``size`` shuffled positions beginning at ``starts[k]`` (default ``k * size``, i.e.
    consecutive blocks). The baseline used ``starts = 0, 1000, 2000, 5000``.

    Returns:
        ``n_subsets`` arrays of ``[size]`` indices into the dataset.
    """
    if n_subsets < 1 or size < 1:
        raise CtxvecError("the number of subsets and the subset size must be at least 1")
    starts = list(starts) if starts is not None else [k * size for k in range(n_subsets)]
    if len(starts) != n_subsets:
        raise CtxvecError(f"{len(starts)} subset starts given for {n_subsets} subsets")
    spans = sorted((s, s + size) for s in starts)
    if any(a[1] > b[0] for a, b in itertools.pairwise(spans)):
        raise CtxvecError(f"subsets of {size} starting at {starts} overlap; space the starts out")
    if spans[-1][1] > n_examples or spans[0][0] < 0:
        raise CtxvecError(
            f"{n_subsets} subsets of {size} (last ending at {spans[-1][1]}) need more than the "
            f"{n_examples} examples available; lower --subset-size or --subsets"
        )
    order = np.random.default_rng(seed).permutation(n_examples)
    return [order[s : s + size] for s in starts]
