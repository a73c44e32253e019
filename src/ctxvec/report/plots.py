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
from matplotlib.ticker import MaxNLocator

from ctxvec import files

LABELS = {
    "f1": "F1",
    "exact": "EM",
    "best_f1": "best-threshold F1",
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "variance": "Variance",
    "cse": "CSE",
    "self_similarity": "self-similarity",
    "intra_similarity": "intra-sentence similarity",
    "effective_rank": "effective rank",
    "isoscore": "IsoScore",
    "self_similarity_adjusted": "self-similarity - random baseline",
}


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


def plot_correlation_by_layer(
    layers: dict[str, list[dict]],
    score: str,
    out_dir: str | Path,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """``correlation_by_layer.{fmt}``: Pearson r of score vs each metric at each layer.

    Args:
        layers: ``correlations.json``'s ``layers``: per metric, one entry per layer with
            ``subset_level`` and ``model_level`` correlations.
    """
    fig = Figure(figsize=(9.0, 3.8), dpi=150)
    axes = fig.subplots(1, 2, sharey=True)
    colours = colormaps["tab10"]
    for ax, level, title in zip(
        axes, ("model_level", "subset_level"), ("per-model means", "(model, subset) points"),
        strict=True,
    ):  # fmt: skip
        for i, (metric, entries) in enumerate(layers.items()):
            x = [e["layer"] for e in entries]
            y = [e[level]["pearson_r"] for e in entries]
            ax.plot(x, y, marker="o", color=colours(i), label=LABELS.get(metric, metric))
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"r over {title}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"Pearson r with {LABELS.get(score, score)}")
    axes[0].set_ylim(-1.05, 1.05)
    axes[1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    written = []
    for fmt in formats:
        path = Path(out_dir) / f"correlation_by_layer.{fmt}"
        files.write_with(path, functools.partial(fig.savefig, format=fmt))
        written.append(path)
    return written
