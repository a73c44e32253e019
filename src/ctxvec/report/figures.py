"""The study's figures, each defined once as data that every renderer draws.

:func:`scatter` defines the score against one metric (one :class:`Series` per model: its
(model, subset) points, their mean and its :class:`~ctxvec.report.styles.ModelStyle`),
:func:`depth` the Pearson r of the score with each metric over relative depth, or over the layer
index when every model has the same layers (one :class:`Curve` per metric and level), and
:func:`forest` the verdict's small figure (:mod:`~ctxvec.report.verdict`): each headline
metric's model-level r with its 95% CI, coloured by the verdict, over the band of |r| the panel
cannot tell from zero, and :func:`similarity_matrix` a model x model matrix of the cross-model
similarity (:class:`Matrix`; only the report draws it). Titles and axis labels are built here
from the metric registry's labels, and the depth figure's axis (which one, its label, its ticks
and their texts) is chosen here, so the interactive report (:mod:`~ctxvec.report.interactive`,
plotly) and the static files and notebook image (:mod:`~ctxvec.report.plots`, matplotlib)
show the same colours, markers, legend groups, texts and ticks.

Left out: how a medium draws them (sizes, fonts, hover labels, legend placement) and the
attention section's figures, which only the report shows (:mod:`~ctxvec.report.attention`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import pandas as pd

from ctxvec.metrics.registry import label
from ctxvec.report.numbers import missing, number
from ctxvec.report.styles import ModelStyle, legend_order, model_styles, series_colour
from ctxvec.report.verdict import Answer, estimate_text

LEGEND_TITLE = "model (diamond: mean)"
# The depth figure's levels: correlations.json key, line, what its points are.
LEVELS: tuple[tuple[str, Literal["solid", "dot"], str], ...] = (
    ("model_level", "solid", "models"),
    ("subset_level", "dot", "subsets"),
)
# The verdict's colours: the palette's green and red, grey for "cannot decide".
OUTCOME_COLOURS = {"supports": "#2ca02c", "contradicts": "#d62728", "cannot decide": "#7f7f7f"}
# At most this many ticks over depth; a deeper model gets every 2nd, 5th, 10th ... layer.
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
    """One metric's Pearson r over depth, at one level.

    Attributes:
        name: the legend entry (metric and level); ``metric``: the metric's label.
        what: what the correlated points are (``models``: per-model means, ``subsets``).
        dash: ``solid`` for per-model means, ``dot`` for the (model, subset) points.
        x: where its points are: relative depths, or layer indices (:attr:`Depth.axis`).
    """

    name: str
    metric: str
    what: str
    colour: str
    dash: Literal["solid", "dot"]
    x: tuple[float, ...]
    r: tuple[float, ...]


@dataclass(frozen=True)
class Depth:
    """Correlation with the score over depth: a curve per metric and level.

    Attributes:
        axis: ``"relative depth"`` (0 = embeddings, 1 = last layer; models of different depth)
            or ``"layer"`` (every model has the same layers: the index, integer ticks); the
            title and ``x_label`` say which, and hover texts name it.
        ticks: where the x axis has ticks, written ``tick_labels`` (``1/2``, ``3``).
    """

    title: str
    x_label: str
    y_label: str
    y_range: tuple[float, float]
    axis: Literal["relative depth", "layer"]
    ticks: tuple[float, ...]
    tick_labels: tuple[str, ...]
    curves: tuple[Curve, ...]


@dataclass(frozen=True)
class Estimate:
    """One metric's row of the forest plot.

    Attributes:
        label: the row's name (metric and verdict); ``colour``: the verdict's.
        r, low, high: the model-level r and its 95% CI (``None`` where undefined).
        text: the numbers as the verdict writes them (hover text).
    """

    label: str
    colour: str
    r: float | None
    low: float | None
    high: float | None
    text: str


@dataclass(frozen=True)
class Forest:
    """Model-level r of the score with each headline metric, on [-1, 1].

    Attributes:
        critical: the |r| the panel needs for p < 0.05 (``None`` below three models); the band
            inside it is labelled ``band_label``.
        predicted: the sign of r the hypothesis predicts for every row, marked on that side.
    """

    title: str
    x_label: str
    rows: tuple[Estimate, ...]
    critical: float | None
    band_label: str
    predicted: int | None


def forest(answer: Answer, score: str) -> Forest:
    """The verdict's figure, a row per headline metric (:func:`~ctxvec.report.verdict.answer`)."""
    verdicts = answer.verdicts
    n, critical = verdicts[0].n, verdicts[0].critical
    signs = {v.predicted for v in verdicts}
    return Forest(
        title=f"Model-level r with {label(score)}, 95% CI ({n} models)",
        x_label=f"Pearson r of {label(score)} with the metric over per-model means",
        rows=tuple(
            Estimate(
                label=f"{label(v.metric)}: {v.outcome}",
                colour=OUTCOME_COLOURS[v.outcome],
                r=v.r,
                low=v.low,
                high=v.high,
                text=f"{label(v.metric)}: {estimate_text(v)}; {v.outcome}",
            )
            for v in verdicts
        ),
        critical=critical,
        band_label=f"|r| < {number(critical)}: not detectable" if critical is not None else "",
        predicted=signs.pop() if len(signs) == 1 else None,
    )


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
    """The score's r with each metric over depth; ``None`` when no layer was measured.

    The x axis is the relative depth (0 = embeddings, 1 = last layer) with a tick at each depth
    correlated (at most :data:`MAX_TICKS` of them), or, when every entry has a layer index
    (every model has the same number of layers), the layer index with integer ticks.

    Args:
        layers: ``correlations.json``'s ``layers``: per metric, one entry per relative depth
            with ``depth``, ``layer`` (an index or ``None``), and ``subset_level`` and
            ``model_level`` correlations (:func:`~ctxvec.study.tables.layer_correlations`).
    """
    if not any(layers.values()):
        return None
    entries = [e for es in layers.values() for e in es]
    by_layer = all(e.get("layer") is not None for e in entries)
    where = "layer" if by_layer else "depth"
    curves = []
    for i, (metric, metric_entries) in enumerate(layers.items()):
        x = tuple(float(e[where]) for e in metric_entries)
        for level, dash, what in LEVELS:
            curves.append(
                Curve(
                    name=f"{label(metric)} ({what})",
                    metric=label(metric),
                    what=what,
                    colour=series_colour(i),
                    dash=dash,
                    x=x,
                    # A depth where r is undefined (constant values) leaves a gap.
                    r=tuple(_or_nan(e[level]["pearson_r"]) for e in metric_entries),
                )
            )
    measured = sorted({x for c in curves for x in c.x})
    if by_layer:
        ticks: tuple[float, ...] = layer_ticks(int(measured[0]), int(measured[-1]))
        labels = tuple(str(int(t)) for t in ticks)
        axis, x_label, over = "layer", "layer (0 = embeddings)", "by layer"
    else:
        ticks = depth_ticks(measured)
        labels = tuple(depth_label(t) for t in ticks)
        axis, over = "relative depth", "over relative depth"
        x_label = "relative depth (0 = embeddings, 1 = last layer)"
    return Depth(
        title=f"Correlation with {label(score)} {over} (solid: per-model means; dotted: points)",
        x_label=x_label,
        y_label=f"Pearson r with {label(score)}",
        y_range=(-1.05, 1.05),
        axis=axis,
        ticks=tuple(float(t) for t in ticks),
        tick_labels=labels,
        curves=tuple(curves),
    )


