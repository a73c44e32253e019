"""SQuAD-style QA data: the official JSON format (v1.1 or v2.0) or the hub's squad schema.

A local ``.json`` file is read as the official format (``data[].paragraphs[].qas[]``); a parquet
or JSON Lines file, or a hub dataset (``squad_v2`` is ``rajpurkar/squad_v2``), in the hub's flat
schema (``id, title, context, question, answers{text, answer_start}``).

Every field is checked at the door: a wrong type or a missing field is one
:class:`~ctxvec.errors.CtxvecError` naming the question; empty questions and contexts are
refused. An answer whose ``answer_start`` does not point at its text in the context is counted
and reported in one note (as the field's loaders warn and go on: scoring uses the answer texts,
only the zoo's training targets use the offsets); ``strict=True`` makes it an error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ctxvec.data.examples import QADataset, QAExample
from ctxvec.data.sources import check_unique_ids, load_hub, looks_like_path, read_table
from ctxvec.errors import CtxvecError

FORMAT_HINT = (
    "expected the official SQuAD format, data[].paragraphs[].qas[] with id, question, answers"
)


def load_qa_dataset(
    source: str | Path, split: str = "validation", strict: bool = False
) -> QADataset:
    """Load SQuAD-style QA data from a local file or the hub.

    Args:
        source: a path to an official SQuAD JSON file, or a parquet/JSONL file in the hub's squad
            schema; otherwise a hub dataset id (``squad_v2`` is an alias of ``rajpurkar/squad_v2``).
        split: the hub split to read (ignored for local files).
        strict: refuse answers whose ``answer_start`` does not point at their text (else they
            are counted in ``notes``).
    """
    path = Path(source)
    if path.exists():
        if path.is_dir():
            raise CtxvecError(
                f"QA data '{source}' is a folder; give a SQuAD JSON, parquet or JSONL file"
            )
        where, examples = str(path.resolve()), _read_qa_file(path)
    elif looks_like_path(str(source)):
        raise CtxvecError(f"QA data file '{source}' does not exist; check the path")
    else:
        where, examples = f"hub:{source}", _qa_from_records(load_hub(str(source), split))
    check_unique_ids([e.id for e in examples], where)
    return QADataset(examples, source=where, notes=_offset_notes(examples, where, strict))


def _read_qa_file(path: Path) -> list[QAExample]:
    if path.suffix != ".json":
        return _qa_from_records(read_table(path), where=str(path))
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CtxvecError(f"cannot read '{path}': {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CtxvecError(f"'{path}' is not valid JSON ({e}); expected SQuAD JSON") from None
    if not (isinstance(obj, dict) and isinstance(obj.get("data"), list)):
        raise CtxvecError(
            f"'{path}' is JSON without a top-level 'data' list; expected the official SQuAD format"
        )
    return _qa_from_official(obj["data"], path)


def _get(obj: object, key: str, kind: type | tuple[type, ...], where: str) -> object:
    """``obj[key]``, which must exist and be of ``kind``, or one line saying what is wrong."""
    if not isinstance(obj, dict) or key not in obj:
        raise CtxvecError(f"{where} has no '{key}'; {FORMAT_HINT}")
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CtxvecError(f"{where}: '{key}' is a {type(value).__name__}; {FORMAT_HINT}")
    return value


def _qa_from_official(articles: list, path: Path) -> list[QAExample]:
    examples = []
    for a, article in enumerate(articles):
        where = f"'{path}' article {a}"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_get(article, "paragraphs", list, where)):
            context = _get(paragraph, "context", str, f"{where} paragraph {p}")
            for q, qa in enumerate(_get(paragraph, "qas", list, f"{where} paragraph {p}")):
                at = f"{where} paragraph {p} question {q}"
                qid = str(_get(qa, "id", (str, int), at))
                answers = qa.get("answers", []) if isinstance(qa, dict) else []
                if not isinstance(answers, list):
                    raise CtxvecError(f"{at}: 'answers' is not a list; {FORMAT_HINT}")
                examples.append(
                    _example(
                        qid,
                        _get(qa, "question", str, at),
                        context,
                        [_get(x, "text", str, f"{at} answer") for x in answers],
                        [_get(x, "answer_start", int, f"{at} answer") for x in answers],
                        str(title),
                        f"'{path}'",
                    )
                )
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
        texts, starts = _answer_record(row.answers, f"{where}: 'answers' of id {row.id}")
        for name in ("question", "context"):
            if not isinstance(getattr(row, name), str):
                raise CtxvecError(f"{where}: '{name}' of id {row.id} is not text")
        title = getattr(row, "title", "")
        examples.append(
            _example(
                str(row.id),
                row.question,
                row.context,
                texts,
                starts,
                title if isinstance(title, str) else "",
                where,
            )
        )
    return examples


def _answer_record(answers: object, where: str) -> tuple[list[str], list[int]]:
    """The texts and starts of a ``{text: [...], answer_start: [...]}`` record (JSON text in
    CSV-like sources); a missing ``answer_start`` is -1 (unknown)."""
    if isinstance(answers, str):
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError:
            answers = None
    texts = answers.get("text") if isinstance(answers, dict) else None
    if not isinstance(texts, (list, tuple, np.ndarray)):
        raise CtxvecError(f"{where} is not a {{text, answer_start}} record")
    starts = answers.get("answer_start", [-1] * len(texts))
    if not isinstance(starts, (list, tuple, np.ndarray)) or len(starts) != len(texts):
        raise CtxvecError(f"{where} needs one answer_start per answer text")
    if not all(isinstance(t, str) for t in texts):
        raise CtxvecError(f"{where} has an answer text that is not text")
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in starts):
        raise CtxvecError(f"{where} has an answer_start that is not an integer")
    return list(texts), [int(s) for s in starts]


def _example(
    qid: str,
    question: str,
    context: str,
    texts: Sequence[str],
    starts: Sequence[int],
    title: str,
    where: str,
) -> QAExample:
    if not question.strip() or not context.strip():
        raise CtxvecError(f"{where}: question '{qid}' has an empty question or context")
    return QAExample(qid, question, context, tuple(texts), tuple(starts), title)


def _offset_notes(examples: Sequence[QAExample], where: str, strict: bool) -> tuple[str, ...]:
    """One note counting the answers whose ``answer_start`` does not point at their text."""
    bad = [
        e.id
        for e in examples
        for text, start in zip(e.answers, e.answer_starts, strict=True)
        if start >= 0 and e.context[start : start + len(text)] != text
    ]
    if not bad:
        return ()
    n = sum(len(e.answers) for e in examples)
    line = (
        f"{len(bad)} of {n} answers in {where} do not start where their answer_start says "
        f"(first: question '{bad[0]}')"
    )
    if strict:
        raise CtxvecError(f"{line}; fix the file, or leave out --strict to only count them")
    return (f"{line}; the scores use the answer texts, so they are kept",)
