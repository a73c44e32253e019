"""Every exception ctxvec raises on purpose, in one place.

:class:`CtxvecError` is for what the user must fix (a missing model, a malformed file, a subset
larger than the data, ...). It is raised where the user's input enters, with a one-line message
that says what is wrong and what to do; the CLI prints that line and exits with code 2, without
a traceback. Its subclasses name cases that a caller may want to handle (an input too long for
the attention views, an undefined metric).

Conditions inside the pipeline that a caller handles are not user errors and do not derive from
:class:`CtxvecError`, so that catching one can never swallow a user's mistake (or a bug):
:class:`TooFewPointsError`. Programming errors stay ordinary exceptions with their traceback.
"""

from __future__ import annotations

import math


class CtxvecError(Exception):
    """A problem with the user's input or environment, reported as one line.

    Line breaks in the message (from an id or a value in the user's file) are escaped, so the
    message stays one line whatever it quotes.
    """

    def __init__(self, message: str) -> None:
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


class MetricUndefinedError(CtxvecError):
    """A context-vector metric has no value for an example (e.g. a constant token vector)."""


class InputTooLongError(CtxvecError):
    """An input has more tokens than the model (or ``max_length``) allows."""


class TooFewPointsError(ValueError):
    """A subset-level metric needs more points than the sample has (internal: the metric is
    then reported as undefined, NaN)."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none: a
    library's multi-line message inside a one-line :class:`CtxvecError`."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def require_at_least(flag: str, value: int, low: int = 1) -> None:
    """Stop with one line unless ``value >= low``; ``flag`` names the option (``--batch-size``)."""
    if value < low:
        raise CtxvecError(f"{flag} must be at least {low}, got {value}")


def require_finite(flag: str, value: float) -> None:
    """Stop with one line unless ``value`` is a finite number."""
    if not math.isfinite(value):
        raise CtxvecError(f"{flag} must be a finite number, got {value}")


def require_one_of(flag: str, value: object, choices: tuple) -> None:
    """Stop with one line unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise CtxvecError(f"{flag} '{value}' is not one of {', '.join(map(str, choices))}")