def depth_ticks(depths: list[float]) -> tuple[float, ...]:
    """Ticks at the relative depths correlated (ascending): every one, or every 2nd, 5th ...
    from the first, so that at most :data:`MAX_TICKS` remain."""
    step = next(s for s in _round_steps() if (len(depths) - 1) // s + 1 <= MAX_TICKS)
    return tuple(depths[::step])


def depth_label(depth: float) -> str:
    """A relative depth as the fraction it is: ``0``, ``1/3``, ``1/2``, ``1``."""
    return str(Fraction(depth).limit_denominator(1000))


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


@dataclass(frozen=True)
class Matrix:
    """A model x model matrix on a fixed colour scale, each cell annotated with its value.

    Attributes:
        models: the rows (top to bottom) and columns (left to right), in panel order.
        values: ``[models, models]``, ``None`` where undefined.
        texts: each cell's annotation (its value, or :data:`~ctxvec.report.numbers.MISSING`).
        scale: the colour scale's fixed range, the same for every run.
        colour_label: the colour bar's title.
    """

    title: str
    models: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    texts: tuple[tuple[str, ...], ...]
    scale: tuple[float, float]
    colour_label: str


def similarity_matrix(models: list[str], matrix: list[list[float | None]], measure: str) -> Matrix:
    """The cross-model similarity ``measure`` (``correlations.json``'s ``similarity`` block:
    its ``models`` and ``matrix[measure]``, means over subsets) on [0, 1]."""
    values = tuple(tuple(None if missing(v) else float(v) for v in row) for row in matrix)
    return Matrix(
        title=f"{label(measure)} between models (mean over subsets)",
        models=tuple(models),
        values=values,
        texts=tuple(tuple(number(v) for v in row) for row in values),
        scale=(0.0, 1.0),
        colour_label=label(measure),
    )
