"""Figure legends for large panels: distinct looks per checkpoint, and legends that fit.

A synthetic run of 30 checkpoints (a zoo's ``family-stepN`` names, and hub ids) is written as a
run folder and drawn; the report is then opened in a real headless Chromium to measure where
the legend lies.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_data import ZOO_30

from ctxvec.report import write_report
from ctxvec.report.figures import scatter
from ctxvec.report.interactive import scatter_figure
from ctxvec.report.plots import scatter_png
from ctxvec.report.run import Run
from ctxvec.report.styles import model_styles, shorten, split_step

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory, synthetic_run) -> Run:
    return synthetic_run(tmp_path_factory.mktemp("legend") / "run", ZOO_30)


def test_names_split_into_family_and_step() -> None:
    assert split_step("bert-step10") == ("bert", 10)
    assert split_step("minilm-step120") == ("minilm", 120)
    assert split_step("deberta-v2-step300") == ("deberta-v2", 300)
    assert split_step("run1/checkpoint-500") == ("run1", 500)
    assert split_step("deepset/roberta-base-squad2") == ("deepset/roberta-base-squad2", None)
    assert shorten("sentence-transformers/all-MiniLM-L6-v2", 20) == "sentence-..iLM-L6-v2"
    assert len(shorten("x" * 50, 20)) == 20 and shorten("short", 20) == "short"


def test_a_zoo_is_grouped_by_family_with_a_look_per_step() -> None:
    styles = model_styles(ZOO_30)
    assert len({(s.colour, s.symbol) for s in styles.values()}) == 30
    assert len({s.colour for s in styles.values()}) == 30  # every checkpoint its own shade
    bert = [styles[f"bert-step{k}"] for k in (10, 20, 100, 300)]
    assert {s.group for s in bert} == {"bert"}
    assert [s.label for s in bert] == ["step 10", "step 20", "step 100", "step 300"]
    assert len({s.symbol for s in bert}) == 4  # a marker per step inside the family
    # Later steps are darker shades of one hue: lightness falls with the step.
    lightness = [sum(int(s.colour[i : i + 2], 16) for i in (1, 3, 5)) for s in bert]
    assert lightness == sorted(lightness, reverse=True)
    # The families' full colours are all different.
    finals = {styles[f"{f}-step300"].colour for f in ("bert", "roberta", "albert", "electra",
                                                       "deberta", "xlnet", "minilm")}  # fmt: skip
    assert len(finals) == 7
    hub = styles["sentence-transformers/all-MiniLM-L6-v2"]
    assert hub.group is None and hub.step is None and len(hub.label) <= 28


def test_odd_zoo_names_stay_apart() -> None:
    # A final model without a step, a step two names share, families that shorten alike.
    long = "a-family-name-much-longer-than-a-legend-"
    names = ["bert-step10", "bert", "bert_step10", f"{long}x-step1", f"{long}x-step2",
             f"{long}y-step1", f"{long}y-step2"]  # fmt: skip
    styles = model_styles(names)
    assert len({(s.colour, s.symbol) for s in styles.values()}) == len(names)
    assert styles["bert"].label == "bert" and styles["bert"].colour == "#1f77b4"  # full colour
    assert styles["bert-step10"].label == "bert-step10"  # "step 10" would name two
    fig_groups = {(s.family, s.group) for s in styles.values()}
    assert len({f for f, _ in fig_groups}) == 3


def test_a_panel_without_steps_never_repeats_a_look() -> None:
    names = [f"organisation-{i}/a-rather-long-model-name-{i}" for i in range(30)]
    styles = model_styles(names)
    assert len({s.colour for s in styles.values()}) == 30
    assert len({(s.colour, s.symbol) for s in styles.values()}) == 30
    assert len({s.label for s in styles.values()}) == 30  # shortened, still told apart


def test_plotly_legend_is_grouped_and_the_figure_holds_it(zoo_run: Run) -> None:
    fig = scatter_figure(scatter(zoo_run.subsets, zoo_run.score, "variance"))
    assert len(fig.data) == 30  # one trace per checkpoint, its mean included
    titles = [t.legendgrouptitle.text for t in fig.data if t.legendgrouptitle.text]
    assert titles == ["bert", "roberta", "albert", "electra", "deberta", "xlnet", "minilm"]
    assert fig.layout.legend.x >= 1.0  # beside the plot, never over it
    # 30 entries, 7 group titles and the legend's title: the figure is tall enough.
    assert fig.layout.height >= 20 * 31 + 19 * 7
    colours = {(t.marker.color, t.marker.symbol[0]) for t in fig.data}
    assert len(colours) == 30


def test_static_scatter_is_a_small_png(zoo_run: Run) -> None:
    png = scatter_png(scatter(zoo_run.subsets, zoo_run.score, "variance"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 200_000


# ------------------------------------------------------------------ real browser


def test_legend_fits_in_chromium(zoo_run: Run, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    write_report(zoo_run)
    browser.get((zoo_run.path / "report.html").as_uri())
    plot = browser.find_element(By.ID, "scatter-variance")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", plot)
    box = browser.execute_script(
        """const p = arguments[0], r = (e) => e.getBoundingClientRect();
        const legend = p.querySelector('g.legend'), svg = p.querySelector('svg.main-svg');
        const area = p.querySelector('g.cartesianlayer .bg, rect.nsewdrag');
        return {legend: r(legend).toJSON(), svg: r(svg).toJSON(), area: r(area).toJSON(),
                scroll: p.querySelectorAll('g.legend rect.scrollbar').length
                        ? r(p.querySelector('g.legend rect.scrollbar')).height : 0,
                entries: p.querySelectorAll('g.legend g.traces').length};""",
        plot,
    )
    plot.screenshot(str(tmp_path / "legend.png"))
    legend, svg, area = box["legend"], box["svg"], box["area"]
    assert box["entries"] == 30 + 7  # the checkpoints and the families' group titles
    assert legend["bottom"] <= svg["bottom"] + 0.5 and legend["top"] >= svg["top"] - 0.5
    assert legend["right"] <= svg["right"] + 0.5
    assert legend["left"] >= area["right"]  # beside the plot area, not over it
    assert box["scroll"] == 0  # everything shown, no scroll bar
    assert (tmp_path / "legend.png").stat().st_size > 10_000
