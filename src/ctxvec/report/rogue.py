"""The report's "Rogue dimensions": per model, how much of the cosine a few dimensions carry.

Read from the run folder alone: ``subsets.csv``'s ``rogue_top1`` and ``rogue_top3``
(:func:`~ctxvec.metrics.geometry.rogue_shares`, Timkey & van Schijndel 2021), averaged over each
model's subsets where defined, and the manifest's ``standardise`` setting, which says whether
the cosine-based metrics (CSE, self- and intra-sentence similarity, the random baseline) were
computed on per-dimension standardised vectors. Nothing is recomputed. Left out: shares per
layer (measured at the chosen layer only) and any figure.
"""

from __future__ import annotations

from typing import Any

from ctxvec.metrics.registry import label
from ctxvec.report.numbers import cell
from ctxvec.report.run import Run

ROGUE = ("rogue_top1", "rogue_top3")


def standardised(run: Run) -> bool:
    """Whether the run's cosine-based metrics were computed on standardised vectors."""
    return bool(run.manifest["config"]["settings"].get("standardise", False))


def section(run: Run) -> dict[str, Any] | None:
    """``{"table": html or None, "standardised": bool}``; None for a run with neither rogue
    shares (``metrics="core"``, or written before they were measured) nor standardisation."""
    columns = [c for c in ROGUE if c in run.subsets]
    if not columns and not standardised(run):
        return None
    table = None
    if columns:
        means = run.subsets.groupby("model", sort=False)[columns].mean()
        table = (
            means.rename(columns=label)
            .reset_index()
            .to_html(index=False, float_format=cell, na_rep="undefined")
        )
    return {"table": table, "standardised": standardised(run)}


def summary_line(run: Run) -> str | None:
    """The terminal summary's sentence on standardisation, or None when the run did not."""
    if not standardised(run):
        return None
    return (
        "CSE, self- and intra-sentence similarity and the random baseline were computed on "
        "per-dimension standardised vectors (--standardise)."
    )
