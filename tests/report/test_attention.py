"""The report's "Attention against the score", from a real study with ``attention_stats``.

Four tiny random QA models of different depth and width (so the depth bins differ between
them and one bin has too few models) x 2 subsets x 5 examples. The expected numbers are
computed here from ``attention.csv``, ``subsets.csv`` and ``correlations.json`` with pandas and
scipy, not with the report's code; the page is then checked in a real headless Chromium.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from ctxvec import ModelSpec
from ctxvec.metrics.registry import HEAD_STATISTICS, label
from ctxvec.report import load_run, report_html
from ctxvec.report.attention import head_grid
from ctxvec.report.run import Run

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

# (family, name, layers, heads): lower has 3 models, middle and last 4, upper 2 (left out).
PANEL = [
    ("bert", "bert-2L", 2, 2),
    ("roberta", "roberta-3L", 3, 4),
    ("xlnet", "xlnet-4L", 4, 2),
    ("albert", "albert-6L", 6, 2),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model, qa_study) -> Path:
    models = [
        ModelSpec(str(tiny_model(family, "qa", num_layers=layers, num_heads=heads)), name)
        for family, name, layers, heads in PANEL
    ]
    root = tmp_path_factory.mktemp("report_attention")
    return qa_study(root, models, subsets=2, subset_size=5, attention_stats=3)


@pytest.fixture(scope="module")
def run(run_dir: Path) -> Run:
    return load_run(run_dir)


def cells(run_dir: Path) -> dict[str, dict[str, dict]]:
    return json.loads((run_dir / "correlations.json").read_text())["attention"]["statistics"]


def strongest(run_dir: Path) -> tuple[str, str]:
    table = cells(run_dir)
    return max(
        ((s, b) for s in table for b in table[s]),
        key=lambda sb: abs(table[sb[0]][sb[1]]["model_level"]["pearson_r"]),
    )


def expected_points(run_dir: Path, statistic: str, depth_bin: str) -> pd.DataFrame:
    """Per (model, subset): the score and the statistic's mean over the bin's layer means."""
    attention = pd.read_csv(run_dir / "attention.csv", dtype={"head": str})
    subsets = pd.read_csv(run_dir / "subsets.csv")
    layers = attention[(attention["head"] == "mean") & (attention["depth_bin"] == depth_bin)]
    values = layers.groupby(["model", "subset"])[statistic].mean().rename("value")
    return subsets.set_index(["model", "subset"])[["f1"]].join(values, how="inner").reset_index()


def test_the_studys_report_has_the_section(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()  # the study's own report
    assert '<section id="attention-score">' in page and "Attention against the score" in page
    assert '<a href="#attention-score">' in page
    for div in ("attention-r", "attention-strongest", *(f"attention-heads-{i}" for i in range(4))):
        assert f'id="{div}"' in page
    assert "Jain &amp; Wallace 2019" in page and "docs/attention.md" in page
    assert "needs |r| &gt; 0.95 with 4 models and |r| &gt; 1.00 with 3 models" in page


def test_the_section_fetches_nothing_and_shares_the_plotly_script(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?https?:""", page)
    assert page.count("plotly.js v") <= 1  # the page's one plotly script serves these figures


def test_no_section_without_attention_statistics(run: Run) -> None:
    without = report_html(dataclasses.replace(run, attention=None))
    assert "attention-score" not in without and "Attention against the score" not in without


def test_no_section_without_their_correlations(run: Run) -> None:
    # A table without its correlations (an edited folder) is not half drawn either.
    correlations = {k: v for k, v in run.correlations.items() if k != "attention"}
    assert "attention-score" not in report_html(dataclasses.replace(run, correlations=correlations))


def test_the_points_are_the_tables(run_dir: Path, run: Run) -> None:
    statistic, depth_bin = strongest(run_dir)
    points = expected_points(run_dir, statistic, depth_bin)
    means = points.groupby("model")[["f1", "value"]].mean()
    cell = cells(run_dir)[statistic][depth_bin]
    # The points behind the plot are the points behind the study's r.
    assert stats.pearsonr(means["value"], means["f1"])[0] == pytest.approx(
        cell["model_level"]["pearson_r"]
    )
    assert cell["n_models"] == len(means)
    assert "upper" not in cells(run_dir)["entropy"]  # 2 models have an upper layer
    attention = pd.read_csv(run_dir / "attention.csv", dtype={"head": str})
    for _, name, layers, heads in PANEL:
        rows = attention[(attention["model"] == name) & (attention["head"] != "mean")]
        expected = rows.groupby(["layer", "head"])["entropy_ratio"].mean()
        grid = head_grid(run.attention, name)
        assert grid.shape == (layers, heads)
        for (layer, head), value in expected.items():
            assert grid.loc[layer, int(head)] == pytest.approx(value)


# ------------------------------------------------------------------ real browser


