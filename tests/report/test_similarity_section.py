"""The report's "Cross-model similarity" section, drawn from a run folder alone.

A synthetic run folder gets a ``similarity.csv`` of made-up values and the study's block of
them (:func:`ctxvec.study.similarity.similarity_block`); the page must show the matrix's models,
its cells on the fixed [0, 1] scale, and the correlation the block holds, and a run without
``similarity.csv`` has no such section.
"""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest

from ctxvec import files
from ctxvec.report import load_run, report_html
from ctxvec.report.numbers import number
from ctxvec.report.similarity import alignment_points
from ctxvec.study.similarity import similarity_block

MODELS = ["alpha-model", "beta-model", "gamma-model", "delta-model", "eps-model"]


def with_similarity(run_dir, run):
    rng = np.random.default_rng(1)
    rows = [
        {"model_a": a, "model_b": b, "subset": s, "n": 100, "k": 10,
         "cka": rng.uniform(), "cka_unbiased": rng.uniform(), "mutual_knn": rng.uniform()}
        for s in run.subsets["subset"].unique()
        for a, b in itertools.combinations(MODELS, 2)
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    files.write_csv(run_dir / "similarity.csv", table)
    correlations = dict(
        run.correlations, similarity=similarity_block(table, run.subsets, run.score)
    )
    files.write_json(run_dir / "correlations.json", correlations)
    return load_run(run_dir)


def test_the_section_shows_the_matrix_and_the_alignment_correlation(
    tmp_path, synthetic_run
) -> None:
    run = with_similarity(tmp_path, synthetic_run(tmp_path, MODELS))
    block = run.correlations["similarity"]
    html = report_html(run)
    section = html[html.index('<section id="similarity">') :]
    section = section[: section.index("</section>")]
    for model in MODELS:
        assert model in section
    r = block["correlation"]["cka"]["pearson_r"]
    assert f"r = {number(r)}" in section  # the scatter's title
    assert number(r) in re.sub(r"<[^>]+>", " ", section.split("<table")[1])  # the table
    assert f"<b>{block['best']}</b>" in section
    heatmap = json.loads(
        re.search(r'Plotly.newPlot\(\s*"similarity-cka",\s*(\[.*?\]),\s*\{', section, re.S).group(1)
    )[0]
    assert (heatmap["zmin"], heatmap["zmax"]) == (0, 1)
    assert heatmap["x"] == MODELS and heatmap["z"] == block["matrix"]["cka"]
    assert '<a href="#similarity">' in html


def test_the_scatter_points_are_the_rows_with_the_best_model(tmp_path, synthetic_run) -> None:
    run = with_similarity(tmp_path, synthetic_run(tmp_path, MODELS))
    best = run.correlations["similarity"]["best"]
    points = alignment_points(run, "cka")
    assert best not in set(points["model"]) and len(points) == 4 * run.subsets["subset"].nunique()
    means = points.groupby("model")["cka"].mean()
    assert means.to_dict() == pytest.approx(run.correlations["similarity"]["alignment"]["cka"])


def test_a_run_without_similarity_has_no_section(tmp_path, synthetic_run) -> None:
    html = report_html(synthetic_run(tmp_path, MODELS))
    assert 'id="similarity"' not in html
