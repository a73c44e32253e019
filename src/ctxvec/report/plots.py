"""The static rendering (matplotlib) of the figures :mod:`~ctxvec.report.figures` defines: the
PNG and SVG files a study writes beside its tables, and the notebook's small scatter and verdict
images.

A scatter draws each model's points and its mean (a larger outlined diamond) in the model's
colour and marker, with the legend beside the plot: a family's checkpoints under its bold title,
never split across legend columns. In an SVG, each model's points are the group ``points MODEL``
and its mean ``mean MODEL``, so a reader (or a test) finds a model's marks by name. Files are
written atomically. Left out: what is drawn (the definitions), and the interactive report.

matplotlib is imported inside the functions: importing it takes a second, and only figures need
it. A bare ``Figure`` needs no pyplot backend, so a notebook keeps its own.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ctxvec import files
from ctxvec.report.figures import Depth, Forest, Scatter, depth, scatter
from ctxvec.report.styles import MEAN_SYMBOL

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DASHES = {"solid": "-", "dot": ":"}
FILE_DPI = 150


def plot_score_vs_metrics(
    points: pd.DataFrame,
    score: str,
    metrics: Sequence[str],
    out_dir: str | Path,
    title: str = "",
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Write ``{score}_vs_{metric}.{fmt}`` for every metric; return the paths written.

    Args:
        points: one row per (model, subset) with ``model``, ``subset``, the score and the
            metric columns.
        title: put before each figure's title (the study's task), or nothing.
    """
    written = []
    for metric in metrics:
        figure = scatter_figure(scatter(points, score, metric, title), dpi=FILE_DPI)
        written += save_figure(figure, Path(out_dir) / f"{score}_vs_{metric}", formats)
    return written