def open_section(browser, run_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get((run_dir / "report.html").as_uri())
    section = browser.find_element(By.ID, "attention-score")
    assert section.is_displayed()
    assert section.find_element(By.TAG_NAME, "h2").text == "Attention against the score"


def plot_area(browser, plot) -> Callable[[float, float], tuple[float, float]]:
    """Scroll ``plot`` into view; the map from its data coordinates (a category's index on a
    category axis) to the viewport's pixels, from the axes' ranges and the plot area's box."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    box = browser.execute_script(
        """const p = arguments[0], r = p.querySelector('rect.nsewdrag').getBoundingClientRect();
        return {x: p.layout.xaxis.range, y: p.layout.yaxis.range, left: r.left,
                top: r.top, width: r.width, height: r.height};""",
        plot,
    )

    def pixel(x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = box["x"], box["y"]
        return (
            box["left"] + (x - x0) / (x1 - x0) * box["width"],
            box["top"] + (y1 - y) / (y1 - y0) * box["height"],
        )

    return pixel


def hover_lines(browser, plot, x: float, y: float) -> list[str]:
    """Move the mouse to viewport pixel (x, y) over ``plot``; the hover label's lines."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def move_to(x: float, y: float) -> None:
        actions = ActionBuilder(browser)
        actions.pointer_action.move_to_location(round(x), round(y))
        actions.perform()

    # Away first (to the viewport's corner, which scrolls nothing, so pixels stay right): the
    # label read is then this point's, not the last one's.
    move_to(1, 1)
    WebDriverWait(browser, 10).until(
        lambda _: not plot.find_elements(By.CSS_SELECTOR, "g.hovertext")
    )
    move_to(x, y)
    hover = WebDriverWait(browser, 10).until(
        lambda _: plot.find_elements(By.CSS_SELECTOR, "g.hovertext")
    )[0]
    return browser.execute_script(
        "return [...arguments[0].querySelectorAll('tspan.line')].map(t => t.textContent)", hover
    )


def test_heatmap_cells_are_the_model_level_r(run_dir: Path, browser) -> None:
    from selenium.webdriver.common.by import By

    open_section(browser, run_dir)
    trace = browser.execute_script(
        "const t = document.getElementById('attention-r').data[0];"
        "return {z: t.z, x: t.x, y: t.y, text: t.text};"
    )
    table = cells(run_dir)
    names = {label(stat): stat for stat in HEAD_STATISTICS}
    assert [names[row] for row in trace["y"]] == list(table)
    assert trace["x"] == ["lower", "middle", "upper", "last"]
    for (i, row), (j, depth_bin) in itertools.product(enumerate(trace["y"]), enumerate(trace["x"])):
        cell = table[names[row]].get(depth_bin)
        if cell is None:
            assert trace["z"][i][j] is None and trace["text"][i][j] == ""
            continue
        r = cell["model_level"]["pearson_r"]
        assert trace["z"][i][j] == pytest.approx(r)
        assert trace["text"][i][j] == f"r={r:.2f}<br>perm p={cell['model_permutation']['p']:.2f}"
    # The strongest cell's hover label: where it is, r with its interval, rho, p, n.
    statistic, depth_bin = strongest(run_dir)
    cell = table[statistic][depth_bin]
    plot = browser.find_element(By.ID, "attention-r")
    pixel = plot_area(browser, plot)
    lines = hover_lines(
        browser, plot, *pixel(trace["x"].index(depth_bin), trace["y"].index(label(statistic)))
    )
    model = cell["model_level"]
    low, high = model["pearson_ci_low"], model["pearson_ci_high"]
    interval = "n/a" if low is None else f"[{low:.2f}, {high:.2f}]"  # none with 3 models
    assert lines == [
        f"{label(statistic)}, {depth_bin} layers",
        f"r {model['pearson_r']:.2f}, 95% CI {interval}",
        f"Spearman rho {model['spearman_rho']:.2f}",
        f"permutation p {cell['model_permutation']['p']:.2f}",
        f"{cell['n_models']} models",
    ]


def test_hovering_each_scatter_point_names_its_model(run_dir: Path, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    statistic, depth_bin = strongest(run_dir)
    points = expected_points(run_dir, statistic, depth_bin)
    means = points.groupby("model", as_index=False)[["f1", "value"]].mean()
    targets = [(m.model, None, m.value, m.f1) for m in means.itertuples()] + [
        (p.model, p.subset, p.value, p.f1) for p in points.itertuples()
    ]
    open_section(browser, run_dir)
    plot = browser.find_element(By.ID, "attention-strongest")
    title = browser.execute_script("return arguments[0].layout.title.text", plot)
    assert label(statistic) in title and f"{depth_bin} layers" in title
    pixel = plot_area(browser, plot)
    checked = []
    for model, subset, x, y in targets:
        px, py = pixel(x, y)
        # Where another model's point lies under the cursor, either could be named.
        if any(
            math.dist((px, py), pixel(ox, oy)) < 20
            for other, _, ox, oy in targets
            if other != model
        ):
            continue
        lines = hover_lines(browser, plot, px, py)
        named = re.match(r"model (\S+)", lines[0])
        assert named and named[1] == model, (model, subset, lines)
        if subset is None:
            assert "mean over subsets" in lines[0]
        else:
            assert lines[1] == f"subset {subset}"
        checked.append((model, subset))
    # Every model's mean was told apart and named; most subset points too.
    assert {m for m, s in checked if s is None} == set(means["model"])
    assert len(checked) >= len(targets) // 2
    plot.screenshot(str(tmp_path / "strongest.png"))
    grids = browser.find_elements(By.CSS_SELECTOR, "#attention-score .grids .plotly-graph-div")
    assert len(grids) == len(PANEL) and all(g.is_displayed() for g in grids)
