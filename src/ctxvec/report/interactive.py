"""The report's interactive rendering (plotly) of the figures :mod:`~ctxvec.report.figures`
defines: score against a metric, correlation over depth, the verdict's forest plot, and the
cross-model similarity matrix.

Legends stand beside the plot, which grows tall enough to hold them; a family's checkpoints
share a legend group under the family's title; hovering a point names its model and subset.
Left out: what is drawn (the definitions), and the static files (:mod:`~ctxvec.report.plots`).

plotly is imported inside the functions: importing it takes a second, and only a report needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctxvec.report.figures import Depth, Forest, Matrix, Scatter
from ctxvec.report.styles import MEAN_SYMBOL, ModelStyle, shorten

if TYPE_CHECKING:
    import plotly.graph_objects as go

# plotly's vertical legend at font size 11: pixels per entry, per group title, between groups.
_ENTRY_PX, _GROUP_TITLE_PX, _GROUP_GAP_PX = 20, 19, 8
SCATTER_HEIGHT = 420
# The forest plot is small: it shares the first screen with the verdict's text.
_FOREST_ROW_PX, _FOREST_FRAME_PX = 48, 120
# A similarity matrix: pixels per model, labels and title around it, widest label.
_MATRIX_CELL_PX, _MATRIX_FRAME_PX, _MATRIX_LABEL_WIDTH = 40, 200, 24


def legend_height(styles: dict[str, ModelStyle]) -> int:
    """Pixels the vertical legend needs: entries, group titles and the gaps between groups."""
    groups = {s.family for s in styles.values() if s.group is not None}
    blocks = len(groups) + sum(1 for s in styles.values() if s.group is None)
    return (
        _ENTRY_PX * (len(styles) + 1)  # + the legend's title
        + _GROUP_TITLE_PX * len(groups)
        + _GROUP_GAP_PX * max(blocks - 1, 0)
    )


def legend_entry(model: str, style: ModelStyle, titled: set[str]) -> dict[str, Any]:
    """A trace's legend group (its family's, or its own) and the group's title on the family's
    first trace; ``titled`` collects the families titled so far."""
    title = style.group if style.group and style.family not in titled else None
    if style.group:
        titled.add(style.family)
    return {
        "name": style.label,
        "legendgroup": f"family:{style.family}" if style.group else f"model:{model}",
        "legendgrouptitle_text": title,
    }


def scatter_figure(spec: Scatter) -> go.Figure:
    """One trace per model: its points and its mean (a diamond), so a click on the legend
    entry hides both."""
    import plotly.graph_objects as go

    hover = (
        "model %{customdata[0]}<br>subset %{customdata[1]}<br>"
        f"{spec.y_label} %{{y:.2f}}<br>{spec.x_label} %{{x:.4f}}<extra></extra>"
    )
    fig = go.Figure()
    titled: set[str] = set()
    for series in spec.series:
        style, k = series.style, len(series.x)
        fig.add_trace(
            go.Scatter(
                x=[*series.x, series.mean[0]],
                y=[*series.y, series.mean[1]],
                mode="markers",
                **legend_entry(series.model, style, titled),
                marker={
                    "color": style.colour,
                    "size": [9] * k + [15],
                    "symbol": [style.symbol] * k + [MEAN_SYMBOL[0]],
                    "line": {"color": ["white"] * k + ["black"], "width": [0.5] * k + [1]},
                },
                customdata=[[series.model, s] for s in (*series.subsets, "mean")],
                hovertemplate=hover,
            )
        )
    fig.update_layout(
        title=spec.title,
        xaxis_title=spec.x_label,
        yaxis_title=spec.y_label,
        template="plotly_white",
        # The legend lives inside the plot area's height: make room for all of it.
        height=max(SCATTER_HEIGHT, legend_height(spec.styles) + 50 + 50 + 10),
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={
            "title": {"text": spec.legend_title},
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


def depth_figure(spec: Depth) -> go.Figure:
    """A line per metric and level, on the definition's ticks (whole layers or the relative
    depths correlated)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for curve in spec.curves:
        fig.add_trace(
            go.Scatter(
                x=curve.x,
                y=curve.r,
                mode="lines+markers",
                name=curve.name,
                line={"color": curve.colour, "dash": curve.dash},
                hovertemplate=f"{curve.metric}, {curve.what}<br>{spec.axis} %{{x:.3~f}}<br>"
                "r %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=spec.title,
        # Explicit ticks: plotly's own would put 0.5, 1.5 on a shallow model's axis.
        xaxis={
            "title": spec.x_label,
            "tickmode": "array",
            "tickvals": spec.ticks,
            "ticktext": spec.tick_labels,
        },
        yaxis_title=spec.y_label,
        yaxis_range=list(spec.y_range),
        template="plotly_white",
        height=max(SCATTER_HEIGHT, _ENTRY_PX * (len(spec.curves) + 1) + 200),
    )
    return fig


def forest_figure(spec: Forest) -> go.Figure:
    """A row per metric: r (a diamond) and its CI in the verdict's colour, the band of |r| the
    panel cannot detect shaded, the line r = 0, and the side the hypothesis predicts named."""
    import plotly.graph_objects as go

    fig = go.Figure()
    # Notes above the plot area, where the rows cannot hide them.
    note = {"y": 1, "yref": "paper", "yanchor": "bottom", "showarrow": False,
            "font": {"size": 10, "color": "#667"}}  # fmt: skip
    if spec.critical is not None:
        fig.add_vrect(
            x0=-spec.critical, x1=spec.critical, fillcolor="#e8eaf0", line_width=0, layer="below"
        )
        fig.add_annotation(x=0, text=spec.band_label, **note)
    fig.add_vline(x=0, line={"color": "#888", "width": 1})
    if spec.predicted is not None:
        side = spec.predicted > 0
        fig.add_annotation(
            x=spec.predicted,
            xanchor="right" if side else "left",
            text=f"hypothesis: r {'>' if side else '<'} 0",
            **note,
        )
    for row in spec.rows:
        error = None
        if row.r is not None and row.low is not None and row.high is not None:
            error = {
                "type": "data",
                "symmetric": False,
                "array": [row.high - row.r],
                "arrayminus": [row.r - row.low],
                "color": row.colour,
                "thickness": 2,
                "width": 6,
            }
        fig.add_trace(
            go.Scatter(
                # An undefined r is written where it would be, not drawn.
                x=[0.0 if row.r is None else row.r],
                y=[row.label],
                mode="text" if row.r is None else "markers",
                text=["r undefined"] if row.r is None else None,
                marker={"color": row.colour, "size": 12, "symbol": "diamond"},
                error_x=error,
                hovertext=[row.text],
                hoverinfo="text",
                showlegend=False,
            )
        )
    fig.update_layout(
        title={"text": spec.title, "font": {"size": 13}},
        xaxis={"title": spec.x_label, "range": [-1.05, 1.05], "dtick": 0.5, "zeroline": False},
        # Rows top down, half a row of room around them, whatever the traces are.
        yaxis={"range": [len(spec.rows) - 0.5, -0.5]},
        template="plotly_white",
        height=_FOREST_FRAME_PX + _FOREST_ROW_PX * len(spec.rows),
        margin={"l": 20, "r": 20, "t": 50, "b": 45},
    )
    return fig


def matrix_figure(spec: Matrix) -> go.Figure:
    """A heatmap on the definition's fixed scale, the first model on top, every cell annotated
    (a long panel's labels shortened; hover names them whole)."""
    import plotly.graph_objects as go

    names = [shorten(m, _MATRIX_LABEL_WIDTH) for m in spec.models]
    fig = go.Figure(
        go.Heatmap(
            z=[list(row) for row in spec.values],
            x=names,
            y=names,
            text=[list(row) for row in spec.texts],
            texttemplate="%{text}",
            customdata=[[[a, b] for b in spec.models] for a in spec.models],
            hoverongaps=False,
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>"
            f"{spec.colour_label} %{{z:.4f}}<extra></extra>",
            colorscale="Viridis",
            zmin=spec.scale[0],
            zmax=spec.scale[1],
            colorbar={"title": {"text": spec.colour_label}, "thickness": 14},
        )
    )
    side = _MATRIX_FRAME_PX + _MATRIX_CELL_PX * len(spec.models)
    fig.update_layout(
        title=spec.title,
        yaxis={"autorange": "reversed"},
        template="plotly_white",
        height=side,
        margin={"l": 150, "r": 20, "t": 50, "b": 120},
    )
    return fig
