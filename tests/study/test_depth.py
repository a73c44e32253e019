"""Layers of models of different depth are compared by relative depth, not by index.

A real study of three 2-layer and three 6-layer tiny QA models (2 subsets of 4 questions,
``--layers all``): the correlations over depth are recomputed here from ``layers.csv`` with
pandas and scipy at relative depths 0, 1/2 and 1, and must be the points of ``correlations.json``
and of the depth figure. The grid rule and the figure's axis are also checked on tables and
entries made up here, without models.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from sample_data import squad_json
from scipy import stats

from ctxvec import ModelSpec, QASettings, StudyConfig, run_study
from ctxvec.inference.measured import N_LAYERS, model_depth
from ctxvec.metrics.registry import LAYER_METRICS, label
from ctxvec.report import interactive, plots
from ctxvec.report.figures import depth
from ctxvec.study.tables import depth_grid, layer_correlations, model_layers

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

# (family, layers): three of each depth, families mixed so that scores differ between models.
PANEL = [(f, n) for n in (2, 6) for f in ("bert", "roberta", "electra")]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, tiny_model) -> Path:
    root = tmp_path_factory.mktemp("depth")
    models = tuple(
        ModelSpec(str(tiny_model(family, "qa", num_layers=n)), f"{family}-{n}L")
        for family, n in PANEL
    )
    config = StudyConfig(
        task="qa",
        models=models,
        data=str(squad_json(root / "dev.json")),
        subsets=2,
        subset_size=4,
        settings=QASettings(batch_size=8, layers="all"),
        device="cpu",
        dtype="float32",
    )
    run_study(config, root / "out", progress=False, log=lambda *_: None)
    return root / "out"


def by_hand(layers: pd.DataFrame, at: float, metric: str) -> tuple[float, float]:
    """Model-level and subset-level Pearson r of f1 with ``metric`` at relative depth ``at``."""
    points = layers[layers["depth"] == at]
    assert points["model"].nunique() == 6
    means = points.groupby("model")[["f1", metric]].mean()
    return (
        stats.pearsonr(means["f1"], means[metric]).statistic,
        stats.pearsonr(points["f1"], points[metric]).statistic,
    )


def test_layers_table_has_each_models_index_and_relative_depth(mixed) -> None:
    layers = pd.read_csv(mixed / "layers.csv")
    for (family, n), (model, rows) in zip(PANEL, layers.groupby("model", sort=False), strict=True):
        assert model == f"{family}-{n}L"
        assert sorted(set(rows["layer"])) == list(range(n + 1))
        assert (rows["n_layers"] == n).all()
        assert list(rows["depth"]) == [layer / n for layer in rows["layer"]]


def test_depth_curve_points_are_the_correlations_at_shared_relative_depths(mixed) -> None:
    layers = pd.read_csv(mixed / "layers.csv")
    correlations = json.loads((mixed / "correlations.json").read_text())["layers"]
    spec = depth(correlations, "f1")
    assert spec is not None and spec.axis == "relative depth"
    curves = {(c.metric, c.what): c for c in spec.curves}
    for metric in LAYER_METRICS:
        entries = correlations[metric]
        assert [e["depth"] for e in entries] == [0.0, 0.5, 1.0]
        assert [e["layer"] for e in entries] == [0, None, None]
        assert {e["n_models"] for e in entries} == {6}
        expected = [by_hand(layers, at, metric) for at in (0.0, 0.5, 1.0)]
        model_r = [m for m, _ in expected]
        subset_r = [s for _, s in expected]
        assert [e["model_level"]["pearson_r"] for e in entries] == pytest.approx(model_r)
        assert [e["subset_level"]["pearson_r"] for e in entries] == pytest.approx(subset_r)
        models, subsets = curves[label(metric), "models"], curves[label(metric), "subsets"]
        assert models.x == subsets.x == (0.0, 0.5, 1.0)
        assert list(models.r) == pytest.approx(model_r)
        assert list(subsets.r) == pytest.approx(subset_r)


def test_the_figures_say_they_are_over_relative_depth(mixed) -> None:
    axis = "relative depth (0 = embeddings, 1 = last layer)"
    assert axis in (mixed / "correlation_by_layer.svg").read_text()
    assert axis in (mixed / "report.html").read_text()


def test_a_models_layers_are_the_depth_the_pass_counts(tiny_lm) -> None:
    """layers.csv's n_layers is the measured stack's depth as the forward pass counts it,
    carried in the unit's state whatever layers were measured."""
    depth = model_depth(tiny_lm("bert", "qa", num_layers=6))
    assert depth == 6
    result = SimpleNamespace(summary=SimpleNamespace(state={N_LAYERS: depth}, layers=[0, 1]))
    assert model_layers(result) == 6


# ------------------------------------------------------------------- without models


def table(panel: dict[str, int], subsets: int = 2) -> pd.DataFrame:
    """A ``layers.csv`` of models with ``panel[model]`` layers, every layer measured, made-up
    scores and metrics that differ between models, subsets and layers."""
    rows = []
    for i, (model, n) in enumerate(panel.items()):
        for subset in range(subsets):
            for layer in range(n + 1):
                row = {"model": model, "subset": subset, "layer": layer, "n_layers": n}
                row["depth"] = layer / n
                row["f1"] = 40.0 + 7 * i + subset
                for j, metric in enumerate(LAYER_METRICS):
                    row[metric] = ((i * 7 + subset * 3 + layer * 5 + j) % 11) / 10
                rows.append(row)
    return pd.DataFrame(rows)


