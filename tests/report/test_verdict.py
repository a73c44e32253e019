"""The answer at a glance: the verdict rule, its sentences against the run's files, its place.

The rule (:func:`ctxvec.report.verdict.decide`) is checked on hand-made ``correlations.json``
entries: supports, contradicts, and each way of not deciding (too few models, p >= 0.05, r or p
undefined). Then a run folder with made-up numbers (``synthetic_run``), and copies of it whose
model-level numbers are edited to give each outcome, gets its report, terminal summary and
notebook view; the verdict is read back from each, and its r, interval, permutation p,
direction and outcome must be those of ``correlations.json``. Last, a headless Chromium at
1280 x 1200 must show the verdict and its figure without scrolling.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ctxvec.report import load_run, report_html, summary_markdown, write_report
from ctxvec.report.summary import WIDTH, summary_html
from ctxvec.report.verdict import ALPHA, answer, decide

NAMES = [f"model-{i}" for i in range(8)]
LABELS = {"variance": "Variance", "cse": "CSE"}


def levels(r: float | None, p: float | None, n: int = 13, critical: float = 0.55) -> dict:
    """One metric's entry in ``correlations.json``, with a CI of r +- 0.2."""
    low, high = (None, None) if r is None or math.isnan(r) else (r - 0.2, r + 0.2)
    return {
        "model_level": {"n": n, "pearson_r": r, "pearson_ci_low": low, "pearson_ci_high": high},
        "model_permutation": {"n": n, "r": r, "p": p},
        "critical_r": {"n": n, "alpha": 0.05, "r": critical},
    }


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    ("metric", "r", "p", "n", "outcome", "reason"),
    [
        ("variance", 0.71, 0.004, 13, "supports", None),
        ("variance", -0.71, 0.004, 13, "contradicts", None),
        # self-similarity is more discriminative when lower: the hypothesis predicts r < 0.
        ("self_similarity", -0.71, 0.004, 13, "supports", None),
        ("self_similarity", 0.71, 0.004, 13, "contradicts", None),
        ("cse", -0.53, 0.07, 13, "cannot decide", "not significant"),
        ("cse", 0.6, ALPHA, 13, "cannot decide", "not significant"),  # p = alpha is not below
        ("variance", 0.99, 0.001, 2, "cannot decide", "few models"),
        ("variance", math.nan, math.nan, 13, "cannot decide", "undefined"),
        ("variance", None, None, 13, "cannot decide", "undefined"),
        ("variance", 0.8, None, 13, "cannot decide", "undefined"),
    ],
)
def test_rule(metric: str, r, p, n: int, outcome: str, reason: str | None) -> None:
    verdict = decide(metric, levels(r, p, n), n)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def test_sentences_say_why() -> None:
    metrics = {"variance": levels(-0.71, 0.004), "cse": levels(-0.53, 0.07)}
    correlations = {"score": "f1", "n_models": 13, "metrics": metrics}
    text = answer(correlations)
    assert text is not None
    assert text.lead.startswith(
        "With 13 models and alpha = 0.05, this panel contradicts the hypothesis for Variance "
        "and cannot decide it for CSE"
    )
    assert "|r| > 0.55" in text.lead
    variance, cse = (finding for _, finding in text.findings)
    assert variance.startswith("Variance: F1 falls as Variance rises (model-level r = -0.71 ")
    assert "contradicts the hypothesis, which predicts r > 0" in variance
    assert "lower Variance, that is, less discriminative" in variance  # what it means
    assert "permutation p = 0.070): cannot decide; p >= 0.05" in cse and "0.55" in cse
    # Pearson's threshold passed, the permutation test not: the sentence says so.
    correlations["metrics"]["cse"] = levels(0.6, 0.06)
    assert "Pearson's threshold" in answer(correlations).findings[1][1]
    few = answer({"score": "f1", "n_models": 2, "metrics": {"cse": levels(0.9, 0.2, n=2)}})
    assert "needs 3 models, not 2" in few.findings[0][1] and "at least 3" in few.lead
    same = answer({**correlations, "metrics": {"cse": levels(None, None)}}, same_score="50.0")
    assert "every model has the same F1 (50.0)" in same.findings[0][1]
    # A run written before correlations.json kept critical_r: no threshold is made up.
    old = answer({**correlations, "metrics": {"cse": {**levels(0.3, 0.4), "critical_r": {}}}})
    assert old.findings[0][1].endswith("cannot decide; p >= 0.05.") and "|r| >" not in old.lead
    assert (
        answer({"score": "f1", "n_models": 13, "metrics": {"isoscore": levels(0.9, 0.01)}}) is None
    )


# ------------------------------------------------------------------ the run's files


