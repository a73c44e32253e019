"""The report's figures: score against each metric and correlation by layer (plotly), and the
small static scatter a notebook shows (matplotlib, PNG).

Every figure draws a model with the same :class:`ModelStyle` from :func:`model_styles`. A panel
whose names carry training steps (a zoo's ``bert-step10``, ``bert-step200``, ``minilm-step30``)
is grouped by family: one colour per family, a lighter shade and another marker for each earlier
step, and one legend group per family with its steps as entries. Other panels (hub ids) get one
colour per model; past ten models the colours come again in another shade and with another
marker, so no two models look alike. Legends stand beside the plot, which grows tall enough to
hold them; long names are shortened in the legend (hover a point for the whole name).

plotly and matplotlib are imported inside the functions: importing them takes a second, and only
a report or a notebook needs them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ctxvec.report.run import LABELS, Run

if TYPE_CHECKING:
    import plotly.graph_objects as go

# Ten hues that stay apart on white (d3's category10, matplotlib's tab10).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# Point markers as (plotly symbol, matplotlib marker); the diamond is kept for the means.
SYMBOLS = (
    ("circle", "o"),
    ("square", "s"),
    ("triangle-up", "^"),
    ("pentagon", "p"),
    ("hexagon", "h"),
    ("star", "*"),
    ("triangle-down", "v"),
    ("cross", "P"),
    ("x", "X"),
)
# A checkpoint name that ends in its training step: bert-step10, run1/checkpoint-500, x_ckpt3.
_STEP = re.compile(r"^(?P<family>.+?)[-_/@. ]*(?:step|checkpoint|ckpt)[-_ ]?(?P<step>\d+)$", re.I)
LEGEND_LABEL_WIDTH = 28
# plotly's vertical legend at font size 11: pixels per entry, per group title, between groups.
_ENTRY_PX, _GROUP_TITLE_PX, _GROUP_GAP_PX = 20, 19, 8
SCATTER_HEIGHT = 420


@dataclass(frozen=True)
class ModelStyle:
    """How one model is drawn in every figure.

    Attributes:
        colour: ``#rrggbb``.
        symbol: plotly marker symbol of its points; ``marker``: the same in matplotlib.
        family: the name without its step (the whole name when it has none).
        step: the training step read from the name, or ``None``.
        group: legend group title (the family) when the family has several checkpoints.
        label: its legend entry (``step 10`` inside a group, else the shortened name).
    """

    colour: str
    symbol: str
    marker: str
    family: str
    step: int | None
    group: str | None
    label: str


def split_step(name: str) -> tuple[str, int | None]:
    """``("bert", 10)`` for ``bert-step10``; ``(name, None)`` for a name without a step."""
    match = _STEP.match(name)
    if match is None:
        return name, None
    return match["family"], int(match["step"])


def shorten(text: str, width: int) -> str:
    """``text`` cut in the middle to at most ``width`` characters (both ends say the most)."""
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    head = (width - 2 + 1) // 2
    return text[:head] + ".." + text[len(text) - (width - 2 - head) :]


def model_styles(models: Sequence[str]) -> dict[str, ModelStyle]:
    """A distinct look for each model, grouped by family when the names carry steps."""
    models = list(dict.fromkeys(models))
    parsed = {m: split_step(m) for m in models}
    members: dict[str, list[str]] = {}
    for m in models:
        members.setdefault(parsed[m][0], []).append(m)
    grouped = any(len(ms) > 1 for ms in members.values())
    styles: dict[str, ModelStyle] = {}
    if not grouped:
        for i, m in enumerate(models):
            tier = i // len(PALETTE)
            symbol, marker = SYMBOLS[tier % len(SYMBOLS)]
            styles[m] = ModelStyle(
                _tier_colour(PALETTE[i % len(PALETTE)], tier),
                symbol,
                marker,
                m,
                parsed[m][1],
                None,
                shorten(m, LEGEND_LABEL_WIDTH),
            )
        return styles
    for f, (family, ms) in enumerate(members.items()):
        base = _tier_colour(PALETTE[f % len(PALETTE)], f // len(PALETTE))
        # Earliest step first, a name without a step (the final model) last; ties keep panel
        # order. A step that two names share cannot label them: they keep their names.
        ordered = sorted(ms, key=lambda m: (parsed[m][1] is None, parsed[m][1] or 0))
        steps = [parsed[m][1] for m in ordered]
        for rank, m in enumerate(ordered):
            step = parsed[m][1]
            # The latest checkpoint in the family's full colour, earlier ones lighter.
            light = 0.6 * (len(ordered) - 1 - rank) / (len(ordered) - 1) if len(ordered) > 1 else 0
            symbol, marker = SYMBOLS[rank % len(SYMBOLS)]
            if len(ms) > 1:
                unique = step is not None and steps.count(step) == 1
                label = f"step {step}" if unique else shorten(m, LEGEND_LABEL_WIDTH)
                group = shorten(family, LEGEND_LABEL_WIDTH)
            else:
                label, group = shorten(m, LEGEND_LABEL_WIDTH), None
            styles[m] = ModelStyle(
                _mix(base, "#ffffff", light), symbol, marker, family, step, group, label
            )
    return {m: styles[m] for m in models}


def legend_order(styles: dict[str, ModelStyle]) -> list[str]:
    """Models in legend order: families in panel order, each family's steps ascending."""
    families = list(dict.fromkeys(s.family for s in styles.values()))
    return sorted(
        styles,
        key=lambda m: (
            families.index(styles[m].family),
            styles[m].step is None,
            styles[m].step or 0,
        ),
    )