def test_grid_of_a_mixed_panel_is_the_depths_every_model_has() -> None:
    assert depth_grid(table({"a": 2, "b": 2, "c": 6, "d": 6})) == [
        (0.0, 0),
        (0.5, None),
        (1.0, None),
    ]
    assert depth_grid(table({"a": 6, "b": 12, "c": 4})) == [(0.0, 0), (0.5, None), (1.0, None)]
    grid = depth_grid(table({"a": 6, "b": 12, "c": 3}))
    assert grid == [(0.0, 0), (1 / 3, None), (2 / 3, None), (1.0, None)]


def test_grid_of_a_panel_of_one_depth_is_every_layer() -> None:
    assert depth_grid(table({"a": 3, "b": 3, "c": 3})) == [(k / 3, k) for k in range(4)]


def test_layer_correlations_of_a_mixed_panel() -> None:
    layers = table({"a": 2, "b": 2, "c": 2, "d": 6, "e": 6})
    entries = layer_correlations(layers, "f1")["cse"]
    assert [(e["depth"], e["layer"], e["n_models"]) for e in entries] == [
        (0.0, 0, 5),
        (0.5, None, 5),
        (1.0, None, 5),
    ]
    for entry in entries:
        points = layers[layers["depth"] == entry["depth"]]
        means = points.groupby("model")[["f1", "cse"]].mean()
        r = stats.pearsonr(means["f1"], means["cse"]).statistic
        assert entry["model_level"]["pearson_r"] == pytest.approx(r)


def test_depths_too_few_models_have_are_left_out() -> None:
    # Two 2-layer models and one 6-layer one: every depth they share has 3 models; a panel of
    # one depth keeps the old rule per layer (layers of fewer than 3 models left out).
    assert len(layer_correlations(table({"a": 2, "b": 2, "c": 6}), "f1")["cse"]) == 3
    assert layer_correlations(table({"a": 2, "b": 6}), "f1") == {}
    layers = table({"a": 2, "b": 2, "c": 2})
    shallow = layers[~((layers["model"] == "c") & (layers["layer"] == 2))]
    entries = layer_correlations(shallow, "f1")["cse"]
    assert [(e["depth"], e["layer"]) for e in entries] == [(0.0, 0), (0.5, 1)]


def entries(x: list[float], layers: list[int | None]) -> dict[str, list[dict]]:
    return {
        metric: [
            {"depth": d, "layer": layer, "n_models": 6,
             "model_level": {"pearson_r": 0.3 * d - k}, "subset_level": {"pearson_r": 0.1 * k}}
            for d, layer in zip(x, layers, strict=True)
        ]
        for k, metric in enumerate(("variance", "cse"))
    }  # fmt: skip


def axes(spec) -> list[list]:
    """The x ticks and their texts, in the static figure and in the interactive one."""
    static = plots.depth_figure(spec).axes[0]
    figure = interactive.depth_figure(spec)
    return [
        list(static.get_xticks()),
        [t.get_text() for t in static.get_xticklabels()],
        list(figure.layout.xaxis.tickvals),
        list(figure.layout.xaxis.ticktext),
    ]


def test_figure_of_a_mixed_panel_is_over_relative_depth() -> None:
    spec = depth(entries([0.0, 0.5, 1.0], [0, None, None]), "f1")
    assert spec.axis == "relative depth"
    assert spec.x_label == "relative depth (0 = embeddings, 1 = last layer)"
    assert "over relative depth" in spec.title
    assert spec.ticks == (0.0, 0.5, 1.0) and spec.tick_labels == ("0", "1/2", "1")
    assert axes(spec) == [[0.0, 0.5, 1.0], ["0", "1/2", "1"]] * 2
    assert all(c.x == (0.0, 0.5, 1.0) for c in spec.curves)
    static = plots.depth_figure(spec).axes[0]
    assert static.get_xlabel() == spec.x_label
    assert interactive.depth_figure(spec).layout.xaxis.title.text == spec.x_label


def test_figure_of_a_panel_of_one_depth_is_over_whole_layers() -> None:
    spec = depth(entries([0.0, 0.5, 1.0], [0, 1, 2]), "f1")
    assert spec.axis == "layer" and spec.x_label == "layer (0 = embeddings)"
    assert "by layer" in spec.title
    assert axes(spec) == [[0, 1, 2], ["0", "1", "2"]] * 2
    assert all(c.x == (0, 1, 2) for c in spec.curves)


def test_many_relative_depths_get_thinned_ticks() -> None:
    grid = [k / 24 for k in range(25)]
    spec = depth(entries(grid, [0] + [None] * 24), "f1")
    assert spec.ticks == tuple(grid[::2])
    assert spec.tick_labels[:4] == ("0", "1/12", "1/6", "1/4") and spec.tick_labels[-1] == "1"
