"""Scatter plots of task score against context-vector metrics, one point per (model, subset).

Points are coloured by model, with each model's mean drawn as a larger outlined marker, so the
reader sees both the within-model spread and the across-model trend the correlation is about.
Figures are written as PNG and SVG, atomically. Attention figures live elsewhere.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ctxvec import files

LABELS = {"f1": "F1", "variance": "Variance", "cse": "CSE"}


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
        points: one row per (model, subset) with ``model``, ``score`` and the metric columns.
    """
    out_dir = Path(out_dir)
    written = []
    models = list(dict.fromkeys(points["model"]))
    colours = colormaps["tab10" if len(models) <= 10 else "tab20"]
    for metric in metrics:
        # A bare Figure needs no pyplot backend, so notebooks keep theirs.
        fig = Figure(figsize=(5.5, 4.2), dpi=150)
        ax = fig.subplots()
        for i, model in enumerate(models):
            rows = points[points["model"] == model]
            colour = colours(i % colours.N)
            ax.scatter(rows[metric], rows[score], color=colour, label=model, s=28, alpha=0.8)
            ax.scatter(
                rows[metric].mean(),
                rows[score].mean(),
                color=colour,
                s=110,
                marker="D",
                edgecolors="black",
                linewidths=0.8,
            )
        ax.set_xlabel(LABELS.get(metric, metric))
        ax.set_ylabel(LABELS.get(score, score))
        ax.set_title(
            f"{title}: {LABELS.get(score, score)} vs {LABELS.get(metric, metric)}"
            if title
            else None
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", title="model (diamond: mean)", title_fontsize=7)
        fig.tight_layout()
        for fmt in formats:
            path = out_dir / f"{score}_vs_{metric}.{fmt}"
            files.write_with(path, functools.partial(fig.savefig, format=fmt))
            written.append(path)
    return written
