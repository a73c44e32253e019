"""Question-first sliding windows over SQuAD-style contexts, shared by the study and the zoo.

:func:`encode_windows` tokenises (question, context) pairs question first and cuts each context
into windows of at most ``max_length`` tokens that overlap by ``stride`` tokens, so no example is
dropped; with ``truncate=False`` each pair is one whole input (the baseline's choice).

The fast tokenizers fail on windows that cannot be cut, and not in a way that can be caught
cleanly: a question that leaves no room for context raises a plain ``Exception``, and a stride
that is not less than the room left raises a Rust panic (a ``BaseException``). Both are
checked here before tokenising, so the user gets one line that names the example and the fix.
Left out: the model's position limit (the caller shrinks ``max_length`` to it) and the answer
positions (the zoo maps them onto the windows itself).
"""

from __future__ import annotations

from collections.abc import Sequence

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
