"""The containers every loader returns, and the content fingerprint a study keys its cache on.

A dataset is a list of examples, where it came from, and a short hash of its content, so that
downstream code never special-cases a source and a cached result is reused only for the same
data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Example(Protocol):
    """What every task's example has: an id unique in its dataset."""

    id: str


class Dataset(Protocol):
    """What every loader returns: examples, where they came from, a content fingerprint, and
    notes for the user (problems found in the data that did not stop loading it)."""

    examples: Sequence[Example]
    source: str
    fingerprint: str
    notes: tuple[str, ...]

    def __len__(self) -> int: ...


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
    """QA examples, their source, a content fingerprint, and notes for the user (problems
    found in the data that did not stop loading it)."""

    examples: list[QAExample]
    source: str
    fingerprint: str = field(default="")
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = fingerprint(
                [(e.id, e.question, e.context, e.answers) for e in self.examples]
            )

    def __len__(self) -> int:
        return len(self.examples)


@dataclass
class TextDataset:
    """Texts with labels, their source, a content fingerprint, and notes for the user."""

    examples: list[TextExample]
    source: str
    # Names of the integer labels when the source knows them (hub ClassLabel, aclImdb folders).
    label_names: list[str] | None = None
    fingerprint: str = field(default="")
    notes: tuple[str, ...] = ()

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
