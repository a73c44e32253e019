"""Question-first sliding windows over SQuAD-style contexts, shared by the study and the zoo,
and what is read off one window: its best answer span, its training targets.

:func:`encode_windows` tokenises (question, context) pairs question first and cuts each context
into windows of at most ``max_length`` tokens that overlap by ``stride`` tokens, so no example is
dropped; with ``truncate=False`` each pair is one whole input (the baseline's choice).

The fast tokenizers fail on windows that cannot be cut, and not in a way that can be caught
cleanly: a question that leaves no room for context raises a plain ``Exception``, and a stride
that is not less than the room left raises a Rust panic (a ``BaseException``). Both are
checked here before tokenising, so the user gets one line that names the example and the fix.
:func:`best_span` searches one window's n-best start and end logits for the highest-scoring
valid span; :func:`training_windows` gives the zoo each window's answer tokens as targets.
Left out: the model's position limit (the caller shrinks ``max_length`` to it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ctxvec.data import QAExample
from ctxvec.errors import CtxvecError


def questions_of(examples: Sequence[QAExample]) -> list[str]:
    """The questions as they are encoded: leading spaces break some tokenizers' offsets."""
    return [e.question.lstrip() for e in examples]


def check_room(
    tokenizer, examples: Sequence[QAExample], max_length: int, stride: int, model: str
) -> None:
    """Stop with one line unless every window keeps more than ``stride`` context tokens."""
    questions = questions_of(examples)
    if not questions:
        return
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    room = max_length - lengths[longest] - tokenizer.num_special_tokens_to_add(pair=True)
    if room <= stride:
        raise CtxvecError(
            f"windows of {max_length} tokens leave {room} for the context of question "
            f"'{examples[longest].id}' ({lengths[longest]} tokens) with '{model}', not more "
            f"than the stride of {stride}; raise --max-length or lower --stride"
        )


def encode_windows(
    tokenizer,
    examples: Sequence[QAExample],
    max_length: int,
    stride: int,
    *,
    truncate: bool = True,
    model: str = "the model",
):
    """Tokenise pairs question first, with offsets, in windows (``truncate``) or whole.

    Returns:
        The tokenizer's ``BatchEncoding``: one row per window, ``offset_mapping``,
        ``special_tokens_mask`` and, with ``truncate``, ``overflow_to_sample_mapping``.
    """
    common = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    questions, contexts = questions_of(examples), [e.context for e in examples]
    if not truncate:
        return tokenizer(questions, contexts, truncation=False, **common)
    check_room(tokenizer, examples, max_length, stride, model)
    return tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        **common,
    )


def best_span(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Sequence[tuple[int, int] | None],
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """The highest-scoring valid span of one window.

    Args:
        start_logits, end_logits: ``[n_tokens]`` logits of the window (no padding).
        offsets: per token, its character span in the context, or ``None`` outside the context.
        n_best: how many top start and end positions to combine.
        max_answer_length: longest answer in tokens.

    Returns:
        ``(score, start_char, end_char)`` of the best span, or ``None`` when no span is valid.
    """
    in_context = np.array([o is not None for o in offsets])
    if not in_context.any():
        return None
    masked_start = np.where(in_context, start_logits, -np.inf)
    masked_end = np.where(in_context, end_logits, -np.inf)
    top_starts = np.argsort(-masked_start, kind="stable")[:n_best]
    top_ends = np.argsort(-masked_end, kind="stable")[:n_best]
    best: tuple[float, int, int] | None = None
    for s in top_starts:
        if not in_context[s]:
            continue
        for e in top_ends:
            if not in_context[e] or e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[0]:
                best = (score, offsets[s][0], offsets[e][1])
    return best


def no_answer_position(ids: Sequence[int], cls_id: int | None) -> int:
    """Where a window's "no answer" is read and trained: its [CLS]-like token, or position 0
    where it has none (decoders)."""
    if cls_id is not None and cls_id in ids:
        return list(ids).index(cls_id)
    return 0


def training_windows(
    tokenizer: Any, examples: Sequence[QAExample], max_length: int, stride: int
) -> list[dict[str, Any]]:
    """Training windows with start/end token positions (the [CLS] token where no answer, or
    position 0 without one)."""
    enc = encode_windows(tokenizer, examples, max_length, stride)
    names = [n for n in tokenizer.model_input_names if n in enc]
    features = []
    for i, owner in enumerate(enc["overflow_to_sample_mapping"]):
        example = examples[owner]
        ids = enc["input_ids"][i]
        seq = enc.sequence_ids(i)
        start = end = no_answer_position(ids, tokenizer.cls_token_id)
        if example.answers:
            first = example.answer_starts[0]
            last = first + len(example.answers[0])
            offsets = enc["offset_mapping"][i]
            tokens = [
                t
                for t, ((a, b), s) in enumerate(zip(offsets, seq, strict=True))
                if s == 1 and a < last and b > first
            ]
            # A window holding only part of the answer is trained as "no answer" in it.
            if tokens and offsets[tokens[0]][0] <= first and offsets[tokens[-1]][1] >= last:
                start, end = tokens[0], tokens[-1]
        feature = {n: enc[n][i] for n in names}
        feature["start_positions"] = start
        feature["end_positions"] = end
        features.append(feature)
    return features
