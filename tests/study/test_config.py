"""A study's configuration: impossible options are one line, the same in the CLI (with the
flag's name) and the API (with the parameter's), and layers are checked against the model
before anything is computed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_data import squad_json

from ctxvec import ClsSettings, ModelSpec, QASettings, StudyConfig
from ctxvec.cli.options import flag_of
from ctxvec.errors import ParameterError

NAN, INF = float("nan"), float("inf")


def qa_args(data: Path, out: Path, model: Path) -> list[str]:
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet", "--figures", "none"]
    return [*args, "--model", str(model), "--subsets", "3", "--subset-size", "3"]


# (CLI flags, QASettings fields, StudyConfig fields, the line both give)
QA_BAD_OPTIONS = [
    (["--subset-size", "0"], {}, {"subset_size": 0}, "--subset-size must be at least 1"),
    (["--subsets", "0"], {}, {"subsets": 0}, "--subsets must be at least 1"),
    (["--batch-size", "0"], {"batch_size": 0}, {}, "--batch-size must be at least 1"),
    (["--na-threshold", "nan"], {"na_threshold": NAN}, {}, "--na-threshold must be a finite"),
    (["--na-threshold", "inf"], {"na_threshold": INF}, {}, "--na-threshold must be a finite"),
    (["--stride", "400"], {"stride": 400}, {}, "--stride (400) must be less than --max-length"),
    (["--n-best", "0"], {"n_best": 0}, {}, "--n-best must be at least 1"),
    (["--max-answer-length", "0"], {"max_answer_length": 0}, {}, "--max-answer-length must"),
    (["--max-length", "1", "--stride", "0"], {"max_length": 1, "stride": 0}, {}, "--max-length"),
    (["--subset-starts=-3,10,20"], {}, {"subset_starts": (-3, 10, 20)}, "--subset-starts must"),
]


@pytest.mark.parametrize(("flags", "settings", "config", "message"), QA_BAD_OPTIONS)
def test_impossible_options_are_one_line_in_cli_and_api(
    tmp_path, tiny_model, run_cli, flags, settings, config, message
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    model = tiny_model("bert", "qa")
    args = qa_args(data, tmp_path / "out", model)
    if "--subsets" in flags or "--subset-size" in flags:
        args = args[: args.index("--subsets")]
    code, _, err = run_cli(*args, *flags)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err
    with pytest.raises(ParameterError) as raised:
        StudyConfig(
            task="qa",
            models=(ModelSpec(str(model)),),
            data=str(data),
            settings=QASettings(**settings),
            **config,
        )
    # The API names its parameter (subset_size); the CLI prints the same line with the flag.
    assert str(raised.value).startswith(raised.value.parameter + " ")
    assert raised.value.spelled(flag_of) in err


def test_cls_options_are_validated_too() -> None:
    with pytest.raises(ParameterError, match="batch_size must be at least 1"):
        ClsSettings(batch_size=-1)
    with pytest.raises(ParameterError, match="max_length must be at least 2"):
        ClsSettings(max_length=0)
    with pytest.raises(ParameterError, match="label_names"):
        ClsSettings(label_names=("neg", " "))
    with pytest.raises(ParameterError, match="kernels 'fast' is not one of auto, off"):
        ClsSettings(kernels="fast")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--layer", "9"], "layer 9 is out of range for 'bert-qa' (2 layers"),
        (["--layers", "0,99"], "layer 99 is out of range for 'bert-qa' (2 layers"),
        (["--layers", "0,x"], "--layers '0,x' must be 'all' or comma-separated layer numbers"),
    ],
)
def test_layers_out_of_range_are_one_line(tmp_path, tiny_model, run_cli, flags, message) -> None:
    """Checked against the model once it is loaded; nothing is computed before."""
    data = squad_json(tmp_path / "dev.json", copies=1)
    code, _, err = run_cli(*qa_args(data, tmp_path / "out", tiny_model("bert", "qa")), *flags)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not list((tmp_path / "out" / "units").glob("*.json"))