def legend_height(styles: dict[str, ModelStyle]) -> int:
    """Pixels the vertical legend needs: entries, group titles and the gaps between groups."""
    groups = {s.family for s in styles.values() if s.group is not None}
    blocks = len(groups) + sum(1 for s in styles.values() if s.group is None)
    return (
        _ENTRY_PX * (len(styles) + 1)  # + the legend's title
        + _GROUP_TITLE_PX * len(groups)
        + _GROUP_GAP_PX * max(blocks - 1, 0)
    )


def _hex(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _mix(colour: str, other: str, amount: float) -> str:
    a, b = _hex(colour), _hex(other)
    return "#" + "".join(f"{round(x + amount * (y - x)):02x}" for x, y in zip(a, b, strict=True))


def _tier_colour(colour: str, tier: int) -> str:
    """The palette's colours again, another shade per round of ten: base, darker, lighter."""
    if tier == 0:
        return colour
    amount = min(0.25 + 0.15 * ((tier - 1) // 2), 0.7)
    return _mix(colour, "#000000" if tier % 2 else "#ffffff", amount)


# ------------------------------------------------------------------------------ plotly


def scatter_figure(run: Run, metric: str) -> go.Figure:
    """Score against ``metric``: one trace per model, its points and its mean (a diamond)."""
    import plotly.graph_objects as go

    points = run.subsets
    score = run.score
    hover = (
        "model %{customdata[0]}<br>subset %{customdata[1]}<br>"
        f"{LABELS.get(score, score)} %{{y:.2f}}<br>"
        f"{LABELS.get(metric, metric)} %{{x:.4f}}<extra></extra>"
    )
    styles = model_styles(list(points["model"]))
    groups = dict(list(points.groupby("model", sort=False)))
    fig = go.Figure()
    titled: set[str] = set()
    for model in legend_order(styles):
        rows, style = groups[model], styles[model]
        k = len(rows)
        # Points and mean in one trace, so a click on the legend entry hides both.
        fig.add_trace(
            go.Scatter(
                x=[*rows[metric], rows[metric].mean()],
                y=[*rows[score], rows[score].mean()],
                mode="markers",
                name=style.label,
                legendgroup=f"family:{style.family}" if style.group else f"model:{model}",
                legendgrouptitle_text=(
                    style.group if style.group and style.family not in titled else None
                ),
                marker={
                    "color": style.colour,
                    "size": [9] * k + [15],
                    "symbol": [style.symbol] * k + ["diamond"],
                    "line": {"color": ["white"] * k + ["black"], "width": [0.5] * k + [1]},
                },
                customdata=[*rows[["model", "subset"]].to_numpy().tolist(), [model, "mean"]],
                hovertemplate=hover,
            )
        )
        if style.group:
            titled.add(style.family)
    fig.update_layout(
        title=f"{LABELS.get(score, score)} vs {LABELS.get(metric, metric)}",
        xaxis_title=LABELS.get(metric, metric),
        yaxis_title=LABELS.get(score, score),
        template="plotly_white",
        # The legend lives inside the plot area's height: make room for all of it.
        height=max(SCATTER_HEIGHT, legend_height(styles) + 50 + 50 + 10),
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={
            "title": {"text": "model (diamond: mean)"},
            "orientation": "v",
            "x": 1.02,
            "xanchor": "left",
            "y": 1,
            "yanchor": "top",
            "traceorder": "grouped",
            "groupclick": "toggleitem",
            "tracegroupgap": _GROUP_GAP_PX,
            "itemsizing": "constant",
            "font": {"size": 11},
            "grouptitlefont": {"size": 11},
        },
    )
    return fig


def layer_figure(run: Run) -> go.Figure | None:
    """Pearson r of score vs each metric at each layer, per-model means and all points."""
    import plotly.graph_objects as go

    layers = run.correlations.get("layers") or {}
    if not layers:
        return None
    fig = go.Figure()
    for i, (metric, entries) in enumerate(layers.items()):
        colour = _tier_colour(PALETTE[i % len(PALETTE)], i // len(PALETTE))
        x = [e["layer"] for e in entries]
        for level, dash, what in (
            ("model_level", "solid", "models"),
            ("subset_level", "dot", "subsets"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=[e[level]["pearson_r"] for e in entries],
                    mode="lines+markers",
                    name=f"{LABELS.get(metric, metric)} ({what})",
                    line={"color": colour, "dash": dash},
                    hovertemplate=f"{LABELS.get(metric, metric)}, {what}<br>layer %{{x}}<br>"
                    "r %{y:.3f}<extra></extra>",
                )
            )
    fig.update_layout(
        title="Correlation with the score over depth (solid: per-model means; dotted: points)",
        xaxis_title="layer (0 = embeddings)",
        yaxis_title="Pearson r",
        yaxis_range=[-1.05, 1.05],
        template="plotly_white",
        height=max(SCATTER_HEIGHT, _ENTRY_PX * (2 * len(layers) + 1) + 200),
    )
    return fig


# ------------------------------------------------------------------------------ static


def _legend_blocks(styles: dict[str, ModelStyle]) -> list[list[tuple[str | None, str]]]:
    """Legend rows per block (a family with its title, or one model): ``(model, text)``;
    ``model`` is ``None`` for a group title."""
    blocks: list[list[tuple[str | None, str]]] = []
    previous = None
    for model in legend_order(styles):
        style = styles[model]
        if style.group is None or style.family != previous:
            blocks.append([(None, style.group)] if style.group is not None else [])
        blocks[-1].append((model, style.label))
        previous = style.family if style.group is not None else None
    return blocks


def scatter_png(
    run: Run, metric: str = "variance", width: float = 6.4, dpi: int = 96, rows: int = 22
) -> bytes:
    """A small PNG of score against ``metric`` with the same styles, legend beside the plot.

    The legend has at most ``rows`` rows per column; a family is never split across columns.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    points = run.subsets
    score = run.score
    styles = model_styles(list(points["model"]))
    columns: list[list[tuple[str | None, str]]] = [[]]
    for block in _legend_blocks(styles):
        if columns[-1] and len(columns[-1]) + len(block) > rows:
            columns.append([])
        columns[-1].extend(block[:rows] if len(block) > rows else block)
    depth = max(len(c) for c in columns)
    fig = Figure(figsize=(width + 1.7 * (len(columns) - 1), max(3.4, 0.17 * depth + 0.9)), dpi=dpi)
    ax = fig.subplots()
    for model, style in styles.items():
        group = points[points["model"] == model]
        ax.scatter(
            group[metric],
            group[score],
            color=style.colour,
            marker=style.marker,
            s=26,
            edgecolors="white",
            linewidths=0.4,
            zorder=2,
        )
        ax.scatter(
            group[metric].mean(),
            group[score].mean(),
            color=style.colour,
            marker="D",
            s=70,
            edgecolors="black",
            linewidths=0.7,
            zorder=3,
        )
    handles, labels, headers = [], [], []
    for column in columns:  # matplotlib fills a legend column by column: pad each to depth
        for model, text in [*column, *[("", "")] * (depth - len(column))]:
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
    ax.set_xlabel(LABELS.get(metric, metric))
    ax.set_ylabel(LABELS.get(score, score))
    ax.set_title(f"{LABELS.get(score, score)} vs {LABELS.get(metric, metric)}", fontsize=10)
    ax.grid(alpha=0.3)
    legend = ax.legend(
        handles,
        labels,
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        ncols=len(columns),
        title="model (diamond: mean)",
        title_fontsize=7,
        frameon=False,
        handletextpad=0.3,
        borderaxespad=0.0,
        alignment="left",
    )
    for text, header in zip(legend.get_texts(), headers, strict=True):
        if header:
            text.set_fontweight("bold")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