def plot_correlation_by_layer(
    layers: dict[str, list[dict]],
    score: str,
    out_dir: str | Path,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """``correlation_by_layer.{fmt}``: Pearson r of score vs each metric over depth.

    Args:
        layers: ``correlations.json``'s ``layers`` (see :func:`~ctxvec.report.figures.depth`);
            nothing is written when it is empty.
    """
    spec = depth(layers, score)
    if spec is None:
        return []
    return save_figure(depth_figure(spec), Path(out_dir) / "correlation_by_layer", formats)


def scatter_png(spec: Scatter, width: float = 8.0, dpi: int = 96, rows: int = 22) -> bytes:
    """A small PNG of the scatter (a notebook shows it inline)."""
    return _png(scatter_figure(spec, width, dpi, rows))


def forest_png(spec: Forest) -> bytes:
    """A small PNG of the verdict's forest plot (a notebook shows it inline)."""
    return _png(forest_figure(spec))


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_figure(figure: Figure, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Write ``figure`` as ``stem.{fmt}`` for each format, atomically; return the paths."""
    paths = [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]
    for path, fmt in zip(paths, formats, strict=True):
        files.write_with(path, functools.partial(figure.savefig, format=fmt))
    return paths


def _legend_columns(spec: Scatter, rows: int) -> list[list[tuple[str | None, str]]]:
    """Legend rows ``(model, text)`` per column (``model`` is ``None`` for a family's title),
    at most ``rows`` a column; a family is never split across columns."""
    blocks: list[list[tuple[str | None, str]]] = []
    previous = None
    for series in spec.series:
        style = series.style
        if style.group is None or style.family != previous:
            blocks.append([(None, style.group)] if style.group is not None else [])
        blocks[-1].append((series.model, style.label))
        previous = style.family if style.group is not None else None
    columns: list[list[tuple[str | None, str]]] = [[]]
    for block in blocks:
        if columns[-1] and len(columns[-1]) + len(block) > rows:
            columns.append([])
        columns[-1].extend(block[:rows])
    return columns


def scatter_figure(spec: Scatter, width: float = 8.0, dpi: int = 96, rows: int = 22) -> Figure:
    """The scatter with its legend beside the plot, at most ``rows`` rows a legend column;
    ``width`` (inches) holds the plot and one legend column."""
    from matplotlib.figure import Figure

    columns = _legend_columns(spec, rows)
    tallest = max(len(c) for c in columns)
    size = (width + 1.7 * (len(columns) - 1), max(3.4, 0.17 * tallest + 0.9))
    fig = Figure(figsize=size, dpi=dpi)
    ax = fig.subplots()
    for series in spec.series:
        style = series.style
        ax.scatter(
            series.x,
            series.y,
            color=style.colour,
            marker=style.marker,
            s=26,
            edgecolors="white",
            linewidths=0.4,
            zorder=2,
            gid=f"points {series.model}",
        )
        ax.scatter(
            *series.mean,
            color=style.colour,
            marker=MEAN_SYMBOL[1],
            s=70,
            edgecolors="black",
            linewidths=0.7,
            zorder=3,
            gid=f"mean {series.model}",
        )
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(spec.y_label)
    ax.set_title(spec.title, fontsize=10)
    ax.grid(alpha=0.3)
    _legend(ax, spec, columns)
    # The layout makes room for the legend beside the plot, so every format of a figure has
    # the same geometry (a tight box at saving would be measured again by each backend).
    fig.tight_layout()
    return fig


def _legend(ax: Axes, spec: Scatter, columns: list[list[tuple[str | None, str]]]) -> None:
    """The scatter's legend beside the plot, a family's title in bold above its steps."""
    from matplotlib.lines import Line2D

    styles, tallest = spec.styles, max(len(c) for c in columns)
    handles, labels, headers = [], [], []
    for column in columns:  # matplotlib fills a legend column by column: pad each to tallest
        for model, text in [*column, *[("", "")] * (tallest - len(column))]:
            style = styles.get(model) if model else None
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker=style.marker,
                    color=style.colour,
                    markersize=6,
                    markeredgecolor="white",
                    markeredgewidth=0.4,
                )
                if style is not None
                else Line2D([], [], linestyle="none")
            )
            labels.append(text)
            headers.append(model is None)
    legend = ax.legend(
        handles,
        labels,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        ncols=len(columns),
        title=spec.legend_title,
        title_fontsize=7,
        frameon=False,
        handletextpad=0.3,
        borderaxespad=0.0,
        alignment="left",
    )
    for text, header in zip(legend.get_texts(), headers, strict=True):
        if header:
            text.set_fontweight("bold")


def depth_figure(spec: Depth) -> Figure:
    """A line per metric and level, on the definition's ticks (whole layers or the relative
    depths correlated)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), dpi=FILE_DPI)
    ax = fig.subplots()
    for curve in spec.curves:
        ax.plot(
            curve.x,
            curve.r,
            marker="o",
            markersize=4,
            color=curve.colour,
            linestyle=DASHES[curve.dash],
            label=curve.name,
        )
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(spec.ticks, spec.tick_labels)
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(spec.y_label)
    ax.set_ylim(*spec.y_range)
    ax.set_title(spec.title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def forest_figure(spec: Forest, dpi: int = 96) -> Figure:
    """A row per metric: r (a diamond) and its CI in the verdict's colour, the band of |r| the
    panel cannot detect shaded, the line r = 0, and the side the hypothesis predicts named."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 1.3 + 0.45 * len(spec.rows)), dpi=dpi)
    ax = fig.subplots()
    note = {"fontsize": 7, "color": "#667", "va": "bottom", "transform": ax.get_xaxis_transform()}
    if spec.critical is not None:
        ax.axvspan(-spec.critical, spec.critical, color="#e8eaf0", zorder=0)
        ax.text(0, 1.01, spec.band_label, ha="center", **note)
    ax.axvline(0.0, color="#888", lw=0.8, zorder=1)
    if spec.predicted is not None:
        side = spec.predicted > 0
        text = f"hypothesis: r {'>' if side else '<'} 0"
        ax.text(spec.predicted, 1.01, text, ha="right" if side else "left", **note)
    for y, row in enumerate(spec.rows):
        if row.r is None:  # written where it would be, not drawn
            ax.text(0, y, "r undefined", ha="center", va="center", fontsize=8, color=row.colour)
            continue
        error = None
        if row.low is not None and row.high is not None:
            error = [[row.r - row.low], [row.high - row.r]]
        ax.errorbar(row.r, y, xerr=error, fmt="D", color=row.colour, capsize=3, zorder=2)
    ax.set_yticks(range(len(spec.rows)), [row.label for row in spec.rows], fontsize=8)
    ax.set_ylim(len(spec.rows) - 0.5, -0.5)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xticks([-1.0, -0.5, 0.0, 0.5, 1.0])
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(spec.x_label, fontsize=8)
    ax.set_title(spec.title, fontsize=9, pad=14)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
