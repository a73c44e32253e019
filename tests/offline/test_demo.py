"""``ctxvec demo`` end to end at small sizes, and its reuse on a second run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ctxvec.data import load_qa_dataset
from ctxvec.offline import demo
from ctxvec.offline.families import SCRATCH_FAMILIES

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

N = demo.SMALL.subsets * demo.SMALL.subset_size
TASKS = ["qa", "cls"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = demo.run_demo(
        out, sizes=demo.SMALL, members=demo.SMALL_PANEL, log=lines.append, figures=()
    )
    return out, result, lines


def cards(out, task: str) -> list[dict]:
    paths = (out / "zoo" / task).glob("*/card.json")
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def test_demo_writes_both_data_sets(first_run):
    out, _, _ = first_run
    assert len(load_qa_dataset(out / "data" / "qa-test.json")) == N
    assert len(pd.read_parquet(out / "data" / "cls-test.parquet")) == N


@pytest.mark.parametrize("task", TASKS)
def test_demo_trains_every_family(first_run, task):
    out, _, _ = first_run
    assert {c["family"] for c in cards(out, task)} == {*SCRATCH_FAMILIES, "minilm"}


@pytest.mark.parametrize("task", TASKS)
def test_demo_studies_every_checkpoint(first_run, task):
    out, _, _ = first_run
    subsets = pd.read_csv(out / f"study-{task}" / "subsets.csv")
    assert len(subsets) == len(cards(out, task)) * demo.SMALL.subsets
    assert subsets["f1"].between(0, 100).all() and subsets["variance"].notna().all()


@pytest.mark.parametrize("task", TASKS)
def test_demo_measures_attention(first_run, task):
    out, _, _ = first_run
    correlations = json.loads((out / f"study-{task}" / "correlations.json").read_text())
    assert correlations["attention"]["statistics"]["entropy_ratio"]
    heads = pd.read_csv(out / f"study-{task}" / "attention.csv")
    assert set(heads["model"]) == {c["name"] for c in cards(out, task)}
    assert (heads["n_inputs"] + heads["n_skipped"] == demo.SMALL.attention_stats).all()


def test_demo_says_where_the_studies_are(first_run):
    out, _, lines = first_run
    assert any(str(out / "study-qa") in line for line in lines)


@pytest.fixture(scope="module")
def second_run(first_run, run_cli):
    """The same demo again, through the command line: ``(code, stdout, stderr)``."""
    out, _, _ = first_run
    return run_cli("demo", "--small", "--out", str(out), "--figures", "none")


def test_second_run_through_the_cli_reuses_everything(first_run, second_run):
    out, _, _ = first_run
    code, stdout, err = second_run
    assert code == 0, err
    assert stdout.count("reused") == 2 * len(demo.SMALL_PANEL)
    for task in TASKS:
        manifest = json.loads((out / f"study-{task}" / "manifest.json").read_text("utf-8"))
        assert all(unit["from_cache"] for unit in manifest["units"])


def test_every_line_the_cli_prints_fits_80_columns(second_run):
    code, stdout, err = second_run
    assert code == 0, err
    too_long = [line for line in stdout.splitlines() if len(line) > 80]
    assert not too_long, too_long
