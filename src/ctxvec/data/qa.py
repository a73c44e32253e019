"""SQuAD-style QA data: the official JSON format (v1.1 or v2.0) or the hub's squad schema.

A local ``.json`` file is read as the official format (``data[].paragraphs[].qas[]``); a parquet
or JSON Lines file, or a hub dataset (``squad_v2`` is ``rajpurkar/squad_v2``), in the hub's flat
schema (``id, title, context, question, answers{text, answer_start}``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ctxvec.data.examples import QADataset, QAExample
from ctxvec.data.sources import check_unique_ids, load_hub, looks_like_path, read_table
from ctxvec.errors import CtxvecError


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
    if looks_like_path(str(source)):
        raise CtxvecError(f"QA data file '{source}' does not exist; check the path")
    return QADataset(_qa_from_records(load_hub(str(source), split)), source=f"hub:{source}")


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
    return _qa_from_records(read_table(path), where=str(path))


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
    check_unique_ids([e.id for e in examples], str(path))
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
    check_unique_ids([e.id for e in examples], where)
    return examples
