"""The report's "Attention against the score", from a study's ``--attention-stats``.

Drawn from ``attention.csv`` (:attr:`Run.attention`) and ``correlations.json``'s ``"attention"``:

* :func:`correlation_heatmap`: the model-level Pearson r of the score with each statistic
  (rows) in each depth bin (columns), on a diverging scale fixed to [-1, 1], each cell
  annotated with r and its permutation p; cells the study left out (fewer than 3 models) blank.
* :func:`strongest_scatter`: the score against the statistic of the cell with the largest
  |model-level r|, one point per model (its mean over subsets) and its subsets' points lighter.
* :func:`head_grid_figures`: per model its layers x heads grid of ``entropy_ratio`` (mean over
  the model's subsets), one small heatmap each, all on one fixed 0..1 scale so grids of models
  of different depth and width compare by colour. A causal model's ratio is over its own
  baseline, uniform attention on the keys each query can see (:mod:`ctxvec.metrics.heads`), so
  its grid compares with an encoder's too.

The correlations are read from the JSON, never recomputed; the only arithmetic here is the
means over rows of ``attention.csv`` that the study's correlations were computed from, so the
scatter plot shows the points behind its r. Left out: subset-level and within-model numbers
(they stay in ``correlations.json``), any matching of heads across models (they are not
comparable one to one), and per-head correlations with the score.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ctxvec.metrics.heads import depth_bin_means
from ctxvec.metrics.registry import label
from ctxvec.report.figures import LEGEND_TITLE
from ctxvec.report.interactive import SCATTER_HEIGHT, legend_entry, legend_height
from ctxvec.report.numbers import number
from ctxvec.report.run import Run
from ctxvec.report.styles import MEAN_SYMBOL, legend_order, model_styles, shorten

if TYPE_CHECKING:
    import plotly.graph_objects as go

GRID_TITLE_WIDTH = 30
# Pixels per layer row of a head grid, and the grid's title and axes around it.
_ROW_PX, _GRID_FRAME_PX = 16, 110


def has_attention(run: Run) -> bool:
    """Whether the run has attention statistics: ``attention.csv`` rows and their correlations."""
    return run.attention is not None and len(run.attention) > 0 and "attention" in run.correlations


def _cells(run: Run) -> dict[str, dict[str, dict[str, Any]]]:
    """``correlations.json``'s cells: statistic -> depth bin -> its correlations."""
    return run.correlations["attention"]["statistics"]


def _bins(run: Run) -> list[str]:
    return list(run.correlations["attention"]["bins"])


def bin_points(run: Run, statistic: str, depth_bin: str) -> pd.DataFrame:
    """Per (model, subset) of the models with a layer in the bin: ``model``, ``subset``, the
    score and ``value``, the mean over the bin's layers of their means over heads."""
    means = depth_bin_means(run.attention, [statistic])
    values = means[means["depth_bin"] == depth_bin].drop(columns="depth_bin")
    values = values.rename(columns={statistic: "value"})
    return run.subsets[["model", "subset", run.score]].merge(values, on=["model", "subset"])


def strongest_cell(run: Run) -> tuple[str, str] | None:
    """``(statistic, bin)`` of the largest |model-level r|; ``None`` when no r is defined."""
    best, best_r = None, -1.0
    for statistic, bins in _cells(run).items():
        for depth_bin, cell in bins.items():
            r = cell["model_level"]["pearson_r"]
            if r is not None and not math.isnan(r) and abs(r) > best_r:
                best, best_r = (statistic, depth_bin), abs(r)
    return best


def critical_values(run: Run) -> list[tuple[int, float]]:
    """``(models, |r|)``: the |r| a model-level r needs for p < 0.05, per panel size, largest
    panel first (the page's small-panel caution)."""
    needed = {
        cell["critical_r"]["n"]: cell["critical_r"]["r"]
        for bins in _cells(run).values()
        for cell in bins.values()
        if cell.get("critical_r", {}).get("r") is not None
    }
    return [(n, needed[n]) for n in sorted(needed, reverse=True)]


