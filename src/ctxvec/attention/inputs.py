"""What a user asks the attention views to show: the input, and the tokens of a single-head view.

:func:`resolve_inputs` turns a question and context, a text, or an example id in a dataset into
:func:`~ctxvec.attention.weights.attend`'s arguments; :func:`select_tokens` crops the tokens a
single-head view shows (the question and the answer's surroundings, or a token range).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ctxvec.attention.weights import Attention, task_for_inputs
from ctxvec.errors import CtxvecError, ParameterError
from ctxvec.metrics.heads import CONTEXT
from ctxvec.tasks import get_task, load_dataset

Region = Literal["all", "question-answer"]


def resolve_inputs(
    question: str | None,
    context: str | None,
    text: str | None,
    data: str | None = None,
    example_id: str | None = None,
    task: str = "qa",
    split: str | None = None,
    image: str | None = None,
    audio: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The task's name and the ``attend`` keyword arguments from what a user gave.

    The fields given name the task (a text: classification; a question and a context: QA; an
    image or an audio file: theirs; anything else is one line, before a model loads); otherwise
    ``example_id`` is looked up in ``data`` (loaded with ``task``'s loader).
    """
    fields = {"question": question, "context": context, "text": text, "image": image}
    given = {k: v for k, v in {**fields, "audio": audio}.items() if v is not None}
    if example_id is None:
        return task_for_inputs(given).name, given
    if data is None or given:
        raise ParameterError(
            "example_id",
            "needs data and no question, context or text",
            others=("data", "question", "context", "text"),
        )
    chosen = get_task(task)
    example = chosen.find_example(load_dataset(chosen, data, split), example_id)
    if example is None:
        raise CtxvecError(f"no example with id '{example_id}' in '{data}'; check the id")
    return chosen.name, chosen.inputs_of(example)


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
        if not (attn.segment == CONTEXT).any():
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
