"""The run's headline numbers as Markdown, for the terminal."""

from __future__ import annotations

from ctxvec.report.run import (
    LABELS,
    TASK_NAMES,
    Run,
    blank_missing,
    correlation_frame,
    model_frame,
    warnings_for,
)


def summary_markdown(run: Run) -> str:
    """The panel's scores and the correlations as Markdown, for the terminal."""
    parts = [
        f"## ctxvec: {TASK_NAMES[run.manifest['config']['task']]}, "
        f"score {LABELS.get(run.score, run.score)}",
        "",
        model_frame(run).to_markdown(index=False),
        "",
        blank_missing(correlation_frame(run)).to_markdown(index=False, floatfmt=".3g"),
    ]
    parts += [f"\n> {w}" for w in warnings_for(run)]
    return "\n".join(parts) + "\n"
