"""What the command line prints: every line fits 80 columns.

:func:`say` prints a message to standard output, each of its lines wrapped at spaces to
:data:`WIDTH` columns, a continued line indented two spaces past the line's own indent. The
library's one-line messages (a unit finished, a checkpoint saved, the demo's phases) reach the
terminal through it; tables already laid out in 80 columns pass unchanged. Left out: progress
bars (tqdm sizes them to the terminal) and a word longer than a line (a long path stays whole).
"""

from __future__ import annotations

import textwrap

import typer

WIDTH = 80


def fit(text: str, width: int = WIDTH) -> str:
    """``text`` with every line wrapped to ``width`` columns at spaces."""
    lines = []
    for line in text.splitlines() or [""]:
        if len(line) <= width:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines += textwrap.wrap(
            line,
            width,
            subsequent_indent=indent + "  ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def say(message: str, err: bool = False) -> None:
    """Print ``message`` fitted to :data:`WIDTH` columns."""
    typer.echo(fit(message), err=err)
