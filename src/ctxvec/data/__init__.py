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

from ctxvec.data.examples import (
    TASKS,
    QADataset,
    QAExample,
    Task,
    TextDataset,
    TextExample,
    fingerprint,
)
from ctxvec.data.qa import load_qa_dataset
from ctxvec.data.subsets import select_subsets
from ctxvec.data.text import load_text_dataset

# The split a hub dataset is read from when none is given.
DEFAULT_SPLIT: dict[Task, str] = {"qa": "validation", "cls": "test"}


def load_dataset(
    task: Task, source: str, split: str | None = None, strict: bool = False
) -> QADataset | TextDataset:
    """A task's data from a local file or folder, or the hub (split default: ``DEFAULT_SPLIT``).

    ``strict`` refuses QA answers whose ``answer_start`` does not point at their text.
    """
    split = split or DEFAULT_SPLIT[task]
    if task == "qa":
        return load_qa_dataset(source, split, strict)
    return load_text_dataset(source, split)


__all__ = [
    "DEFAULT_SPLIT",
    "TASKS",
    "QADataset",
    "QAExample",
    "Task",
    "TextDataset",
    "TextExample",
    "fingerprint",
    "load_dataset",
    "load_qa_dataset",
    "load_text_dataset",
    "select_subsets",
]
