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
import re
from collections.abc import Callable, Sequence


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


class ParameterError(CtxvecError):
    """An impossible value of one named parameter (``batch_size``, ``subset_starts``, ...).

    The library names its parameters; the command line prints the same line with the option's
    spelling instead (``--batch-size``), through :meth:`spelled`.
    """

    def __init__(self, parameter: str, problem: str, others: Sequence[str] = ()) -> None:
        super().__init__(f"{parameter} {problem}")
        self.parameter, self.problem, self.others = parameter, problem, tuple(others)

    def spelled(self, spell: Callable[[str], str]) -> str:
        """The message with the parameter's name, and the ``others`` its problem names, written
        by ``spell`` (e.g. as flags)."""
        problem = self.problem
        for name in self.others:
            problem = re.sub(rf"\b{re.escape(name)}\b", spell(name), problem)
        return CtxvecError(f"{spell(self.parameter)} {problem}").args[0]


def require_at_least(parameter: str, value: int, low: int = 1) -> None:
    """Stop with one line unless ``value >= low``."""
    if value < low:
        raise ParameterError(parameter, f"must be at least {low}, got {value}")


def require_finite(parameter: str, value: float) -> None:
    """Stop with one line unless ``value`` is a finite number."""
    if not math.isfinite(value):
        raise ParameterError(parameter, f"must be a finite number, got {value}")


def require_one_of(parameter: str, value: object, choices: Sequence) -> None:
    """Stop with one line unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ParameterError(parameter, f"'{value}' is not one of {', '.join(map(str, choices))}")
