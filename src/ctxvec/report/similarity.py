"""The report's "Cross-model similarity", from ``similarity.csv`` and ``correlations.json``.

Drawn from the run folder alone (:attr:`Run.similarity` and the ``"similarity"`` block of
:mod:`ctxvec.study.similarity`):

* a heatmap per measure shown (linear CKA, mutual k-NN) of the model x model matrix, means over
  subsets, models in panel order, on the fixed scale [0, 1], every cell annotated
  (:func:`~ctxvec.report.figures.similarity_matrix`);
* the score against each model's linear CKA with the best model, its (model, subset) points and
  its mean (:func:`~ctxvec.report.figures.scatter`), titled with the r, 95% CI and permutation p
  the study computed;
* a table of that correlation for every measure.

The statistics are read, never recomputed; the only arithmetic is picking the rows of
``similarity.csv`` that pair the best model with another, the points behind the study's means.
Left out: the unbiased CKA's heatmap (it is in the table and the CSV) and any static file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ctxvec.metrics.registry import SIMILARITY, label
from ctxvec.report.figures import scatter, similarity_matrix
from ctxvec.report.interactive import matrix_figure, scatter_figure
from ctxvec.report.numbers import interval, number, p_value
from ctxvec.report.run import Run

# The measures drawn as heatmaps, and the one the scatter plot shows.
HEATMAPS = ("cka", "mutual_knn")
SCATTER_MEASURE = "cka"


def has_similarity(run: Run) -> bool:
    """Whether the run compared models: ``similarity.csv`` rows and their block."""
    return (
        run.similarity is not None and len(run.similarity) > 0 and "similarity" in run.correlations
    )


def alignment_points(run: Run, measure: str) -> pd.DataFrame:
    """Per (model, subset) of every model but the best: ``model``, ``subset``, the score and
    ``measure``, the model's similarity with the best model on that subset."""
    best = run.correlations["similarity"]["best"]
    pairs = run.similarity[
        (run.similarity["model_a"] == best) | (run.similarity["model_b"] == best)
    ]
    other = pairs["model_b"].where(pairs["model_a"] == best, pairs["model_a"])
    values = pd.DataFrame({"model": other, "subset": pairs["subset"], measure: pairs[measure]})
    return run.subsets[["model", "subset", run.score]].merge(values, on=["model", "subset"])


def correlation_text(block: dict[str, Any], measure: str) -> str:
    """``r = 0.42 [-0.1, 0.8], permutation p = 0.210 (5 models)`` of a measure's alignment."""
    r, test = block["correlation"][measure], block["model_permutation"][measure]
    band = interval(r["pearson_ci_low"], r["pearson_ci_high"])
    return (
        f"r = {number(r['pearson_r'])}{f' {band}' if band else ''}, permutation p = "
        f"{p_value(test['p'])} ({r['n']} models)"
    )


def correlation_frame(run: Run) -> pd.DataFrame:
    """One row per measure: the alignment with the best model against the score."""
    block = run.correlations["similarity"]
    rows = []
    for measure in SIMILARITY:
        r = block["correlation"][measure]
        rows.append(
            {
                "alignment with the best model": label(measure),
                "models": r["n"],
                "pearson r": number(r["pearson_r"]),
                "95% CI": interval(r["pearson_ci_low"], r["pearson_ci_high"]),
                "permutation p": p_value(block["model_permutation"][measure]["p"]),
                "spearman rho": number(r["spearman_rho"]),
            }
        )
    return pd.DataFrame(rows)


def section(run: Run) -> dict[str, Any] | None:
    """The section's parts for the page, its figures as HTML ``<div>``s that rely on the page's
    one inlined plotly script; ``None`` for a run that compared no models."""
    import plotly.io as pio

    if not has_similarity(run):
        return None
    block = run.correlations["similarity"]

    def div(figure: Any, div_id: str) -> str:
        return pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )

    matrices = [
        div(
            matrix_figure(similarity_matrix(block["models"], block["matrix"][m], m)),
            f"similarity-{m}",
        )
        for m in HEATMAPS
    ]
    spec = scatter(alignment_points(run, SCATTER_MEASURE), run.score, SCATTER_MEASURE)
    spec = replace(
        spec,
        title=f"{label(run.score)} vs {label(SCATTER_MEASURE)} with {block['best']}: "
        f"{correlation_text(block, SCATTER_MEASURE)}",
        x_label=f"{label(SCATTER_MEASURE)} with {block['best']}",
    )
    return {
        "matrices": matrices,
        "scatter": div(scatter_figure(spec), "similarity-alignment"),
        "table": correlation_frame(run).to_html(index=False),
        "best": block["best"],
        "k": block["k"],
        "note": block["note"],
        "n_models": len(block["models"]),
    }
