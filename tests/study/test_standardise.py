"""``standardise`` in a study: one reference sample for every unit and shard, the sharded study
equal to the unsharded one, and a model with an injected rogue dimension."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
import torch
from sample_data import reviews
from transformers import AutoModelForSequenceClassification

from ctxvec import ClsSettings, ModelSpec, StudyConfig, run_study
from ctxvec.report import load_run, summary_markdown
from ctxvec.report.html import report_html
from ctxvec.study.units import REFERENCE_SIZE

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

quiet = lambda *_: None  # noqa: E731


def config_of(data, models, standardise: bool) -> StudyConfig:
    settings = ClsSettings(layers="all", standardise=standardise)
    return StudyConfig(task="cls", models=models, data=str(data), subsets=2, subset_size=6,
                       settings=settings, figures=())  # fmt: skip


def test_a_sharded_standardised_study_equals_the_unsharded_one(tmp_path, tiny_model) -> None:
    data = reviews(tmp_path / "r.parquet", ["neg", "pos"] * 10)
    models = (ModelSpec(str(tiny_model("bert", "cls")), "bert"),)
    config = config_of(data, models, standardise=True)
    whole = run_study(config, tmp_path / "whole", progress=False, log=quiet)
    sharded = run_study(config, tmp_path / "sharded", progress=False, log=quiet, shard_size=4)
    a, b = whole.examples, sharded.examples
    assert a["id"].tolist() == b["id"].tolist()
    numbers = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(a[numbers], b[numbers], rtol=1e-6, atol=1e-6)
    pd.testing.assert_frame_equal(whole.subsets, sharded.subsets, rtol=1e-6, atol=1e-6)
    # One reference sample, the whole pool here (20 < REFERENCE_SIZE), for every unit.
    references = {u.unit.reference_ids for u in whole.units}
    assert len(references) == 1 and len(references.pop()) == min(20, REFERENCE_SIZE)
    assert whole.manifest["config"]["settings"]["standardise"] is True
    # Standardising changes the cosine metrics only.
    plain = run_study(config_of(data, models, False), tmp_path / "plain", progress=False, log=quiet)
    for name in ("variance", "effective_rank", "isoscore", "rogue_top1"):
        pd.testing.assert_series_equal(plain.subsets[name], whole.subsets[name], rtol=1e-5)
    assert not (plain.subsets["cse"] - whole.subsets["cse"]).abs().lt(1e-6).all()
    assert all(not u.unit.reference_ids for u in plain.units)


def test_a_rogue_dimension_dominates_and_standardising_removes_it(tmp_path, tiny_model) -> None:
    data = reviews(tmp_path / "r.parquet", ["neg", "pos"] * 10)
    folder = tmp_path / "rogue"
    shutil.copytree(tiny_model("bert", "cls"), folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():  # the last layer's output LayerNorm: one unit large and shifted
        norm = model.bert.encoder.layer[-1].output.LayerNorm
        norm.weight[3] *= 10.0
        norm.bias[3] = 200.0
    model.save_pretrained(folder)
    models = (ModelSpec(str(folder), "rogue"),)
    raw = run_study(config_of(data, models, False), tmp_path / "raw", progress=False, log=quiet)
    fixed = run_study(config_of(data, models, True), tmp_path / "std", progress=False, log=quiet)
    assert (raw.subsets["rogue_top1"] > 0.95).all()
    assert (raw.subsets["self_similarity"] > 0.95).all()
    assert (fixed.subsets["self_similarity"] < raw.subsets["self_similarity"] - 0.5).all()
    # The random baseline is standardised with the tokens it compares.
    assert (fixed.subsets["random_baseline"] < raw.subsets["random_baseline"] - 0.5).all()
    # The report and the summary say so, and show the shares.
    for run_dir, said in ((tmp_path / "raw", False), (tmp_path / "std", True)):
        run = load_run(run_dir)
        page = report_html(run)
        assert '<section id="rogue">' in page and "rogue top-1 share" in page
        assert ("were\ncomputed on vectors standardised per dimension" in page) is said
        assert ("(--standardise)" in summary_markdown(run).replace("\n", " ")) is said
