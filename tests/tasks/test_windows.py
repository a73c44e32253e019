"""Span search and answer decoding, on hand-made logits."""

from __future__ import annotations

import numpy as np

from ctxvec.tasks.windows import best_span

# Tokens: [CLS] q q [SEP] c0 c1 c2 c3 [SEP]; context tokens map to characters of "ab cd ef gh".
OFFSETS = [None, None, None, None, (0, 2), (3, 5), (6, 8), (9, 11), None]


def logits(**values: float) -> np.ndarray:
    out = np.zeros(len(OFFSETS), np.float32)
    for k, v in values.items():
        out[int(k[1:])] = v
    return out


def test_best_span_is_argmax_pair_within_context() -> None:
    start = logits(t5=3.0, t6=1.0)
    end = logits(t6=2.0, t7=1.0)
    assert best_span(start, end, OFFSETS, n_best=20, max_answer_length=30) == (5.0, 3, 8)


def test_end_before_start_is_never_chosen() -> None:
    # The argmax end (t4) lies before the argmax start (t6): the next valid pair wins.
    start = logits(t4=-10.0, t5=-10.0, t6=5.0, t7=-10.0)
    end = logits(t4=9.0, t7=1.0)
    assert best_span(start, end, OFFSETS, n_best=20, max_answer_length=30) == (6.0, 6, 11)


def test_max_answer_length_limits_spans() -> None:
    start = logits(t4=5.0)
    end = logits(t7=5.0, t5=1.0)
    assert best_span(start, end, OFFSETS, n_best=20, max_answer_length=4)[1:] == (0, 11)
    assert best_span(start, end, OFFSETS, n_best=20, max_answer_length=2)[1:] == (0, 5)


def test_question_and_special_tokens_are_excluded() -> None:
    start = logits(t0=50.0, t1=40.0, t5=1.0)
    end = logits(t0=50.0, t2=40.0, t8=45.0, t5=1.0)
    assert best_span(start, end, OFFSETS, n_best=20, max_answer_length=30) == (2.0, 3, 5)


def test_n_best_restricts_the_search() -> None:
    # With n_best=1 only the top start (t7) and top end (t4) are paired, which is invalid.
    start = logits(t7=3.0, t5=2.0)
    end = logits(t4=3.0, t6=2.0)
    assert best_span(start, end, OFFSETS, n_best=1, max_answer_length=30) is None
    assert best_span(start, end, OFFSETS, n_best=2, max_answer_length=30) == (4.0, 3, 8)


def test_window_without_context_has_no_span() -> None:
    assert best_span(np.zeros(3), np.zeros(3), [None, None, None], 20, 30) is None
