"""The study's two figures, each defined once as data that every renderer draws.

:func:`scatter` defines the score against one metric (one :class:`Series` per model: its
(model, subset) points, their mean and its :class:`~ctxvec.report.styles.ModelStyle`), and
:func:`depth` the Pearson r of the score with each metric at each layer (one :class:`Curve` per
metric and level). Titles and axis labels are built here from the metric registry's labels, and
the depth figure's integer layer ticks are chosen here, so the interactive report
(:mod:`~ctxvec.report.interactive`, plotly) and the static files and notebook image
(:mod:`~ctxvec.report.plots`, matplotlib) show the same colours, markers, legend groups, texts
and ticks.

Left out: how a medium draws them (sizes, fonts, hover labels, legend placement) and the
attention section's figures, which only the report shows (:mod:`~ctxvec.report.attention`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ctxvec.metrics.registry import label
from ctxvec.report.styles import ModelStyle, legend_order, model_styles, series_colour

LEGEND_TITLE = "model (diamond: mean)"
# The depth figure's levels: correlations.json key, line, what its points are.
LEVELS: tuple[tuple[str, Literal["solid", "dot"], str], ...] = (
    ("model_level", "solid", "models"),
    ("subset_level", "dot", "subsets"),
)
# At most this many layer ticks; a deeper model gets every 2nd, 5th, 10th ... layer.
MAX_TICKS = 13


@dataclass(frozen=True)
class Series:
    """One model in a scatter.

    Attributes:
        model: its name (hover texts, SVG ids); ``style``: how it is drawn.
        x, y: its (model, subset) points; ``subsets``: their subsets.
        mean: its mean point (the diamond).
    """

    model: str
    style: ModelStyle
    x: tuple[float, ...]
    y: tuple[float, ...]
    subsets: tuple[str, ...]
    mean: tuple[float, float]


@dataclass(frozen=True)
class Scatter:
    """Score against a metric: series in legend order (families together, steps ascending)."""

    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    legend_title: str = LEGEND_TITLE

    @property
    def styles(self) -> dict[str, ModelStyle]:
        return {s.model: s.style for s in self.series}


@dataclass(frozen=True)
class Curve:
    """One metric's Pearson r over the layers, at one level.

    Attributes:
        name: the legend entry (metric and level); ``metric``: the metric's label.
        what: what the correlated points are (``models``: per-model means, ``subsets``).
        dash: ``solid`` for per-model means, ``dot`` for the (model, subset) points.
    """

    name: str
    metric: str
    what: str
    colour: str
    dash: Literal["solid", "dot"]
    layers: tuple[int, ...]
    r: tuple[float, ...]


@dataclass(frozen=True)
class Depth:
    """Correlation with the score over depth: a curve per metric and level, integer ticks."""

    title: str
    x_label: str
    y_label: str
    y_range: tuple[float, float]
    ticks: tuple[int, ...]
    curves: tuple[Curve, ...]


def scatter(points: pd.DataFrame, score: str, metric: str, context: str = "") -> Scatter:
    """Score against ``metric`` over ``points`` (one row per model and subset).

    Args:
        context: put before the title (``"SQuAD-style QA: F1 vs Variance"``), or nothing.
    """
    styles = model_styles(list(points["model"]))
    groups = dict(list(points.groupby("model", sort=False)))
    series = []
    for model in legend_order(styles):
        rows = groups[model]
        series.append(
            Series(
                model=model,
                style=styles[model],
                x=tuple(float(v) for v in rows[metric]),
                y=tuple(float(v) for v in rows[score]),
                subsets=tuple(str(s) for s in rows["subset"]),
                mean=(float(rows[metric].mean()), float(rows[score].mean())),
            )
        )
    title = f"{label(score)} vs {label(metric)}"
    return Scatter(
        title=f"{context}: {title}" if context else title,
        x_label=label(metric),
        y_label=label(score),
        series=tuple(series),
    )


def depth(layers: dict[str, list[dict]], score: str) -> Depth | None:
    """The score's r with each metric at each layer; ``None`` when no layer was measured.

    Args:
        layers: ``correlations.json``'s ``layers``: per metric, one entry per layer with
            ``subset_level`` and ``model_level`` correlations.
    """
    if not any(layers.values()):
        return None
    curves = []
    for i, (metric, entries) in enumerate(layers.items()):
        x = tuple(int(e["layer"]) for e in entries)
        for level, dash, what in LEVELS:
            curves.append(
                Curve(
                    name=f"{label(metric)} ({what})",
                    metric=label(metric),
                    what=what,
                    colour=series_colour(i),
                    dash=dash,
                    layers=x,
                    # A layer where r is undefined (constant values) leaves a gap.
                    r=tuple(_or_nan(e[level]["pearson_r"]) for e in entries),
                )
            )
    measured = [layer for c in curves for layer in c.layers]
    return Depth(
        title=f"Correlation with {label(score)} over depth "
        "(solid: per-model means; dotted: points)",
        x_label="layer (0 = embeddings)",
        y_label=f"Pearson r with {label(score)}",
        y_range=(-1.05, 1.05),
        ticks=layer_ticks(min(measured), max(measured)),
        curves=tuple(curves),
    )


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def layer_ticks(first: int, last: int) -> tuple[int, ...]:
    """Whole layers from ``first`` to ``last``: every one, or every 2nd, 5th, 10th, 20th ..."""
    step = next(s for s in _round_steps() if (last - first) // s + 1 <= MAX_TICKS)
    return tuple(range(math.ceil(first / step) * step, last + 1, step))


def _round_steps() -> Iterator[int]:
    for power in itertools.count():
        for mantissa in (1, 2, 5):
            yield mantissa * 10**power
