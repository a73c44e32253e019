"""The report: its tables against the run's files, its cautions, and the page in a real Chromium."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from ctxvec import ModelSpec
from ctxvec.report import load_run, summary_markdown
from ctxvec.report.run import correlation_frame, warnings_for

SECTIONS = ["question", "panel", "scatter", "layers", "correlations", "models", "attention",
            "manifest"]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model, qa_study) -> Path:
    models = [
        ModelSpec(str(tiny_model(family, "qa")), name)
        for family, name in [("bert", "BERT <tiny>"), ("roberta", "RoBERTa"), ("xlnet", "XLNet")]
    ]
    return qa_study(tmp_path_factory.mktemp("report"), models, subsets=3, subset_size=6)


def test_study_writes_a_self_contained_report(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    # Nothing is fetched: no external scripts, styles or images.
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?https?:""", page)
    assert "plotly.js v" in page or "Plotly" in page
    assert page.count("plotly.js v") <= 1  # the library is inlined once, not per figure
    assert "BERT &lt;tiny&gt;" in page and "BERT <tiny>" not in page.split("<script")[0]


def test_tables_are_the_runs_numbers(run_dir: Path) -> None:
    run = load_run(run_dir)
    frame = correlation_frame(run).set_index(["metric", "level"])
    stored = json.loads((run_dir / "correlations.json").read_text())["metrics"]
    for metric, label in (("variance", "Variance"), ("cse", "CSE")):
        subset = stored[metric]["subset_level"]
        assert frame.loc[(label, "subsets"), "pearson r"] == pytest.approx(subset["pearson_r"])
        assert frame.loc[(label, "subsets"), "n"] == 9
        model = frame.loc[(label, "models")]
        assert model["permutation p"] == pytest.approx(stored[metric]["model_permutation"]["p"])
        within = frame.loc[(label, "within models")]
        assert within["pearson r"] == pytest.approx(stored[metric]["within_model"]["r"])
    summary = summary_markdown(run)
    assert summary.count("RoBERTa") == 1 and re.search(r"^Variance +models +3 ", summary, re.M)


def test_small_panels_get_a_plain_warning(run_dir: Path) -> None:
    run = load_run(run_dir)
    levels = run.correlations["metrics"]["variance"]
    critical = levels["critical_r"]["r"]
    assert critical == pytest.approx(0.997, abs=1e-3)  # 3 models
    weak = dataclasses.replace(run, correlations=json.loads(json.dumps(run.correlations)))
    weak.correlations["metrics"]["variance"]["model_level"]["pearson_r"] = 0.9
    strong = dataclasses.replace(run, correlations=json.loads(json.dumps(run.correlations)))
    for levels in strong.correlations["metrics"].values():
        levels["model_level"]["pearson_r"] = 0.999
    (warning,) = warnings_for(weak)
    assert "needs |r| > 1.00" in warning and "Variance (r = 0.90)" in warning
    assert warnings_for(strong) == []
    two = dataclasses.replace(run, correlations={**run.correlations, "n_models": 2})
    assert "at least 3" in warnings_for(two)[0]


def test_report_command_prints_the_summary_and_the_page(run_dir: Path, run_cli) -> None:
    code, out, err = run_cli("report", str(run_dir))
    assert code == 0, err
    assert re.search(r"^model +F1 +Variance +CSE$", out, re.M)
    assert str(run_dir / "report.html") in out


def test_report_command_on_a_folder_without_a_run_is_one_line(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("report", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "is not a finished ctxvec run" in err


# ------------------------------------------------------------------ real browser


@pytest.mark.slow
def test_report_in_chromium(run_dir: Path, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((run_dir / "report.html").as_uri())
    for section in SECTIONS:
        assert browser.find_element(By.ID, section).is_displayed()
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section h2")]
    assert "Correlations" in headings and "Per model" in headings
    assert "RoBERTa" in browser.find_element(By.ID, "models").text

    # Hover the mouse over RoBERTa's first point in the Variance plot: the label names it.
    plot = browser.find_element(By.ID, "scatter-variance")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    traces = plot.find_elements(By.CSS_SELECTOR, "g.trace.scatter")
    names = browser.execute_script("return arguments[0].data.map(t => t.name)", plot)
    point = traces[names.index("RoBERTa")].find_elements(By.CSS_SELECTOR, "path.point")[0]
    ActionChains(browser).move_to_element(point).perform()
    label = WebDriverWait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "g.hovertext")
    )[0]
    assert "model RoBERTa" in label.text
    assert re.search(r"subset \d", label.text)
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
