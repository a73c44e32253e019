"""Fuzzing the loaders: malformed SQuAD JSON, parquet, CSV, JSON Lines and panel TOML files
either load or raise :class:`CtxvecError`, never any other exception (Hypothesis).

Each test runs a bounded number of examples so the whole file stays under a minute on two
cores; ``CTXVEC_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py`` searches longer.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ctxvec.data import load_qa_dataset, load_text_dataset
from ctxvec.errors import CtxvecError
from ctxvec.loading.panels import panel_from_toml

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

EXAMPLES = int(os.environ.get("CTXVEC_FUZZ_EXAMPLES", "600"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly the valid value, sometimes anything JSON holds, sometimes left out."""
    return st.one_of(valid, valid, valid, json_values, st.just(MISSING))


MISSING = object()


def record(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not MISSING}
    )


contexts = st.text(min_size=0, max_size=40)
answers = st.lists(
    record(text=maybe(st.text(max_size=8)), answer_start=maybe(st.integers(-5, 60))), max_size=3
)
questions = st.lists(
    record(
        id=maybe(st.text(max_size=6) | st.integers(0, 9)),
        question=maybe(st.text(max_size=20)),
        answers=maybe(answers),
        is_impossible=maybe(st.booleans()),
    ),
    max_size=3,
)
paragraphs = st.lists(record(context=maybe(contexts), qas=maybe(questions)), max_size=3)
articles = st.lists(
    record(title=maybe(st.text(max_size=8)), paragraphs=maybe(paragraphs)), max_size=3
)
squad = record(version=maybe(st.just("v2.0")), data=maybe(articles))


SCRATCH = tempfile.TemporaryDirectory(prefix="ctxvec-fuzz-")  # removed at exit


def _written(suffix: str, write) -> Path:
    path = Path(SCRATCH.name) / f"data{suffix}"  # one file per suffix, rewritten each example
    write(path)
    return path


def loads_or_says_why(load, path: Path) -> None:
    try:
        load(path)
    except CtxvecError as e:
        assert "\n" not in str(e)  # one line


@FUZZ
@given(obj=squad | json_values)
def test_squad_json_loads_or_raises_ctxvec_error(obj) -> None:
    path = _written(".json", lambda p: p.write_text(json.dumps(obj), encoding="utf-8"))
    loads_or_says_why(load_qa_dataset, path)
    loads_or_says_why(load_text_dataset, path)


@FUZZ
@given(
    blob=st.binary(max_size=200), suffix=st.sampled_from([".json", ".jsonl", ".csv", ".parquet"])
)
def test_arbitrary_bytes_load_or_raise_ctxvec_error(blob, suffix) -> None:
    path = _written(suffix, lambda p: p.write_bytes(blob))
    loads_or_says_why(load_qa_dataset, path)
    loads_or_says_why(load_text_dataset, path)


column_values = st.one_of(
    st.lists(st.integers(-3, 3), min_size=1, max_size=4),
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=4),
    st.lists(st.text(max_size=10), min_size=1, max_size=4),
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.lists(st.none() | st.text(max_size=4), min_size=1, max_size=4),
    st.lists(st.lists(st.integers(0, 3), max_size=2), min_size=1, max_size=4),
    st.lists(
        st.fixed_dictionaries({"text": st.lists(st.text(max_size=5), max_size=2),
                               "answer_start": st.lists(st.integers(-2, 30), max_size=2)}),
        min_size=1, max_size=4,
    ),
)  # fmt: skip
tables = st.dictionaries(
    st.sampled_from(["id", "text", "label", "question", "context", "answers", "title", "x"]),
    column_values,
    max_size=6,
)


@FUZZ
@given(columns=tables, suffix=st.sampled_from([".parquet", ".csv", ".jsonl"]))
def test_tables_load_or_raise_ctxvec_error(columns, suffix) -> None:
    n = min((len(v) for v in columns.values()), default=0)
    frame = pd.DataFrame({k: v[:n] for k, v in columns.items()})
    writers = {
        ".parquet": lambda p: frame.to_parquet(p, index=False),
        ".csv": lambda p: frame.to_csv(p, index=False),
        ".jsonl": lambda p: frame.to_json(p, orient="records", lines=True),
    }
    try:
        path = _written(suffix, writers[suffix])
    except (ValueError, TypeError, OverflowError, NotImplementedError, pyarrow.ArrowException):
        assume(False)  # a table pandas or pyarrow cannot write is no input to fuzz
    loads_or_says_why(load_qa_dataset, path)
    loads_or_says_why(load_text_dataset, path)


toml_values = st.one_of(
    st.text(max_size=10).map(json.dumps),  # a TOML basic string is a JSON string
    st.integers(-5, 5).map(str),
    st.sampled_from(["true", "false", "[]", "{}", '["a", 1]', "1.5", '"qa"', '"cls"']),
)
panel_lines = st.lists(
    st.one_of(
        st.just("[[models]]"),
        st.just("[models]"),
        st.tuples(
            st.sampled_from(["id", "name", "revision", "task", "models", "x"]), toml_values
        ).map(lambda kv: f"{kv[0]} = {kv[1]}"),
        st.text(max_size=15),
    ),
    max_size=8,
)


@FUZZ
@given(lines=panel_lines, task=st.sampled_from(["qa", "cls"]))
def test_panel_toml_loads_or_raises_ctxvec_error(lines, task) -> None:
    path = _written(".toml", lambda p: p.write_text("\n".join(lines), encoding="utf-8"))
    loads_or_says_why(lambda p: panel_from_toml(p, task), path)
