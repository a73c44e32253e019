"""The report's "Dose-response": what an intervention panel's lambda did to the statistic and score.

Drawn from ``correlations.json``'s ``"dose_response"`` (:func:`ctxvec.metrics.dose.dose_response`,
written by the study when the panel's models carry ``lambda`` and ``seed`` attributes, as
``ctxvec intervene`` panels do) and the per-model means of ``subsets.csv``'s points that it was
computed from. :func:`dose_figure` defines the figure once, as data: three panels, the statistic
against lambda, the score against lambda (each seed's members as points, the mean over seeds as
a line with its bootstrap interval), and the score against the statistic (every member, coloured
by lambda, with the fitted line). :func:`plotly_figure` draws it in the report and
:func:`plot_dose_response` as ``dose_response.png``/``.svg`` beside the tables.
:func:`sentences` says what it shows in words, including when it contradicts the hypothesis.

Nothing is recomputed but the per-model means the statistics were computed from. Left out: any
curve beyond a line, and comparisons across statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec.metrics.registry import REGISTRY, label
from ctxvec.report.numbers import interval, missing, number, p_value
from ctxvec.report.plots import save_figure
from ctxvec.report.run import Run
from ctxvec.report.verdict import ALPHA, PREDICTED

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from matplotlib.figure import Figure

# A diverging palette's ends for lambda: negative blue, zero grey, positive red.
_NEGATIVE, _ZERO, _POSITIVE = (33, 102, 172), (150, 150, 150), (178, 24, 43)


@dataclass(frozen=True)
class Panel:
    """One panel: ``points`` (x, y, lambda) of the members; ``line``: (x, y, low, high) of the
    means over seeds (with their intervals) or of the fitted line (no interval)."""

    title: str
    x_label: str
    y_label: str
    points: tuple[tuple[float, float, float], ...]
    line: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True)
class DoseFigure:
    """The three panels and the lambdas' range (for the colour scale)."""

    panels: tuple[Panel, Panel, Panel]
    lambda_range: tuple[float, float]


def result_of(run: Run) -> dict[str, Any] | None:
    """The run's dose-response block, or None."""
    return run.correlations.get("dose_response")


def _value(value: float | None) -> float:
    """A number of ``correlations.json`` (where strict JSON wrote NaN as null) as a float."""
    return math.nan if value is None else float(value)


