"""What a user asks the attention views to show: the input, and the tokens of a single-head view.

:func:`resolve_inputs` turns a question and context, a text, or an example id in a dataset into
:func:`~ctxvec.attention.weights.attend`'s arguments; :func:`select_tokens` crops the tokens a
single-head view shows (the question and the answer's surroundings, or a token range).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ctxvec.attention.weights import Attention
from ctxvec.data import QAExample, Task, TextExample, load_dataset
from ctxvec.errors import CtxvecError
from ctxvec.metrics.heads import CONTEXT

Region = Literal["all", "question-answer"]


def example_inputs(example: QAExample | TextExample) -> dict[str, str]:
    """:func:`~ctxvec.attention.weights.attend`'s keyword arguments for a dataset example."""
    if isinstance(example, QAExample):
        return {"question": example.question, "context": example.context}
    return {"text": example.text}


def resolve_inputs(
    question: str | None,
    context: str | None,
    text: str | None,
    data: str | None = None,
    example_id: str | None = None,
    task: str = "qa",
    split: str | None = None,
) -> tuple[Task, dict[str, str]]:
    """The task and the ``attend`` keyword arguments from what a user gave.

    A text means classification and a question or context means QA; otherwise ``example_id``
    is looked up in ``data`` (loaded with the study's loaders for ``task``).
    """
    if text is not None:
        task = "cls"
    elif question is not None or context is not None:
        task = "qa"
    if task not in ("qa", "cls"):
        raise CtxvecError(f"task must be qa or cls, got '{task}'")
    if example_id is None:
        if task == "qa":
            return "qa", {"question": question, "context": context}
        return "cls", {"text": text}
    if data is None or question or context or text:
        raise CtxvecError("--example needs --data and no --question/--context/--text")
    for e in load_dataset(task, data, split).examples:
        if e.id == example_id:
            return task, example_inputs(e)
    raise CtxvecError(f"no example with id '{example_id}' in '{data}'; check the id")


def parse_token_range(text: str) -> tuple[int, int]:
    """``"START:END"`` -> ``(START, END)``."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise CtxvecError(f"token range '{text}' must be START:END integers, e.g. 0:40") from None
    return a, b


def select_tokens(
    attn: Attention,
    region: Region = "all",
    token_range: tuple[int, int] | None = None,
    margin: int = 8,
) -> np.ndarray:
    """0-based indices of the tokens a single-head view shows, in order.

    Args:
        region: ``all`` tokens, or ``question-answer``: the special and question tokens plus the
            context tokens within ``margin`` of the best answer span (QA only).
        token_range: ``(start, end)``, 0-based, end excluded; applied after ``region``.
    """
    n = len(attn.tokens)
    keep = np.ones(n, bool)
    if region == "question-answer":
        if attn.task != "qa":
            raise CtxvecError("the question-answer crop needs a QA input (question + context)")
        keep = attn.segment != CONTEXT
        if attn.span is not None:
            lo, hi = attn.span
            window = np.zeros(n, bool)
            window[max(0, lo - margin) : hi + margin + 1] = True
            keep |= window & (attn.segment == CONTEXT)
    elif region != "all":
        raise CtxvecError(f"unknown crop region '{region}'; use all or question-answer")
    if token_range is not None:
        a, b = token_range
        if not 0 <= a < b <= n:
            raise CtxvecError(
                f"token range {a}:{b} is outside the input's {n} tokens; use START:END with "
                f"0 <= START < END <= {n}"
            )
        keep[:a] = False
        keep[b:] = False
    return np.flatnonzero(keep)
