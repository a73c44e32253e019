"""Interventions: a statistic in the loss moves it, seed twins differ only in lambda, members are
reused, and the command's mistakes are one line."""

from __future__ import annotations

import copy
import json
import tomllib

import pandas as pd
import pytest

from ctxvec.offline import synth, zoo
from ctxvec.offline.intervention import run_intervention
from ctxvec.offline.training import Regulariser
from ctxvec.offline.zoo import Member, ZooSettings

TINY = ZooSettings(max_length=96, stride=32, vocab_size=300)
LAMBDAS = (-3.0, 0.0, 3.0)
# Varies between any two checkpoints whatever they are: not what the twins are about.
VARYING = ("name", "identity", "dev_score", "train_seconds")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Training and held-out classification data, and a tiny saved checkpoint to start from."""
    root = tmp_path_factory.mktemp("intervention")
    train = synth.write_cls(root / "train.parquet", 160, seed=5)
    base = Member("bert", "bert", (1,), hidden_size=32, batch_size=8)
    [checkpoint] = zoo.build_zoo("cls", train, root / "base", [base], settings=TINY, workers=1)
    return {
        "root": root,
        "train": train,
        "test": synth.write_cls(root / "test.parquet", 64, seed=6),
        "base": str(checkpoint.path),
    }


def _intervene(data, out, statistic, log=lambda line: None):
    return run_intervention(
        "cls",
        data["base"],
        data["train"],
        data["test"],
        out,
        statistic=statistic,
        lambdas=LAMBDAS,
        seeds=(0,),
        steps=30,
        learning_rate=1e-3,
        subsets=1,
        subset_size=48,
        settings=TINY,
        workers=1,
        figures=(),
        log=log,
    )


@pytest.fixture(scope="module")
def variance_run(data):
    out = data["root"] / "variance"
    return out, _intervene(data, out, "variance")


def _measured(out, statistic: str) -> pd.Series:
    """The study's statistic on the held-out data, by lambda."""
    return pd.read_csv(out / "study" / "subsets.csv").set_index("lambda")[statistic]


def _check_moved(measured: pd.Series) -> None:
    low, none, high = (measured[lam] for lam in LAMBDAS)
    assert low < none < high, measured.to_dict()


@pytest.mark.slow  # trains three members and studies them
def test_variance_moves_with_lambda_and_twins_differ_only_in_lambda(data, variance_run):
    out, result = variance_run
    _check_moved(_measured(out, "variance"))
    cards = [c.card for c in result.checkpoints]
    assert {c["regulariser"]["statistic"] for c in cards} == {"variance"}

    def without_lambda(card):
        card = {k: v for k, v in copy.deepcopy(card).items() if k not in VARYING}
        del card["regulariser"]["lambda"]
        return card

    assert [c["regulariser"]["lambda"] for c in cards] == list(LAMBDAS)
    assert all(without_lambda(c) == without_lambda(cards[0]) for c in cards)
    assert cards[0]["seed"] == 0 and cards[0]["base"] == data["base"]
    # panel.toml lists each checkpoint's attributes from its card.
    panel = tomllib.loads((out / "zoo" / "panel.toml").read_text(encoding="utf-8"))
    for entry, card in zip(panel["models"], cards, strict=True):
        assert entry["attributes"] == {
            "family": "bert",
            "kind": "encoder",
            "parameters": card["size"]["parameters"],
            "steps": 30,
            "seed": 0,
            "learning_rate": 1e-3,
            "statistic": "variance",
            "lambda": card["regulariser"]["lambda"],
            "zeta": 0.2,
        }
    # The study of the panel has its dose-response: the statistic's slope on lambda, as the
    # subsets show it, and the report's section.
    dose = json.loads((out / "study" / "correlations.json").read_text())["dose_response"]
    assert dose["statistic"] == "variance" and dose["n_models"] == 3
    assert dose["n_replicates"] == 1 and dose["statistic_slope"]["slope"] > 0
    assert '<section id="dose">' in (out / "study" / "report.html").read_text()


@pytest.mark.slow  # studies three members again
def test_a_second_run_reuses_the_members(data, variance_run):
    out, first = variance_run
    weights = first.checkpoints[0].path / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    lines: list[str] = []
    again = _intervene(data, out, "variance", log=lines.append)
    assert sum("reused 1 checkpoint" in line for line in lines) == 3
    # The study's terminal summary opens with the dose-response's answer.
    assert any("Dose-response (an intervention panel): " in line for line in lines)
    assert weights.stat().st_mtime_ns == stamp
    assert [c.card for c in again.checkpoints] == [c.card for c in first.checkpoints]


@pytest.mark.slow  # trains three members and studies them
@pytest.mark.parametrize("statistic", ["cse", "isoscore"])
def test_cse_and_isoscore_move_with_lambda(data, statistic):
    out = data["root"] / statistic
    _intervene(data, out, statistic)
    _check_moved(_measured(out, statistic))


def test_zero_lambda_trains_as_no_regulariser(data, tmp_path):
    """Same batches, same random state, same weights: lambda = 0 is plain fine-tuning."""
    plain = Member("plain", "bert", (5,), batch_size=8, base=data["base"], seed=3)
    zero = Member(
        "zero", "bert", (5,), batch_size=8, base=data["base"], seed=3,
        regulariser=Regulariser("isoscore", 0.0),
    )  # fmt: skip
    a, b = zoo.build_zoo("cls", data["train"], tmp_path, [plain, zero], settings=TINY, workers=1)
    assert (a.path / "model.safetensors").read_bytes() == (
        b.path / "model.safetensors"
    ).read_bytes()
    assert a.card["seed"] == 3 and b.card["regulariser"]["lambda"] == 0.0
    assert a.card["base"] == data["base"] and a.card["regulariser"] is None


def _cli(run_cli, data, *extra):
    args = ["--data", str(data["train"]), "--study-data", str(data["test"])]
    return run_cli("intervene", "cls", *args, "--out", str(data["root"] / "cli"), *extra)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--study-data", "{train}"), "--study-data is the training data"),
        (("--lambdas", "1,x"), "--lambdas '1,x' must be comma-separated numbers"),
        (("--lambdas=-1,1,1",), "--lambdas [-1.0, 1.0, 1.0] repeats a value"),
        (("--seeds", ""), "--seeds needs at least one value"),
        (("--base", "{root}"), "--base '"),
        (("--base", "{base}", "--layers", "5"), "--layers [5] out of range"),
        (("--zeta", "2"), "--zeta 2.0 must be between 0 and 1"),
        (("--statistic", "rank"), "'rank' is not one of"),
        (("--steps", "0"), "--steps must be at least 1"),
        (("--score", "auc"), "--score 'auc' is not a cls score"),
    ],
)
def test_mistakes_are_one_line(run_cli, data, extra, words):
    extra = [e.format(train=data["train"], root=data["root"], base=data["base"]) for e in extra]
    code, _, err = _cli(run_cli, data, *extra)
    assert code == 2 and err.startswith("ctxvec: error:") and err.count("\n") == 1, err
    assert words in err
    assert not (data["root"] / "cli").exists()
