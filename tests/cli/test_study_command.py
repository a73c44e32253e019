"""``ctxvec study``: bad input of every kind is one line on stderr and exit code 2."""

from __future__ import annotations

import pandas as pd
import pytest
from sample_data import reviews, squad_json


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
        ("bad-figures", "--figures 'gif' is not one of png, svg, pdf"),
        ("label-names-count", "--label-names names 3 labels (neg, pos, neu) but the model's"),
        ("label-names-swapped", "--label-names names label 0 'positive' but the model's label"),
        ("text-option-on-images", "--baseline-compat does not apply to image studies"),
        ("text-stack-on-images", "--skip-first '1' applies to text models"),
        ("digits-split", "sklearn-digits has the splits train, test, all, not 'dev'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_model, run_cli, case, message) -> None:
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
        "bad-figures": ["qa", "--data", qa_data, "--model", qa_model, "--figures", "png,gif"],
        "label-names-count": [
            "cls", "--model", cls_model, "--data", str(tmp_path / "ints.parquet"),
            "--label-names", "neg,pos,neu",
        ],
        "label-names-swapped": [
            "cls", "--model", cls_model, "--data", str(tmp_path / "ints.parquet"),
            "--label-names", "positive,negative",
        ],
        # Refused before any model loads: the folder named as a model is never read.
        "text-option-on-images": ["image", "--model", str(tmp_path), "--baseline-compat"],
        "text-stack-on-images": ["image", "--model", str(tmp_path), "--skip-first", "1"],
        "digits-split": ["image", "--model", str(tmp_path), "--split", "dev"],
    }[case]  # fmt: skip
    (tmp_path / "bad.json").write_text('{"data": [')
    pd.DataFrame({"text": ["a", "b"]}).to_csv(tmp_path / "nolabel.csv", index=False)
    reviews(tmp_path / "odd.parquet", ["pos", "neutral"] * 3)
    reviews(tmp_path / "ints.parquet", [0, 1] * 3)
    sizes = ["--subsets", "2", "--subset-size", "2"] if "--subset-size" not in args else []
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    code, _, err = run_cli("study", *args, *sizes, *out)
    assert code == 2
    assert err.startswith("ctxvec: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err


def test_an_unknown_kernels_value_is_one_line(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    code, _, err = run_cli(
        "study", "qa", "--data", str(data), "--out", str(tmp_path / "o"), "--quiet",
        "--model", str(tiny_model("bert", "qa")), "--kernels", "fast",
    )  # fmt: skip
    assert code == 2 and "'fast' is not one of" in err and "Traceback" not in err


@pytest.mark.slow
def test_every_line_a_study_prints_fits_80_columns(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    long_name = tmp_path / ("a-checkpoint-with-a-rather-long-name-" * 2 + "step300")
    long_name.symlink_to(tiny_model("bert", "qa"))
    code, out, err = run_cli(
        "study", "qa", "--model", str(long_name), "--model", str(tiny_model("roberta", "qa")),
        "--data", str(data), "--subsets", "2", "--subset-size", "3",
        "--out", str(tmp_path / "out"), "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert "subset 0" in out  # the units' progress lines are among them
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert not too_long, too_long
