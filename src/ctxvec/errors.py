"""User-facing errors.

Every mistake a user can make (a missing model, a malformed file, a subset larger than the
data, ...) raises :class:`CtxvecError` with a one-line message that says what is wrong and what
to do. The CLI prints that line and exits non-zero without a traceback; programming errors are
left as ordinary exceptions so they keep their traceback.
"""

from __future__ import annotations


class CtxvecError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class MetricUndefinedError(CtxvecError):
    """A context-vector metric has no value for an example (e.g. a constant token vector)."""