def correlation_heatmap(run: Run) -> go.Figure | None:
    """Model-level r, ``[statistics, bins]``; ``None`` when the study kept no cell."""
    import plotly.graph_objects as go

    cells, bins = _cells(run), _bins(run)
    if not cells:
        return None
    z, text, hover = [], [], []
    for statistic in cells:
        z_row, text_row, hover_row = [], [], []
        for depth_bin in bins:
            cell = cells[statistic].get(depth_bin)
            if cell is None:
                z_row.append(None)
                text_row.append("")
                hover_row.append(["", "", "", ""])
                continue
            model = cell["model_level"]
            p = cell.get("model_permutation", {}).get("p")
            r = model["pearson_r"]
            z_row.append(None if r is None or math.isnan(r) else r)
            text_row.append(f"r={number(r)}<br>perm p={number(p)}")
            ci = (
                f"[{number(model['pearson_ci_low'])}, {number(model['pearson_ci_high'])}]"
                if model["pearson_ci_low"] is not None
                else "n/a"
            )
            hover_row.append([ci, number(model["spearman_rho"]), number(p), cell["n_models"]])
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    labels = [label(s) for s in cells]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=bins,
            y=labels,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hoverongaps=False,
            hovertemplate="%{y}, %{x} layers<br>r %{z:.2f}, 95% CI %{customdata[0]}<br>"
            "Spearman rho %{customdata[1]}<br>permutation p %{customdata[2]}<br>"
            "%{customdata[3]} models<extra></extra>",
            colorscale="RdBu",
            reversescale=True,  # red for positive r, blue for negative
            zmin=-1,
            zmax=1,
            zmid=0,
            colorbar={"title": {"text": "r"}, "thickness": 14},
        )
    )
    fig.update_layout(
        title=f"Model-level Pearson r of {label(run.score)} with each statistic",
        xaxis_title="depth bin (relative depth layer / layers)",
        yaxis={"autorange": "reversed"},  # the first statistic on top, as in the table order
        template="plotly_white",
        height=max(300, 130 + 48 * len(labels)),
        margin={"l": 170, "r": 20, "t": 50, "b": 60},
    )
    return fig


def strongest_scatter(run: Run) -> go.Figure | None:
    """Score against the strongest cell's statistic: per model its mean over subsets (large)
    and its subsets (small, lighter); ``None`` when no cell has an r."""
    import plotly.graph_objects as go

    strongest = strongest_cell(run)
    if strongest is None:
        return None
    statistic, depth_bin = strongest
    cell = _cells(run)[statistic][depth_bin]
    score = run.score
    points = bin_points(run, statistic, depth_bin)
    means = points.groupby("model", sort=False)[[score, "value"]].mean()
    name = f"{label(statistic)} ({depth_bin} layers)"
    score_name = label(score)
    styles = model_styles(list(points["model"]))
    fig = go.Figure()
    titled: set[str] = set()
    for model in legend_order(styles):
        style, rows = styles[model], points[points["model"] == model]
        # As in the report's other scatter plots: checkpoints of a family under its title.
        entry = legend_entry(model, style, titled)
        fig.add_trace(
            go.Scatter(
                x=rows["value"],
                y=rows[score],
                mode="markers",
                name=entry["name"],
                legendgroup=entry["legendgroup"],
                showlegend=False,
                opacity=0.4,
                marker={"color": style.colour, "size": 7, "symbol": style.symbol},
                customdata=[[model, subset] for subset in rows["subset"]],
                hovertemplate=f"model %{{customdata[0]}}<br>subset %{{customdata[1]}}<br>"
                f"{name} %{{x:.5g}}<br>{score_name} %{{y:.2f}}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[means.loc[model, "value"]],
                y=[means.loc[model, score]],
                mode="markers",
                **entry,
                marker={
                    "color": style.colour,
                    "size": 14,
                    "symbol": MEAN_SYMBOL[0],
                    "line": {"color": "black", "width": 1},
                },
                customdata=[[model]],
                hovertemplate=f"model %{{customdata[0]}} (mean over subsets)<br>"
                f"{name} %{{x:.5g}}<br>{score_name} %{{y:.2f}}<extra></extra>",
            )
        )
    permutation = cell.get("model_permutation", {}).get("p")
    fig.update_layout(
        title=f"{score_name} vs {name}: r = {number(cell['model_level']['pearson_r'])}, "
        f"permutation p = {number(permutation)} ({cell['n_models']} models)",
        xaxis_title=name,
        yaxis_title=score_name,
        template="plotly_white",
        hovermode="closest",
        # The legend lives inside the plot area's height: make room for all of it.
        height=max(SCATTER_HEIGHT, legend_height(styles) + 110),
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"title": {"text": LEGEND_TITLE}, "font": {"size": 11}},
    )
    return fig


