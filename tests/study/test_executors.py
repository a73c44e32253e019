"""Executors and shards without Ray: a sharded unit equals the unsharded one, shards are cached
on their own, and the executor options fail in one line (Ray missing included)."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from sample_data import reviews, squad_json

from ctxvec import ClsSettings, CtxvecError, ModelSpec, QASettings, StudyConfig, run_study
from ctxvec.study.executors import RayExecutor, make_executor

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out


@pytest.mark.parametrize("task", ["qa", "cls"])
def test_a_sharded_unit_equals_the_unsharded_one(
    task, tmp_path, tiny_model, study_outputs, assert_same_outputs
) -> None:
    if task == "qa":
        data, settings, size = squad_json(tmp_path / "dev.json"), QASettings(layers="all"), 10
    else:
        data = reviews(tmp_path / "r.parquet", ["neg", "pos"] * 10)
        settings, size = ClsSettings(layers="all"), 10
    models = tuple(ModelSpec(str(tiny_model(f, task)), f) for f in ("bert", "xlnet"))
    config = StudyConfig(task=task, models=models, data=str(data), subsets=2,
                         subset_size=size, settings=settings, figures=())  # fmt: skip
    quiet = lambda *_: None  # noqa: E731
    whole = run_study(config, tmp_path / "whole", progress=False, log=quiet)
    sharded = run_study(config, tmp_path / "sharded", progress=False, log=quiet, shard_size=3)
    # The same rows, predictions and scores; metrics to float32 rounding (other batches).
    a, b = whole.examples, sharded.examples
    assert a["id"].tolist() == b["id"].tolist()
    assert a["prediction"].tolist() == b["prediction"].tolist()
    numbers = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(a[numbers], b[numbers], rtol=1e-6, atol=1e-6)
    pd.testing.assert_frame_equal(whole.subsets, sharded.subsets, rtol=1e-6, atol=1e-6)
    assert {u["shards"] for u in sharded.manifest["units"]} == {4}
    assert sharded.manifest["execution"]["shard_size"] == 3
    assert len(list((tmp_path / "sharded" / "units" / "shards").glob("*.json"))) == 16
    # A shard already stored is reused: drop one unit's merged entry, keep its shards.
    unit = sorted((tmp_path / "sharded" / "units").glob("*.json"))[0]
    unit.unlink()
    again = run_study(config, tmp_path / "sharded", progress=False, log=quiet, shard_size=3)
    assert sum(not u["from_cache"] for u in again.manifest["units"]) == 1
    assert all(p.get("retries", 0) == 0 for u in again.manifest["units"] for p in u["ran_on"])
    assert_same_outputs(study_outputs(tmp_path / "sharded"), study_outputs(tmp_path / "sharded"))


@pytest.fixture
def qa_args(tmp_path, tiny_model) -> list[str]:
    data = squad_json(tmp_path / "dev.json", copies=1)
    base = ["study", "qa", "--data", str(data), "--out", str(tmp_path / "o")]
    base += ["--quiet", "--figures", "none"]
    return [*base, "--model", str(tiny_model("bert", "qa")), "--subsets", "1", "--subset-size", "4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "spark"], "Invalid value for '--executor'"),
        (["--address", "auto"], "--address needs --executor ray"),
        (["--shard-size", "0"], "--shard-size must be at least 1"),
        (["--executor", "ray", "--cpus-per-unit", "0"], "--cpus-per-unit must be positive"),
        (["--executor", "ray", "--max-retries", "-1"], "--max-retries must be at least 0"),
    ],
)
def test_executor_options_are_one_line(qa_args, run_cli, args, message) -> None:
    code, _, err = run_cli(*qa_args, *args)
    assert code == 2 and err.count("\n") == 1 and message in err, (args, err)


def test_ray_missing_is_one_line_and_computes_nothing(
    qa_args, tmp_path, run_cli, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code, _, err = run_cli(*qa_args, "--executor", "ray")
    assert code == 2 and 'pip install "ctxvec[ray]"' in err
    assert not list((tmp_path / "o" / "units").glob("*.json"))


def test_the_local_executor_needs_no_ray(qa_args, tmp_path, run_cli, monkeypatch, manifest_units):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code, _, err = run_cli(*qa_args)
    assert code == 0, err
    assert manifest_units(tmp_path / "o")[0]["ran_on"][0]["retries"] == 0


def test_make_executor() -> None:
    assert make_executor("ray", "auto").address == "auto"
    with pytest.raises(CtxvecError, match="gpus_per_unit must be 0 or more"):
        RayExecutor(gpus_per_unit=-1)


def test_a_worker_loads_a_hub_model_from_its_own_hub_cache(
    tmp_path, tiny_model, hub_cache, monkeypatch
) -> None:
    """A unit planned on the driver names a hub snapshot folder that a worker does not have:
    the worker resolves the id in its own hub cache, and refuses another revision."""
    import dataclasses

    from huggingface_hub import constants

    from ctxvec.study.shards import load_unit_model
    from ctxvec.study.units import Unit
    from ctxvec.tasks import get_task
    from ctxvec.tasks.qa import QASettings

    repo, sha = "tiny-org/bert-squad2", "89abcdef0123456789abcdef0123456789abcdef"
    source = tiny_model("bert", "qa")
    worker_cache = hub_cache(tmp_path / "worker-hub", repo, source, sha)
    unit = Unit(
        task=get_task("qa"), model=ModelSpec(repo),
        model_path=str(tmp_path / "driver-hub" / "gone"), model_revision=sha,
        model_fingerprint=f"{repo}@{sha}", subset=0, data="d", split="s", data_fingerprint="f",
        example_ids=("a",), settings=QASettings(), device="cpu", dtype="float32",
        allow_untrained_head=False,
    )  # fmt: skip
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(worker_cache))
    lm = load_unit_model(unit)
    assert lm.resolved.path.startswith(str(worker_cache)) and lm.resolved.revision == sha
    other = dataclasses.replace(unit, model_fingerprint=f"{repo}@{'0' * 40}")
    with pytest.raises(CtxvecError, match="is not the one the study planned with"):
        load_unit_model(other)
