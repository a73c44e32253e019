"""The report's interactive figures (plotly): score against each metric, and correlation by layer.

plotly is imported inside the functions: importing it takes a second, and only a report needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctxvec.report.run import LABELS, Run

if TYPE_CHECKING:
    import plotly.graph_objects as go


def scatter_figure(run: Run, metric: str) -> go.Figure:
    """Score against ``metric``, one trace per model, the means as diamonds."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    points = run.subsets
    score = run.score
    hover = (
        "model %{customdata[0]}<br>subset %{customdata[1]}<br>"
        f"{LABELS.get(score, score)} %{{y:.2f}}<br>"
        f"{LABELS.get(metric, metric)} %{{x:.4f}}<extra></extra>"
    )
    fig = go.Figure()
    groups = list(points.groupby("model", sort=False))
    palette = qualitative.Plotly if len(groups) <= 10 else qualitative.Dark24
    for i, (model, rows) in enumerate(groups):
        colour = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=rows[metric],
                y=rows[score],
                mode="markers",
                name=model,
                legendgroup=model,
                marker={"color": colour, "size": 9},
                customdata=rows[["model", "subset"]].to_numpy(),
                hovertemplate=hover,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[rows[metric].mean()],
                y=[rows[score].mean()],
                mode="markers",
                name=f"{model} (mean)",
                legendgroup=model,
                showlegend=False,
                marker={
                    "color": colour,
                    "size": 15,
                    "symbol": "diamond",
                    "line": {"color": "black", "width": 1},
                },
                customdata=[[model, "mean"]],
                hovertemplate=hover,
            )
        )
    fig.update_layout(
        title=f"{LABELS.get(score, score)} vs {LABELS.get(metric, metric)}",
        xaxis_title=LABELS.get(metric, metric),
        yaxis_title=LABELS.get(score, score),
        template="plotly_white",
        height=420,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"title": {"text": "model"}},
    )
    return fig


def layer_figure(run: Run) -> go.Figure | None:
    """Pearson r of score vs each metric at each layer, per-model means and all points."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    layers = run.correlations.get("layers") or {}
    if not layers:
        return None
    fig = go.Figure()
    for i, (metric, entries) in enumerate(layers.items()):
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
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
        height=420,
    )
    return fig
