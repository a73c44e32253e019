"""Static attention figures: a layer's heads, one labelled head, all layers x heads, statistics.

Every figure is a bare :class:`matplotlib.figure.Figure` (no pyplot state, so notebooks keep their
backend) and is written as PNG, SVG and/or PDF atomically by :func:`save_figure`. Attention
heatmaps share one colour scale, 0..1 with a square-root norm so weak but structured attention
stays visible; rows are queries, columns keys. The question/context boundary is drawn on every
heatmap of a QA input, and the single-head view labels both axes with the tokens it shows
(optionally cropped by :func:`ctxvec.attention.select_tokens`; dotted lines mark left-out tokens).
For a causal model the keys a query cannot see (above the diagonal) are masked, drawn in
:data:`MASKED` grey, a colour of no weight on the scale, and every title says so.

Artists a test or a caller may look for carry a ``gid``: ``boundary`` and ``gap`` lines,
``attention`` images (masked arrays), the single head's ``masked`` legend. Deliberately left
out: interactive views (:mod:`ctxvec.attention.viewer`), and attention flow/rollout across layers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, PowerNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ctxvec import files
from ctxvec.attention.patches import (
    attention_rollout,
    patch_grid,
    plot_frame_attention,
    plot_patch_attention,
)
from ctxvec.attention.weights import Attention
from ctxvec.errors import CtxvecError
from ctxvec.metrics.heads import CONTEXT, SPECIAL, available_statistics
from ctxvec.metrics.registry import CORRELATED_HEAD_STATISTICS
from ctxvec.metrics.registry import label as metric_label

CMAP = "viridis"
# Keys a causal model's query cannot see: light grey, apart from viridis (dark purple is 0).
MASKED = "#d4d4d4"
CAUSAL_NOTE = "causal model: grey keys are not visible to the query"
FORMATS = ("png", "svg", "pdf")


def _norm() -> PowerNorm:
    return PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)


def _cmap() -> Colormap:
    return colormaps[CMAP].with_extremes(bad=MASKED)


def _notes(attn: Attention, *notes: str) -> str:
    """A title's bracketed notes, the causal one added for a causal model ("" when none)."""
    shown = [*notes, *([CAUSAL_NOTE] if attn.causal else [])]
    return f" ({'; '.join(shown)})" if shown else ""


def _boundaries(attn: Attention, indices: np.ndarray) -> list[float]:
    """Positions (between cells) where the shown tokens enter the context."""
    ctx = attn.segment[indices] == CONTEXT
    return [k - 0.5 for k in range(1, len(indices)) if ctx[k] and not ctx[k - 1]]


def _mark(ax: Axes, positions: Sequence[float], gid: str, **style: object) -> None:
    for p in positions:
        ax.axhline(p, gid=gid, **style)
        ax.axvline(p, gid=gid, **style)


def _heatmap(ax: Axes, attn: Attention, weights: np.ndarray, indices: np.ndarray) -> None:
    cells = np.ix_(indices, indices)
    ax.imshow(
        np.ma.masked_array(weights[cells], mask=~attn.visible[cells]),
        cmap=_cmap(),
        norm=_norm(),
        interpolation="nearest",
        aspect="equal",
        gid="attention",
    )
    _mark(ax, _boundaries(attn, indices), "boundary", color="red", lw=0.8)


