"""The static files and the report draw each model alike: the same colour, the same marker.

A run folder is written (made-up numbers) for a zoo-like panel whose families interleave in
panel order, and for a hub panel of twelve models (past one round of ten colours). Its score
against Variance is written as a study writes it (PNG and SVG) and ``report.html`` is built.
Each model's colour is then read from the report's plotly data, from the SVG (the model's
marks, found by their ids) and from the PNG (the pixels at the centres of the model's marks);
all three must agree. The depth figure's renderers must show the same integer layer ticks and
curve colours.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from ctxvec.report import interactive, plots, write_report
from ctxvec.report.figures import depth, layer_ticks

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"
ZOO = ["bert-step200", "roberta-step10", "bert-step10", "roberta-step200"]
HUB = [f"org-{i}/model-{i}" for i in range(12)]


def report_traces(page: str, div_id: str) -> list[dict]:
    """The plotly traces of the figure ``div_id`` as the page holds them."""
    start = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*', page).end()
    traces, _ = json.JSONDecoder().raw_decode(page, start)
    return traces


def svg_marks(svg: Path) -> dict[str, list[tuple[float, float, str, str]]]:
    """Per model, its marks in the SVG: ``(x, y, fill, shape)``; the shape is ``points:`` or
    ``mean:`` and the marker's path."""
    root = ET.parse(svg).getroot()
    paths = {p.get("id"): p.get("d") for p in root.iter(f"{SVG}path") if p.get("id")}
    marks: dict[str, list[tuple[float, float, str, str]]] = {}
    for group in root.iter(f"{SVG}g"):
        kind, _, model = (group.get("id") or "").partition(" ")
        if kind not in ("points", "mean"):
            continue
        for use in group.iter(f"{SVG}use"):
            fill = re.search(r"fill: (#[0-9a-f]{6})", use.get("style")).group(1)
            shape = f"{kind}:{paths[use.get(XLINK)[1:]]}"
            marks.setdefault(model, []).append(
                (float(use.get("x")), float(use.get("y")), fill, shape)
            )
    return marks


def png_colour(image: Image.Image, x: float, y: float) -> str:
    """The most common colour of the 5 x 5 pixels around (x, y): a mark's fill at its centre,
    whatever the rounding to pixels."""
    pixels = Counter(
        image.getpixel((round(x) + dx, round(y) + dy)) for dx in range(-2, 3) for dy in range(-2, 3)
    )
    return "#{:02x}{:02x}{:02x}".format(*pixels.most_common(1)[0][0])


@pytest.mark.parametrize("names", [ZOO, HUB], ids=["zoo", "hub"])
def test_files_and_report_colour_each_model_alike(
    tmp_path: Path, synthetic_run, names: list[str]
) -> None:
    run = synthetic_run(tmp_path / "run", names)
    # What a study writes (study/run.py), then the report.
    written = plots.plot_score_vs_metrics(run.subsets, run.score, ["variance"], run.path, "QA")
    assert {p.name for p in written} == {
        f"{run.score}_vs_variance.png",
        f"{run.score}_vs_variance.svg",
    }
    page = write_report(run).read_text()

    report = {}
    for trace in report_traces(page, "scatter-variance"):
        (model,) = {row[0] for row in trace["customdata"]}
        report[model] = (trace["marker"]["color"], trace["marker"]["symbol"][0])
    assert sorted(report) == sorted(names)
    assert len({colour for colour, _ in report.values()}) == len(names)

    marks = svg_marks(tmp_path / "run" / f"{run.score}_vs_variance.svg")
    assert sorted(marks) == sorted(names)
    svg = ET.parse(tmp_path / "run" / f"{run.score}_vs_variance.svg").getroot()
    image = Image.open(written[0]).convert("RGB")
    # One layout in both files: a point of the SVG is ``scale`` pixels of the PNG.
    scale = image.width / float(svg.get("width").removesuffix("pt"))
    assert image.height == pytest.approx(float(svg.get("height").removesuffix("pt")) * scale, abs=1)
    shapes: dict[str, set[str]] = {}
    for model, (colour, symbol) in report.items():
        assert {fill for _, _, fill, _ in marks[model]} == {colour}, model
        centres = [png_colour(image, x * scale, y * scale) for x, y, _, _ in marks[model]]
        # A mark may lie under another model's: most centres show the model's own colour.
        assert centres.count(colour) > len(centres) / 2, (model, colour, centres)
        points = {shape for _, _, _, shape in marks[model] if shape.startswith("points:")}
        assert len(points) == 1, model  # one marker for all of a model's points
        shapes.setdefault(symbol, set()).update(points)
    # The report's markers and the file's are one-to-one: a symbol is one shape, and back.
    assert all(len(s) == 1 for s in shapes.values())
    assert len(set().union(*shapes.values())) == len(shapes)


def test_depth_ticks_are_whole_layers_in_both_renderers() -> None:
    layers = {
        metric: [
            {"layer": layer, "model_level": {"pearson_r": 0.3 * layer - k},
             "subset_level": {"pearson_r": None if layer == 1 else 0.1 * k}}
            for layer in range(3)
        ]
        for k, metric in enumerate(("variance", "cse"))
    }  # fmt: skip
    spec = depth(layers, "f1")
    static = plots.depth_figure(spec).axes[0]
    figure = interactive.depth_figure(spec)
    # A 2-layer model: no 0.5 or 1.5 on either axis.
    assert list(static.get_xticks()) == [0, 1, 2]
    assert list(figure.layout.xaxis.tickvals) == [0, 1, 2]
    curves = [line for line in static.get_lines() if not line.get_label().startswith("_")]
    assert [(c.get_label(), c.get_color()) for c in curves] == [
        (t.name, t.line.color) for t in figure.data
    ]
    assert [c.get_linestyle() for c in curves] == ["-", ":", "-", ":"]
    assert [t.line.dash for t in figure.data] == ["solid", "dot", "solid", "dot"]
    assert layer_ticks(0, 24) == tuple(range(0, 25, 2))
    assert layer_ticks(3, 100) == tuple(range(10, 101, 10))