def _colour(value: float, low: float, high: float) -> str:
    """Blue for negative lambda, grey at zero, red for positive, by its share of the range."""
    end, share = (_NEGATIVE, value / low) if value < 0 else (_POSITIVE, value / high or 0.0)
    share = min(max(share if math.isfinite(share) else 0.0, 0.0), 1.0)
    rgb = (round(z + (e - z) * share) for z, e in zip(_ZERO, end, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def dose_figure(subsets: pd.DataFrame, result: dict[str, Any] | None) -> DoseFigure | None:
    """The figure's data (see the module doc) from ``subsets.csv``'s points and the
    dose-response block computed from them; None without a block."""
    if result is None:
        return None
    dose, stat, score = result["dose"], result["statistic"], result["score"]
    means = subsets.groupby("model", sort=True).agg({dose: "first", stat: "mean", score: "mean"})
    lambdas = means[dose].astype(float)
    per_dose = result["per_dose"]

    def line(key: str) -> tuple[tuple[float, float, float, float], ...]:
        return tuple(
            (e["dose"], *(_value(e[key][k]) for k in ("mean", "ci_low", "ci_high")))
            for e in per_dose
        )

    def points(x: pd.Series, y: pd.Series) -> tuple[tuple[float, float, float], ...]:
        return tuple(zip(x.astype(float), y.astype(float), lambdas, strict=True))

    slope = _value(result["effect"]["slope"])
    lo, hi = float(means[stat].min()), float(means[stat].max())
    intercept = float((means[score] - slope * means[stat]).mean())
    fitted = tuple((x, intercept + slope * x, math.nan, math.nan) for x in (lo, hi))
    lambda_label = "lambda"
    return DoseFigure(
        panels=(
            Panel(
                f"{label(stat)} against lambda",
                lambda_label,
                label(stat),
                points(lambdas, means[stat]),
                line("statistic"),
            ),
            Panel(
                f"{label(score)} against lambda",
                lambda_label,
                label(score),
                points(lambdas, means[score]),
                line("score"),
            ),
            Panel(
                f"{label(score)} against {label(stat)}",
                label(stat),
                label(score),
                points(means[stat], means[score]),
                fitted if math.isfinite(slope) else (),
            ),
        ),
        lambda_range=(float(lambdas.min()), float(lambdas.max())),
    )


def plotly_figure(spec: DoseFigure) -> go.Figure:
    """The figure as the report draws it (plotly), three panels side by side."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=3, subplot_titles=[p.title for p in spec.panels])
    low, high = spec.lambda_range
    for column, panel in enumerate(spec.panels, start=1):
        xs, ys, ls = zip(*panel.points, strict=True) if panel.points else ((), (), ())
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                marker={"color": [_colour(v, low, high) for v in ls], "size": 9},
                text=[f"lambda {v:g}" for v in ls],
                hovertemplate="%{text}<br>x %{x:.4g}<br>y %{y:.4g}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=column,
        )
        if panel.line:
            lx, ly, llow, lhigh = zip(*panel.line, strict=True)
            has_ci = all(math.isfinite(v) for v in (*llow, *lhigh))
            error = (
                {"type": "data", "symmetric": False,
                 "array": [h - y for h, y in zip(lhigh, ly, strict=True)],
                 "arrayminus": [y - lo for lo, y in zip(llow, ly, strict=True)]}
                if has_ci
                else None
            )  # fmt: skip
            figure.add_trace(
                go.Scatter(
                    x=lx,
                    y=ly,
                    mode="lines+markers" if has_ci else "lines",
                    line={"color": "#333333"},
                    error_y=error,
                    hovertemplate="x %{x:.4g}<br>mean %{y:.4g}<extra></extra>",
                    showlegend=False,
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text=panel.x_label, row=1, col=column)
        figure.update_yaxes(title_text=panel.y_label, row=1, col=column)
    figure.update_layout(height=380, margin={"t": 50, "b": 50, "l": 60, "r": 20})
    return figure


def matplotlib_figure(spec: DoseFigure) -> Figure:
    """The figure as the static files draw it (matplotlib)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 4), dpi=150, layout="constrained")
    axes = figure.subplots(1, 3)
    low, high = spec.lambda_range
    for ax, panel in zip(axes, spec.panels, strict=True):
        for x, y, v in panel.points:
            ax.scatter(x, y, color=_colour(v, low, high), s=30, zorder=3)
        if panel.line:
            lx, ly, llow, lhigh = zip(*panel.line, strict=True)
            if all(math.isfinite(v) for v in (*llow, *lhigh)):
                errors = [
                    [y - lo for lo, y in zip(llow, ly, strict=True)],
                    [h - y for h, y in zip(lhigh, ly, strict=True)],
                ]
                ax.errorbar(lx, ly, yerr=errors, color="#333333", capsize=3, zorder=2)
            else:
                ax.plot(lx, ly, color="#333333", zorder=2)
        ax.set(title=panel.title, xlabel=panel.x_label, ylabel=panel.y_label)
        ax.grid(alpha=0.3)
    return figure