class VerdictText(HTMLParser):
    """The verdict's lead and its findings (``metric -> text``) in a page, by their classes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.lead, self.findings = "", {}
        self._into: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("class") == "verdict-lead":
            self._into = "lead"
        elif tag == "li" and attributes.get("data-metric"):
            self._into = attributes["data-metric"]
            self.findings[self._into] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "li"):
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into == "lead":
            self.lead += data
        elif self._into is not None:
            self.findings[self._into] += data


FINDING = re.compile(
    r"(?P<label>\S+): (?P<score>\S+) (?P<way>rises with|falls as) \S+(?: rises)? \("
    r"model-level r = (?P<r>-?\d\.\d\d) \[(?P<low>-?\d\.\d\d), (?P<high>-?\d\.\d\d)\], "
    r"permutation p = (?P<p>[\d.e+-]+)\): (?P<outcome>supports|contradicts|cannot decide)"
)


def _p(value: float) -> str:
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def check_findings(findings: dict[str, str], correlations: dict) -> set[str]:
    """Each finding's numbers, direction and outcome against ``correlations.json``; the
    outcomes seen."""
    assert set(findings) == {"variance", "cse"}
    outcomes = set()
    for metric, text in findings.items():
        match = FINDING.search(" ".join(text.split()))
        assert match, text
        stored = correlations["metrics"][metric]
        model, p = stored["model_level"], stored["model_permutation"]["p"]
        assert match["label"] == LABELS[metric] and match["score"] == "F1"
        assert match["r"] == f"{model['pearson_r']:.2f}"
        assert match["low"] == f"{model['pearson_ci_low']:.2f}"
        assert match["high"] == f"{model['pearson_ci_high']:.2f}"
        assert match["p"] == _p(p)
        assert (match["way"] == "rises with") == (model["pearson_r"] > 0)
        # Both metrics are more discriminative when higher: the hypothesis predicts r > 0.
        expected = "cannot decide"
        if p < ALPHA:
            expected = "supports" if model["pearson_r"] > 0 else "contradicts"
        assert match["outcome"] == expected
        outcomes.add(expected)
    return outcomes


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, synthetic_run) -> Path:
    """Eight models whose made-up metrics fall as the score rises; its report written."""
    out = tmp_path_factory.mktemp("verdict") / "run"
    write_report(synthetic_run(out, NAMES, task="qa"))
    return out


def edited(run_dir: Path, out: Path, sign: float, p: float | None) -> Path:
    """A copy of the run whose headline model-level r (and CI) has ``sign`` and whose
    permutation p is ``p`` (unchanged when ``None``)."""
    shutil.copytree(run_dir, out)
    path = out / "correlations.json"
    correlations = json.loads(path.read_text())
    for metric in LABELS:
        stored = correlations["metrics"][metric]
        model = stored["model_level"]
        if sign < 0:
            model["pearson_r"] = -model["pearson_r"]
            low, high = model["pearson_ci_low"], model["pearson_ci_high"]
            model["pearson_ci_low"], model["pearson_ci_high"] = -high, -low
        if p is not None:
            stored["model_permutation"]["p"] = p
    path.write_text(json.dumps(correlations))
    return out


@pytest.mark.parametrize(
    ("sign", "p", "outcome"),
    [(1, None, "contradicts"), (-1, None, "supports"), (-1, 0.31, "cannot decide")],
)
def test_report_summary_and_notebook_state_the_runs_numbers(
    run_dir: Path, tmp_path: Path, sign: int, p: float | None, outcome: str
) -> None:
    run = load_run(edited(run_dir, tmp_path / "run", sign, p))
    correlations = json.loads((run.path / "correlations.json").read_text())
    page = report_html(run)
    # The answer is the page's first section, before the question.
    assert 0 < page.index('<section id="verdict">') < page.index('<section id="question">')
    report = VerdictText(page.split('<section id="question">')[0])
    assert report.lead.startswith(f"With 8 models and alpha = 0.05, this panel {outcome} the")
    assert check_findings(report.findings, correlations) == {outcome}

    # The terminal summary opens with the same sentences, in 80 columns.
    summary = summary_markdown(run)
    lines = summary.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    assert lines[2].startswith("With 8 models")
    lead, *bullets = re.split(r"^- ", "\n".join(lines[2 : lines.index("", 2)]), flags=re.M)
    assert " ".join(lead.split()) == " ".join(report.lead.split())
    findings = dict(zip(LABELS, bullets, strict=True))  # the last runs on to the explanation
    assert check_findings(findings, correlations) == {outcome}

    notebook = VerdictText(summary_html(run))
    assert notebook.lead == report.lead and notebook.findings == report.findings


# ------------------------------------------------------------------ real browser


@pytest.mark.slow
def test_verdict_on_the_first_screen(run_dir: Path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    size = browser.get_window_size()
    browser.set_window_size(1280, 1200)
    try:
        browser.get((run_dir / "report.html").as_uri())
        # plotly has drawn the figure: its rows are there.
        WebDriverWait(browser, 10).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "#verdict-plot .main-svg")
        )
        screen = min(1200, browser.execute_script("return window.innerHeight"))
        for selector in ("#verdict", ".verdict-lead", "#verdict-plot"):
            box = browser.execute_script(
                "const b = document.querySelector(arguments[0]).getBoundingClientRect();"
                "return {top: b.top, bottom: b.bottom, height: b.height};",
                selector,
            )
            assert box["height"] > 50 and box["top"] > 0 and box["bottom"] <= screen, selector
        assert browser.find_element(By.CSS_SELECTOR, ".verdict-lead").text.startswith(
            "With 8 models and alpha = 0.05"
        )
    finally:
        browser.set_window_size(size["width"], size["height"])
