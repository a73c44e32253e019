"""Model attributes through a study: panel file -> columns, manifest, the ``confounds`` block of
``correlations.json`` and the report's section; the unit cache survives new attributes; user
mistakes are one line.

The numbers are checked against statsmodels' MixedLM and numpy's least squares fitted here on the
``subsets.csv`` the study wrote.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from sample_data import squad_json
from scipy import stats

from ctxvec.study.tables import subset_columns
from ctxvec.tasks import get_task

# name: (family, seed, steps); two families of two models each.
PANEL = {
    "bert-a": ("bert", 0, 100),
    "bert-b": ("bert", 1, 400),
    "roberta-a": ("roberta", 0, 200),
    "roberta-b": ("roberta", 1, 800),
}


def panel_file(path: Path, tiny_model, steps_scale: int = 1, extra: str = "") -> Path:
    lines = []
    for name, (family, seed, steps) in PANEL.items():
        lines += [
            "[[models]]",
            f'id = "{tiny_model(family, "qa", seed=seed)}"',
            f'name = "{name}"',
            f'attributes = {{ family = "{family}", steps = {steps * steps_scale}{extra} }}',
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def study(run_cli, data: Path, panel: Path, out: Path, *more: str) -> None:
    args = ["study", "qa", "--data", str(data), "--panel", str(panel), "--out", str(out)]
    args += ["--subsets", "3", "--subset-size", "3", "--quiet", "--figures", "none"]
    code, _, err = run_cli(*args, *more)
    assert code == 0, err


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model, run_cli) -> Path:
    """Four tiny QA models with a family and steps each, steps controlled."""
    root = tmp_path_factory.mktemp("confounds")
    data = squad_json(root / "dev.json", copies=1)
    panel = panel_file(root / "panel.toml", tiny_model)
    study(run_cli, data, panel, root / "out", "--control", "steps")
    return root / "out"


def read(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    return (
        pd.read_csv(out / "subsets.csv"),
        pd.read_csv(out / "models.csv"),
        json.loads((out / "correlations.json").read_text()),
        json.loads((out / "manifest.json").read_text()),
    )


@pytest.mark.slow
def test_attributes_are_columns_after_model_and_subset_and_in_the_manifest(run) -> None:
    subsets, models, _, manifest = read(run)
    assert list(subsets.columns[:4]) == ["model", "subset", "family", "steps"]
    assert list(models.columns[:3]) == ["model", "family", "steps"]
    for frame in (subsets, models):
        for _, row in frame.iterrows():
            assert (row["family"], row["steps"]) == (PANEL[row["model"]][0], PANEL[row["model"]][2])
    recorded = {m["name"]: m["attributes"] for m in manifest["models"]}
    assert recorded == {n: {"family": f, "steps": s} for n, (f, _, s) in PANEL.items()}
    assert manifest["config"]["controls"] == ["steps"] and manifest["config"]["group"] is None


@pytest.mark.slow
def test_the_mixed_slope_is_statsmodels_on_the_written_subsets(run) -> None:
    subsets, _, correlations, _ = read(run)
    block = correlations["confounds"]
    assert block["controls"] == ["steps"] and block["group"] == "family"  # family by default
    for metric in ("variance", "cse"):
        mixed = block["metrics"][metric]["mixed"]
        with warnings.catch_warnings():  # the tiny panel's fit may sit on the boundary
            warnings.simplefilter("ignore")
            fit = smf.mixedlm(f"f1 ~ {metric}", subsets, groups=subsets["family"]).fit(reml=True)
        assert mixed["slope"] == pytest.approx(fit.params[metric], rel=1e-6, abs=1e-9)
        assert (mixed["n"], mixed["groups"]) == (12, 2)


@pytest.mark.slow
def test_the_partial_r_is_the_residual_correlation_of_the_model_means(run) -> None:
    subsets, _, correlations, _ = read(run)
    means = subsets.groupby("model").agg({"f1": "mean", "cse": "mean", "steps": "first"})
    regressors = np.column_stack([np.ones(4), means["steps"]])
    rx, ry = (
        means[c] - regressors @ np.linalg.lstsq(regressors, means[c], rcond=None)[0]
        for c in ("f1", "cse")
    )
    partial = correlations["confounds"]["metrics"]["cse"]["partial"]
    if np.ptp(means["f1"]) == 0:  # random tiny models may all score 0: then r is undefined
        assert partial["r"] is None and partial["reason"]
    else:
        assert partial["r"] == pytest.approx(stats.pearsonr(rx, ry).statistic, abs=1e-9)
        assert partial["df"] == 4 - 2 - 1


@pytest.mark.slow
def test_the_report_has_a_confounds_section(run) -> None:
    page = (run / "report.html").read_text()
    assert '<section id="confounds">' in page and 'href="#confounds"' in page
    assert "partial r | steps" in page and "mixed slope [95% CI] | family" in page


@pytest.mark.slow
def test_new_attributes_reuse_every_cached_unit_and_no_attributes_change_no_column(
    run, tmp_path, tiny_model, run_cli
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    panel = panel_file(tmp_path / "panel.toml", tiny_model, steps_scale=10, extra=", seed = 3")
    cache = ["--cache-dir", str(run / "units")]
    study(run_cli, data, panel, tmp_path / "more", *cache)
    subsets, _, correlations, manifest = read(tmp_path / "more")
    assert all(u["from_cache"] for u in manifest["units"])
    assert list(subsets.columns[:5]) == ["model", "subset", "family", "steps", "seed"]
    assert correlations["confounds"]["metrics"]["cse"]["partial"] is None  # no --control
    plain = tmp_path / "plain.toml"
    plain.write_text(
        "".join(
            f'[[models]]\nid = "{tiny_model(f, "qa", seed=s)}"\nname = "{n}"\n'
            for n, (f, s, _) in PANEL.items()
        )
    )
    study(run_cli, data, plain, tmp_path / "plain", *cache)
    subsets, models, correlations, _ = read(tmp_path / "plain")
    assert list(subsets.columns) == subset_columns(get_task("qa"))
    assert models.columns[1] == "n" and "confounds" not in correlations


@pytest.mark.parametrize(
    ("attributes", "flags", "says"),
    [
        ('{ family = ["a", "b"] }', (), "attribute 'family' = ['a', 'b'] is not a scalar"),
        ("{ f1 = 3 }", (), "model attribute 'f1' has the name of an output column"),
        ("{ variance_ci_low = 3 }", (), "'variance_ci_low' has the name of an output column"),
        ('{ family = "bert" }', ("--control", "steps"), "--control 'steps' is no model attribute"),
        ('{ family = "bert" }', ("--group", "size"), "--group 'size' is no model attribute"),
    ],
)
def test_attribute_mistakes_are_one_line(
    tmp_path, tiny_model, run_cli, attributes, flags, says
) -> None:
    panel = tmp_path / "panel.toml"
    panel.write_text(f'[[models]]\nid = "{tiny_model("bert", "qa")}"\nattributes = {attributes}\n')
    args = ["study", "qa", "--data", str(tmp_path / "none.json"), "--panel", str(panel)]
    code, _, err = run_cli(*args, "--out", str(tmp_path / "out"), *flags)
    assert code == 2 and says in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_attributes_leave_a_units_key_unchanged() -> None:
    from ctxvec.loading import ModelSpec
    from ctxvec.study import Unit

    task = get_task("qa")
    unit = Unit(
        task=task, model=ModelSpec("m", "M"), model_path="/m", model_revision=None,
        model_fingerprint="f", subset=0, data="d.json", split="validation",
        data_fingerprint="g", example_ids=("1", "2"), settings=task.settings_type(),
        device="cpu", dtype="float32", allow_untrained_head=False,
    )  # fmt: skip
    tagged = dataclasses.replace(unit, model=ModelSpec("m", "M", attributes={"steps": 10}))
    assert tagged.key == unit.key and tagged.to_json()["model"]["attributes"] == (("steps", 10),)
