"""The terminal summary: 80 columns whatever the panel, and the numbers of the run's files.

A real classification study on tiny checkpoints (with zoo-like and hub-like names) and synthetic
runs of 30 checkpoints are summarised; every line must fit in 80 columns, and the headline
numbers must be those of ``models.csv`` and ``correlations.json`` at the printed precision.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from sample_data import ZOO_30

from ctxvec import ModelSpec
from ctxvec.report import load_run, summary_markdown
from ctxvec.report.run import Run
from ctxvec.report.summary import WIDTH, display_names, summary_html

NAMES = {"bert": "bert-step20", "deberta-v2": "deberta-v2-step300", "roberta": "roberta-step10",
         "xlnet": "sentence-transformers/all-MiniLM-L6-v2"}  # fmt: skip


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, tiny_model, qa_study) -> Path:
    root = tmp_path_factory.mktemp("summary")
    models = [ModelSpec(str(tiny_model(f, "qa")), name) for f, name in NAMES.items()]
    printed: list[str] = []
    out = qa_study(root, models, subsets=3, subset_size=6, log=printed.append, device="cpu")
    (root / "printed.txt").write_text("\n".join(printed))
    return out


def _fixed(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _rows(summary: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line starts with ``header``, split into cells."""
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(re.split(r" {2,}", line.strip()))
    return rows


CELL = re.compile(r"(-?\d+\.\d+) \[\s*(-?\d+\.\d+),\s*(-?\d+\.\d+)\]")


def _check_numbers(run: Run, summary: str) -> None:
    models = pd.read_csv(run.path / "models.csv").set_index("model")
    stored = json.loads((run.path / "correlations.json").read_text())
    score = stored["score"]
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = lines[start + 2 : start + 2 + len(models)]
    assert not lines[start + 2 + len(models)].strip()
    for name, line in zip(models.index, rows, strict=True):
        shown = re.split(r" {2,}", line)[0]
        # Whole, without the hub organisation, or cut in the middle.
        assert shown in (name, name.rsplit("/", 1)[-1]) or ".." in shown
        cells = CELL.findall(line[len(shown) :])
        assert len(cells) == 3, line
        for cell, column, digits in zip(cells, (score, "variance", "cse"), (1, 3, 3), strict=True):
            m = models.loc[name]
            expected = (m[column], m[f"{column}_ci_low"], m[f"{column}_ci_high"])
            assert cell == tuple(f"{x:.{digits}f}" for x in expected)
    label = {"accuracy": "accuracy", "f1": "F1"}[score]
    correlations = _rows(summary, f"{label} vs")
    levels = {"models": "model_level", "subsets": "subset_level", "within": "within_model"}
    seen = set()
    for metric_label, level, n, r, *rest in correlations:
        metric = {"Variance": "variance", "CSE": "cse"}[metric_label]
        c = stored["metrics"][metric][levels[level]]
        seen.add((metric, level))
        assert int(n) == c["n"]
        if level == "within":
            assert r == _fixed(c["r"], 2) and rest[0] == _p(c["p"])
            continue
        assert r == _fixed(c["pearson_r"], 2)
        if c["pearson_r"] is None:
            continue
        assert rest[0] == f"[{c['pearson_ci_low']:.2f}, {c['pearson_ci_high']:.2f}]"
        assert rest[1] == _p(c["pearson_p"])
        if level == "models":
            assert rest[2] == _p(stored["metrics"][metric]["model_permutation"]["p"])
    assert seen == {(m, lv) for m in ("variance", "cse") for lv in levels}


def test_real_study_summary_fits_and_matches(study_dir: Path) -> None:
    run = load_run(study_dir)
    summary = summary_markdown(run)
    assert max(len(line) for line in summary.splitlines()) <= WIDTH
    _check_numbers(run, summary)
    # What the study printed at its end is this summary.
    assert summary.strip() in (study_dir.parent / "printed.txt").read_text()
    # 4 models: the caution is there, wrapped.
    assert "> With 4 models a model-level Pearson r needs |r| > 0.95" in summary
    assert "deberta-v2-step300" in summary and "all-MiniLM-L6-v2" in summary


@pytest.mark.parametrize(
    "names",
    [
        ZOO_30,
        [f"organisation-{i}/a-rather-long-model-name-{i}" for i in range(30)],
        # Names told apart only in their middle: each gets a line of its own.
        [f"{'x' * 30}-{i}-{'y' * 30}" for i in range(30)],
    ],
    ids=["zoo", "hub", "middle"],
)
def test_thirty_long_names_fit(tmp_path: Path, names: list[str], synthetic_run) -> None:
    run = synthetic_run(tmp_path / "run", names)
    summary = summary_markdown(run)
    assert max(len(line) for line in summary.splitlines()) <= WIDTH, summary
    if names[0].startswith("x"):
        assert all(name in summary for name in names)
        return
    _check_numbers(run, summary)
    assert "All 13 metrics" in summary  # the rest is in the files


def test_display_names() -> None:
    assert display_names(["bert-step10"], 20) == ["bert-step10"]
    hub = ["deepset/roberta-base-squad2", "google/electra-base-discriminator"]
    assert display_names(hub, 22) == ["roberta-base-squad2", "electra-ba..criminator"]
    assert display_names(["a" * 30 + "1", "a" * 30 + "2"], 4) is None


def test_notebook_html_has_tables_scatter_and_report(study_dir: Path) -> None:
    page = summary_html(load_run(study_dir))
    assert page.count("<table") == 3  # per model, headline correlations, every metric
    assert 'src="data:image/png;base64,' in page
    assert "report.html" in page and "deberta-v2-step300" in page


def test_notebook_html_escapes_model_names(tmp_path: Path, synthetic_run) -> None:
    hostile = synthetic_run(tmp_path / "hostile", ["<b>x</b>-step1", "<b>x</b>-step2", "plain"])
    page = summary_html(hostile)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