def plot_dose_response(
    subsets: pd.DataFrame,
    result: dict[str, Any] | None,
    out_dir: str | Path,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Write ``dose_response.{fmt}``; nothing without a dose-response block."""
    spec = dose_figure(subsets, result)
    if spec is None or not formats:
        return []
    return save_figure(matplotlib_figure(spec), Path(out_dir) / "dose_response", formats)


def _direction(result: dict[str, Any]) -> str | None:
    """Which way the registry says the statistic is more discriminative (None: no claim)."""
    metric = REGISTRY.get(result["statistic"])
    return metric.discriminative if metric is not None else None


def outcome(result: dict[str, Any]) -> str:
    """``supports``, ``contradicts`` or ``cannot decide``: the effect's interval over seeds
    excludes zero and its permutation p is below :data:`~ctxvec.report.verdict.ALPHA`, with the
    sign the registry predicts (``supports``) or the other (``contradicts``)."""
    effect = result["effect"]
    direction = _direction(result)
    values = (effect["slope"], effect["ci_low"], effect["ci_high"], effect["p"])
    if direction is None or any(missing(v) for v in values):
        return "cannot decide"
    excludes_zero = effect["ci_low"] > 0 or effect["ci_high"] < 0
    if not (excludes_zero and effect["p"] < ALPHA):
        return "cannot decide"
    return "supports" if effect["slope"] * PREDICTED[direction] > 0 else "contradicts"


def sentences(result: dict[str, Any]) -> list[str]:
    """What the dose-response shows, in plain sentences."""
    stat, score = label(result["statistic"]), label(result["score"])
    moved = result["statistic_slope"]
    ci = interval(moved["ci_low"], moved["ci_high"], 4)
    reliably = not (missing(moved["ci_low"]) or missing(moved["ci_high"])) and (
        moved["ci_low"] > 0 or moved["ci_high"] < 0
    )
    first, last = result["per_dose"][0], result["per_dose"][-1]
    effect = result["effect"]
    verdict = outcome(result)
    direction = _direction(result)
    predicted = {"higher": "rises", "lower": "falls"}.get(direction or "", "changes")
    lines = [
        f"{result['n_models']} fine-tuned models: {len(result['per_dose'])} values of lambda x "
        f"{result['n_replicates']} seeds. Intervals are percentile bootstraps over seeds "
        f"(the independent replicates); with {result['n_replicates']} seeds they are coarse.",
        f"The intervention moved {stat} by {number(moved['slope'], '.4f')} per unit of lambda "
        f"{ci}: "
        + ("reliably, in the direction lambda asks for." if reliably and moved["slope"] > 0
           else "against the direction lambda asks for." if reliably
           else "not reliably (the interval includes 0)."),
        f"From lambda = {first['dose']:g} to {last['dose']:g}, {stat} went from "
        f"{number(first['statistic']['mean'], '.4f')} to {number(last['statistic']['mean'], '.4f')}"
        f" and {score} from {number(first['score']['mean'], '.1f')} to "
        f"{number(last['score']['mean'], '.1f')}.",
        f"Across the members, {score} changes by {number(effect['slope'], '.1f')} points per unit "
        f"of {stat} {interval(effect['ci_low'], effect['ci_high'], 1)} (r = "
        f"{number(effect['r'])}, permutation p = {p_value(effect['p'])}). The hypothesis predicts "
        f"that {score} {predicted} as {stat} rises; this experiment {_verdict_text(verdict)}.",
    ]  # fmt: skip
    return lines


def _verdict_text(verdict: str) -> str:
    return {
        "supports": "supports it",
        "contradicts": "contradicts it",
        "cannot decide": "cannot decide (the effect's interval includes 0, or p >= 0.05)",
    }[verdict]


def section(run: Run) -> dict[str, Any] | None:
    """The report section's content: the figure (plotly HTML), the sentences and the per-dose
    table; None when the run has no dose-response block."""
    import plotly.io as pio

    result = result_of(run)
    spec = dose_figure(run.subsets, result)
    if spec is None or result is None:
        return None
    rows = [
        {
            "lambda": f"{e['dose']:g}",
            "members": e["n"],
            label(result["statistic"]): number(e["statistic"]["mean"], ".4f"),
            "95% CI": interval(e["statistic"]["ci_low"], e["statistic"]["ci_high"], 4),
            "shift from lambda 0": number(e["statistic_shift"]["mean"], "+.4f"),
            label(result["score"]): number(e["score"]["mean"], ".1f"),
            "95% CI ": interval(e["score"]["ci_low"], e["score"]["ci_high"], 1),
            "shift from lambda 0 ": number(e["score_shift"]["mean"], "+.1f"),
        }
        for e in result["per_dose"]
    ]
    return {
        "figure": pio.to_html(
            plotly_figure(spec), full_html=False, include_plotlyjs=False, div_id="dose-plot"
        ),
        "sentences": sentences(result),
        "outcome": outcome(result),
        "table": pd.DataFrame(rows).to_html(index=False),
    }
