"""Class labels: a model's ``id2label`` matched to a dataset's labels, and a new model's names.

The model's label order is read from its config (``id2label``) and matched to the dataset's
labels by name (``neg``/``negative``, ``pos``/``positive``, case-insensitive). Models with generic
names (``LABEL_0``, ``LABEL_1``) or integer labels without names are matched by integer id, which
must lie within the model's labels; ``label_names`` (``--label-names neg,pos``) names the integer
labels of a local file: one name per label of the head, in the model's order where the model
names its labels (then they confirm the order; a swap is refused), and saying which class is
positive where it does not. Any other mismatch is an error: a silent label swap would invert
every score. :func:`label_names` names the labels of a model the zoo trains,
:func:`head_labels` its head's config fields. Left out: predicting and scoring
(:mod:`ctxvec.tasks.classify`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ctxvec.data import TextDataset
from ctxvec.errors import CtxvecError, ParameterError

SYNONYMS = {"neg": "negative", "pos": "positive"}


@dataclass(frozen=True)
class LabelMap:
    """How dataset labels become model label ids."""

    to_model: Mapping[int | str, int]
    id2label: Mapping[int, str]
    positive: int | None  # model id of the positive class for binary F1, if any


def _norm(name: str) -> str:
    name = name.strip().lower()
    return SYNONYMS.get(name, name)


def match_labels(
    id2label: Mapping[int, str],
    dataset: TextDataset,
    label_names: Sequence[str] | None = None,
) -> LabelMap:
    """Match a model's ``id2label`` to a dataset's labels.

    Args:
        id2label: the model's label names by id.
        dataset: the data; its integer labels are named by ``dataset.label_names`` if known.
        label_names: names of the data's integer labels 0, 1, ... (overrides the dataset's), so
            that a local file with integer labels is matched by name, not by position.

    With a model whose labels are unnamed (``LABEL_0``, ...), integer labels are matched by id
    and ``label_names`` says which of them is the positive class (for F1).

    Raises:
        CtxvecError: the dataset has labels the model does not know, or ``label_names`` do not
            name as many labels as the model's head has, or give a model's label name to another
            id than the model does.
    """
    id2label = {int(k): str(v) for k, v in id2label.items()}
    generic = all(re.fullmatch(r"LABEL_\d+", v) for v in id2label.values())
    by_name = {_norm(v): k for k, v in id2label.items()}
    if label_names and len(label_names) != len(id2label):
        raise ParameterError(
            "label_names",
            f"names {len(label_names)} labels ({', '.join(label_names)}) but the model's head "
            f"has {len(id2label)} ({', '.join(id2label.values())}); give one name per label",
        )
    if label_names and not generic:
        # Named model labels: --label-names can only confirm them; a name the model gives to
        # another id would swap classes (data whose integers follow another order: use text).
        for i, name in enumerate(label_names):
            owner = by_name.get(_norm(name))
            if owner is not None and owner != i:
                raise ParameterError(
                    "label_names",
                    f"names label {i} '{name}' but the model's label {i} is "
                    f"'{id2label.get(i)}' and '{name}' is its label {owner}; give the model's "
                    f"names in its order ({', '.join(id2label.values())}), or text labels in "
                    "the data",
                )
    names = list(label_names) if label_names else dataset.label_names
    values = sorted({e.label for e in dataset.examples}, key=str)
    to_model: dict[int | str, int] = {}
    for value in values:
        if isinstance(value, str) or (names and not generic):
            name = value if isinstance(value, str) else _name_of(value, names)
            if generic:
                raise CtxvecError(
                    f"dataset label '{name}' cannot be matched: the model's labels are unnamed "
                    f"({', '.join(id2label.values())}); use integer labels in the data"
                )
            if _norm(name) not in by_name:
                raise CtxvecError(
                    f"dataset label '{name}' is not one of the model's labels "
                    f"({', '.join(id2label.values())}); fix the data or pick a matching model"
                )
            to_model[value] = by_name[_norm(name)]
        else:
            if value not in id2label:
                raise CtxvecError(
                    f"dataset label {value} is outside the model's labels "
                    f"{sorted(id2label)}; fix the data or pick a matching model"
                )
            to_model[value] = value
    positive = by_name.get("positive")
    if generic and names:  # unnamed model labels: the data's names say which is positive
        positive = next((i for i, n in enumerate(names) if _norm(n) == "positive"), None)
    if positive is None and len(id2label) == 2:
        positive = 1
    return LabelMap(to_model, id2label, positive)


def _name_of(value: int, names: Sequence[str]) -> str:
    if not 0 <= value < len(names):
        raise CtxvecError(f"dataset label {value} has no name in {names}; fix the data")
    return names[value]


def check_label_names(label_names: Sequence[str] | None, example: str) -> None:
    """Stop with one line unless ``label_names`` (a settings field) is None or non-empty
    names; ``example`` is what the message suggests (``neg,pos``)."""
    if label_names is not None and not all(isinstance(n, str) and n.strip() for n in label_names):
        raise ParameterError(
            "label_names", f"{label_names} must be non-empty names, e.g. {example}"
        )


def head_labels(dataset: TextDataset) -> dict[str, Any]:
    """The config fields of a new model's classification head for ``dataset``'s labels
    (``num_labels``, ``id2label``, ``label2id``; the zoo's), named by :func:`label_names`."""
    names = label_names(dataset)
    labels = [names[v] for v in sorted(names, key=str)]
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {n: i for i, n in enumerate(labels)},
    }


def label_names(dataset: TextDataset) -> dict[int | str, str]:
    """Dataset label -> the name a new model's ``id2label`` gets for it (the zoo's)."""
    values = sorted({e.label for e in dataset.examples}, key=str)
    if all(isinstance(v, int) for v in values):
        if dataset.label_names:
            return {v: dataset.label_names[v] for v in values}
        if values != list(range(len(values))):
            raise CtxvecError(
                f"{dataset.source}: integer labels must be 0..K-1, got {values}; renumber them"
            )
        return {v: f"LABEL_{v}" for v in values}
    return {v: str(v) for v in values}
