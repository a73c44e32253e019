"""The report's section "Confounds": the plain, partial and mixed-model results side by side.

:func:`section` lays out ``correlations.json``'s ``confounds`` block (written by
:func:`ctxvec.metrics.confounds.confounds` when the panel's models have attributes): one table
row per metric with the plain model-level r and its permutation p, the partial r given the
controls with its permutation p, the mixed model's slope with its 95% interval, and one
sentence per metric saying what controlling did. Everything is read from the run folder;
nothing is recomputed. A run without the block (a panel without attributes) has no section.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec.metrics.registry import label
from ctxvec.report.numbers import interval, missing, number, p_value

if TYPE_CHECKING:
    from ctxvec.report.run import Run

# What each outcome of ctxvec.metrics.confounds.verdict says, after "<metric>: ".
_SAYS = {
    "holds": "the relationship holds when {what} (significant before and after, same sign).",
    "vanishes when controlled": "the relationship vanishes when {what}: significant across "
    "models, but not after (or of the opposite sign); the plain correlation may reflect the "
    "controls rather than the metric.",
    "appears when controlled": "a relationship appears only when {what}.",
    "neither": "no significant relationship, before or after {what}.",
    "undefined": "cannot tell: a value is undefined before or after {what}.",
}


def _r_and_p(r: float | None, p: float | None) -> str:
    return "" if missing(r) else f"{number(r)} (p = {p_value(p)})"


def _mixed_cell(mixed: dict[str, Any] | None) -> str:
    if mixed is None:
        return ""
    if missing(mixed["slope"]):
        return f"n/a ({mixed['reason']})"
    notes = [f"{mixed['groups']} groups", "converged" if mixed["converged"] else "did not converge"]
    if mixed["reason"]:
        notes.append(mixed["reason"])
    band = interval(mixed["ci_low"], mixed["ci_high"])
    return " ".join(filter(None, [number(mixed["slope"], ".3g"), band, f"({'; '.join(notes)})"]))


def _partial_cell(partial: dict[str, Any] | None) -> str:
    if partial is None:
        return ""
    if missing(partial["r"]):
        return f"n/a ({partial['reason']})"
    return _r_and_p(partial["r"], partial["permutation_p"])


def section(run: Run) -> dict[str, Any] | None:
    """The section's table (HTML), verdict sentences and what was controlled; None for a run
    without a ``confounds`` block."""
    block = run.correlations.get("confounds")
    if block is None:
        return None
    controls, group = block["controls"], block["group"]
    rows, sentences = [], []
    for metric, entry in block["metrics"].items():
        plain = entry["plain"]
        rows.append(
            {
                "metric": label(metric),
                "models": plain["n"],
                "plain r (permutation p)": _r_and_p(plain["r"], plain["p"]),
                f"partial r | {', '.join(controls)} (permutation p)": _partial_cell(
                    entry["partial"]
                ),
                f"mixed slope [95% CI] | {group}": _mixed_cell(entry["mixed"]),
            }
        )
        if entry["verdict"] is not None:
            by = entry["verdict"]["by"]
            what = (
                f"controlling for {', '.join(controls)}"
                if by == "partial"
                else f"each {group} has its own level (mixed model)"
            )
            sentences.append((label(metric), _SAYS[entry["verdict"]["outcome"]].format(what=what)))
    table = pd.DataFrame(rows)
    if not controls:
        table = table.drop(columns=[c for c in table.columns if c.startswith("partial")])
    if group is None:
        table = table.drop(columns=[c for c in table.columns if c.startswith("mixed")])
    attributes = sorted({k for m in run.manifest["models"] for k in m.get("attributes", {})})
    return {
        "table": table.to_html(index=False),
        "sentences": sentences,
        "controls": controls,
        "group": group,
        "attributes": attributes,
    }