def head_grid(attention: pd.DataFrame, model: str) -> pd.DataFrame:
    """``[layers, heads]`` entropy ratio of one model, mean over its subsets (head rows only);
    index the layer, columns the head, both from 1."""
    rows = attention[(attention["model"] == model) & (attention["head"].astype(str) != "mean")]
    rows = rows.assign(head=pd.to_numeric(rows["head"]))
    return rows.pivot_table(index="layer", columns="head", values="entropy_ratio", aggfunc="mean")


def head_grid_figures(run: Run) -> list[tuple[str, go.Figure]]:
    """Per model in panel order, ``(model, figure)`` of its :func:`head_grid`."""
    import plotly.graph_objects as go

    figures = []
    for model in dict.fromkeys(run.attention["model"]):
        grid = head_grid(run.attention, model)
        fig = go.Figure(
            go.Heatmap(
                z=grid.to_numpy(),
                x=[int(h) for h in grid.columns],
                y=[int(layer) for layer in grid.index],
                colorscale="Viridis",
                # One fixed scale for every model: 1 is as spread as uniform attention.
                zmin=0,
                zmax=1,
                colorbar={"thickness": 10, "len": 0.9},
                hovertemplate=f"{model}<br>layer %{{y}}, head %{{x}}<br>"
                f"{label('entropy_ratio')} %{{z:.4f}}<extra></extra>",
            )
        )
        fig.update_layout(
            title={
                "text": f"{shorten(model, GRID_TITLE_WIDTH)}<br><sub>{len(grid.index)} layers x "
                f"{len(grid.columns)} heads</sub>",
                "font": {"size": 12},
            },
            xaxis={"title": "head", "dtick": 1},
            # Layer 1 on top, as in the attention command's figures.
            yaxis={"title": "layer", "dtick": 1, "autorange": "reversed"},
            template="plotly_white",
            height=_GRID_FRAME_PX + _ROW_PX * max(len(grid.index), 4),
            margin={"l": 50, "r": 10, "t": 55, "b": 45},
        )
        figures.append((model, fig))
    return figures


def section(run: Run) -> dict[str, Any] | None:
    """The section's parts for the page, its figures as HTML ``<div>``s that rely on the page's
    one inlined plotly script; ``None`` for a run without attention statistics."""
    import plotly.io as pio

    if not has_attention(run):
        return None

    def div(figure: go.Figure | None, div_id: str, toolbar: bool = True) -> str | None:
        if figure is None:
            return None
        return pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={
                "displaylogo": False,
                "responsive": True,
                **({} if toolbar else {"displayModeBar": False}),
            },
        )

    return {
        "heatmap": div(correlation_heatmap(run), "attention-r"),
        "scatter": div(strongest_scatter(run), "attention-strongest"),
        "grids": [
            # The toolbar would cover a small grid's title; hover still reads every cell.
            div(figure, f"attention-heads-{i}", toolbar=False)
            for i, (_, figure) in enumerate(head_grid_figures(run))
        ],
        "bins": run.correlations["attention"]["bins"],
        "critical": critical_values(run),
    }
