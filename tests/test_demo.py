"""``ctxvec demo`` end to end at small sizes, its reuse on a second run, and the data CLI."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from ctxvec.cli import app as cli
from ctxvec.data import load_qa_dataset
from ctxvec.offline import demo
from ctxvec.offline.families import FAMILIES


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = demo.run_demo(out, sizes=demo.SMALL, members=demo.SMALL_PANEL, log=lines.append)
    return out, result, lines


def test_demo_writes_data_zoo_and_both_studies(first_run):
    out, _, lines = first_run
    n = demo.SMALL.subsets * demo.SMALL.subset_size
    assert len(load_qa_dataset(out / "data" / "qa-test.json")) == n
    assert len(pd.read_parquet(out / "data" / "cls-test.parquet")) == n
    for task in ("qa", "cls"):
        cards = [
            json.loads(p.read_text(encoding="utf-8"))
            for p in (out / "zoo" / task).glob("*/card.json")
        ]
        assert {c["family"] for c in cards} == {*FAMILIES, "minilm"}
        subsets = pd.read_csv(out / f"study-{task}" / "subsets.csv")
        assert len(subsets) == len(cards) * demo.SMALL.subsets
        assert subsets["f1"].between(0, 100).all() and subsets["variance"].notna().all()
        correlations = json.loads((out / f"study-{task}" / "correlations.json").read_text())
        assert correlations["attention"]["statistics"]["entropy_ratio"]
        heads = pd.read_csv(out / f"study-{task}" / "attention.csv")
        assert set(heads["model"]) == {c["name"] for c in cards}
        assert (heads["n_inputs"] + heads["n_skipped"] == demo.SMALL.attention_stats).all()
    assert any(str(out / "study-qa") in line for line in lines)


def test_second_run_through_the_cli_reuses_everything(first_run):
    out, _, _ = first_run
    runner = CliRunner()
    result = runner.invoke(cli.app, ["demo", "--small", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.count("reused") == 2 * len(demo.SMALL_PANEL)
    for task in ("qa", "cls"):
        manifest = json.loads((out / f"study-{task}" / "manifest.json").read_text("utf-8"))
        assert all(unit["from_cache"] for unit in manifest["units"])


def test_data_make_cli(tmp_path, monkeypatch, capsys):
    target = tmp_path / "reviews.parquet"
    result = CliRunner().invoke(
        cli.app, ["data", "make", "cls", "--out", str(target), "--n", "10", "--seed", "2"]
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(target)) == 10
    # A user mistake is one line on stderr and exit code 2.
    monkeypatch.setattr(sys, "argv", ["ctxvec", "data", "make", "cls", "--out", "x.json"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ctxvec: error:") and ".parquet" in err and err.count("\n") == 1