def plot_layer_heads(attn: Attention, layer: int = -1) -> Figure:
    """Grid of every head of one layer (1-based, ``-1`` = last), all tokens."""
    li = attn.layer_index(layer)
    n_heads = attn.n_heads
    cols = math.ceil(math.sqrt(n_heads))
    rows = math.ceil(n_heads / cols)
    fig = Figure(figsize=(2.3 * cols + 0.8, 2.3 * rows + 0.6), dpi=150, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    everything = np.arange(len(attn.tokens))
    for h, ax in enumerate(axes):
        if h >= n_heads:
            ax.set_axis_off()
            continue
        _heatmap(ax, attn, attn.weights[li, h], everything)
        ax.set_title(f"head {h + 1}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(axes[0].images[0], ax=axes.tolist(), shrink=0.6, label="attention")
    where = _notes(attn, "rows: queries, columns: keys")
    fig.suptitle(f"{attn.model}: layer {li + 1}, all heads{where}")
    return fig


def plot_head(
    attn: Attention, layer: int = -1, head: int = 1, indices: np.ndarray | None = None
) -> Figure:
    """One head with token labels on both axes (y: queries, x: keys).

    Args:
        indices: 0-based tokens to show, in order (default all; see
            :func:`ctxvec.attention.select_tokens`).
    """
    li, hi = attn.layer_index(layer), attn.head_index(head)
    if indices is None:
        indices = np.arange(len(attn.tokens))
    indices = np.asarray(indices)
    if indices.size == 0:
        raise CtxvecError("the crop leaves no tokens to show; widen the token range")
    n = indices.size
    side = min(max(4.0, 0.13 * n + 2.0), 60.0)
    fig = Figure(figsize=(side + 1.0, side), dpi=150, layout="constrained")
    ax = fig.subplots()
    _heatmap(ax, attn, attn.weights[li, hi], indices)
    labels = [attn.tokens[i] for i in indices]
    fontsize = 7 if n <= 80 else 5
    ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(range(n), labels, fontsize=fontsize)
    if attn.span is not None:
        lo, hi_tok = attn.span
        for tick_labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            for k, t in zip(indices, tick_labels, strict=True):
                if lo <= k <= hi_tok:
                    t.set_color("crimson")
                    t.set_fontweight("bold")
    gaps = [k - 0.5 for k in range(1, n) if indices[k] != indices[k - 1] + 1]
    _mark(ax, gaps, "gap", color="white", lw=1.2, ls=":")
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    fig.colorbar(ax.images[0], ax=ax, shrink=0.5, label="attention")
    if attn.causal:
        masked = Patch(facecolor=MASKED, edgecolor="0.5", label="not visible (causal)")
        ax.legend(handles=[masked], loc="upper right", fontsize=7).set_gid("masked")
    qa = ["red line: question | context; red labels: best answer span"] if attn.span else []
    ax.set_title(f"{attn.model}: layer {li + 1}, head {hi + 1}{_notes(attn, *qa)}", fontsize=9)
    return fig


def plot_overview(attn: Attention) -> Figure:
    """All layers (rows) x heads (columns), one small heatmap each."""
    n_layers, n_heads = attn.n_layers, attn.n_heads
    cell = 1.0 if n_heads > 8 else 1.4
    fig = Figure(
        figsize=(cell * n_heads + 1.2, cell * n_layers + 0.8), dpi=150, layout="constrained"
    )
    axes = fig.subplots(n_layers, n_heads, squeeze=False)
    everything = np.arange(len(attn.tokens))
    for li in range(n_layers):
        for h in range(n_heads):
            ax = axes[li, h]
            _heatmap(ax, attn, attn.weights[li, h], everything)
            ax.set_xticks([])
            ax.set_yticks([])
            if li == 0:
                ax.set_title(f"H{h + 1}", fontsize=7)
            if h == 0:
                ax.set_ylabel(f"L{li + 1}", fontsize=7, rotation=0, labelpad=10)
    fig.colorbar(axes[0, 0].images[0], ax=axes.ravel().tolist(), shrink=0.4, label="attention")
    fig.suptitle(f"{attn.model}: all layers x heads{_notes(attn)}")
    return fig


def plot_statistics(table: pd.DataFrame, title: str = "", causal: bool = False) -> Figure:
    """Layer x head heatmaps of each statistic in a table from
    :func:`ctxvec.metrics.heads.combine_statistics`, values written in the cells when few;
    ``causal`` says in the title that each query's statistics are over the keys it sees."""
    names = [s for s in available_statistics(table) if s in CORRELATED_HEAD_STATISTICS]
    n_layers, n_heads = int(table["layer"].max()), int(table["head"].max())
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    width = max(3.0, 0.45 * n_heads + 1.5)
    height = max(2.5, 0.4 * n_layers + 1.0)
    fig = Figure(figsize=(width * cols, height * rows), dpi=150, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    annotate = n_layers * n_heads <= 160
    for ax, name in zip(axes, names, strict=False):
        grid = statistic_grid(table, name)
        image = ax.imshow(grid, cmap="magma", aspect="auto", gid=name)
        ax.set_xticks(range(n_heads), [str(h) for h in range(1, n_heads + 1)], fontsize=6)
        ax.set_yticks(range(n_layers), [str(layer) for layer in range(1, n_layers + 1)])
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        label = metric_label(name)
        if name == "entropy":
            label += f" (uniform {table['uniform_entropy'].iloc[0]:.2f})"
        ax.set_title(label, fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
        if annotate:
            mid = np.nanmean(grid)
            for (r, c), v in np.ndenumerate(grid):
                ax.text(
                    c, r, f"{v:.2f}", ha="center", va="center", fontsize=5,
                    color="black" if v > mid else "white",
                )  # fmt: skip
    n_inputs = int(table["n_inputs"].iloc[0])
    over = " (causal model: each query over the keys it can see)" if causal else ""
    fig.suptitle(
        f"{title}{': ' if title else ''}per-head statistics over {n_inputs} input(s){over}"
    )
    return fig


def statistic_grid(table: pd.DataFrame, name: str) -> np.ndarray:
    """``[layers, heads]`` values of one statistic (layer and head numbers from 1)."""
    return table.pivot(index="layer", columns="head", values=name).to_numpy(np.float64)


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``{stem}.{fmt}`` for each format, atomically; return the paths."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise CtxvecError(f"unknown figure format(s) {unknown}; use png, svg or pdf")
    written = []
    for fmt in formats:
        path = Path(f"{stem}.{fmt}")
        files.write_with(path, functools.partial(fig.savefig, format=fmt, bbox_inches="tight"))
        written.append(path)
    return written


def write_attention_figures(
    attn: Attention,
    out_dir: str | Path,
    layer: int = -1,
    head: int = 1,
    indices: np.ndarray | None = None,
    table: pd.DataFrame | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Write the layer grid, the single head, the overview and the statistics heatmaps.

    Files: ``layer{L}_heads``, ``layer{L}_head{H}``, ``overview`` and ``statistics``, each in
    every format (layer and head numbers from 1). ``table`` defaults to this input's statistics.
    """
    out_dir = Path(out_dir)
    li, hi = attn.layer_index(layer) + 1, attn.head_index(head) + 1
    table = attn.statistics() if table is None else table
    figures = {
        f"layer{li}_heads": plot_layer_heads(attn, li),
        f"layer{li}_head{hi}": plot_head(attn, li, hi, indices),
        "overview": plot_overview(attn),
        "statistics": plot_statistics(table, attn.model, attn.causal),
        **(media_figures(attn, li, hi) if attn.picture is not None else {}),
    }
    return [p for stem, fig in figures.items() for p in save_figure(fig, out_dir / stem, formats)]


def query_row(attn: Attention, weights: np.ndarray) -> tuple[np.ndarray, str]:
    """``[n_tokens]`` the row an image or audio view draws of ``[n, n]`` weights: the first
    special token's ([CLS]), or without one the mean over all queries; and its name."""
    if (attn.segment == SPECIAL).any():
        return weights[0], attn.tokens[0]
    return weights.mean(0), "mean query"


def media_figures(attn: Attention, layer: int, head: int) -> dict[str, Figure]:
    """The attention of one head (``layer``, ``head`` from 1) and the rollout over all layers
    (:func:`~ctxvec.attention.patches.attention_rollout`) drawn over the picture: patches over
    an image (``patch_layer{L}_head{H}``, ``patch_rollout``), frames over a spectrogram's time
    axis (``frames_layer{L}_head{H}``, ``frames_rollout``); an AST's frequency x time patch
    grid is summed over frequency."""
    rows = {
        f"layer{layer}_head{head}": attn.head(layer, head),
        "rollout": attention_rollout(attn.weights),
    }
    figures = {}
    for stem, weights in rows.items():
        row, query = query_row(attn, weights)
        title = f"{attn.model}: attention of {query}, {stem.replace('_', ' ')}"
        if attn.grid is not None:
            grid = patch_grid(len(attn.tokens), *attn.grid).to_grid(row)
        if attn.n_frames is None:  # an image
            figures[f"patch_{stem}"] = plot_patch_attention(attn.picture, grid, title)
            continue
        n_special = int((attn.segment == SPECIAL).sum())
        frames = grid.sum(0) if attn.grid is not None else row[n_special : attn.n_frames]
        figures[f"frames_{stem}"] = plot_frame_attention(attn.picture, frames, title)
    return figures
