"""How the report, the terminal summary and the notebook write a number, in one place.

:func:`number` writes a value in a format spec, :func:`p_value` a p-value (three decimals, or
scientific notation below 0.001) and :func:`interval` a bracketed interval; a missing value
(``None`` or NaN) becomes a placeholder. :func:`cell` is the form a table's float cells take.
The page's templates use the same functions as filters. Left out: numbers in plotly's hover
labels, which the browser formats (d3 format strings in :mod:`~ctxvec.report.interactive`).
"""

from __future__ import annotations

import math
import numbers

MISSING = "n/a"


def missing(value: float | None) -> bool:
    """``None`` or NaN."""
    return value is None or (isinstance(value, numbers.Real) and math.isnan(value))


def number(value: float | None, spec: str = ".2f", blank: str = MISSING) -> str:
    """``value`` in the format ``spec`` (``.2f``, ``.3g``, ...); ``blank`` when missing."""
    return blank if missing(value) else format(value, spec)


def p_value(value: float | None) -> str:
    """``0.012``, or ``3.0e-05`` below 0.001 (three decimals would say 0)."""
    if missing(value):
        return MISSING
    return number(value, ".3f" if value >= 0.001 else ".1e")


def interval(low: float | None, high: float | None, digits: int = 2) -> str:
    """``[low, high]`` with ``digits`` decimals; empty when either end is missing."""
    if missing(low) or missing(high):
        return ""
    return f"[{number(low, f'.{digits}f')}, {number(high, f'.{digits}f')}]"


def cell(value: float | None) -> str:
    """A table's float cell: three significant digits, empty when missing."""
    return number(value, ".3g", blank="")
