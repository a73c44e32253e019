"""Models named by hub id, resolved offline through a local hub cache as a user's shell runs
``ctxvec``, and a checkpoint without a trained head."""

from __future__ import annotations

import json

import pytest
from sample_data import squad_json

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

REPO = "tiny-org/roberta-squad2"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def hub_study(tmp_path_factory, tiny_model, hub_cache, processes):
    """``hub_study(model_id, out)``: the real entry point, in a process of its own, reading the
    hub cache named by ``HF_HUB_CACHE`` (which huggingface_hub reads when it is imported)."""
    root = tmp_path_factory.mktemp("hub")
    cache = hub_cache(root / "hub", REPO, tiny_model("roberta", "qa"), SHA)
    data = squad_json(root / "dev.json", copies=1)
    env = processes.env(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")

    def run(model_id: str, out):
        args = ["study", "qa", "--data", str(data), "--out", str(out), "--model", model_id]
        return processes.run(processes.ctxvec, *args, "--subsets", "2", "--subset-size", "5",
                             "--figures", "none", env=env)  # fmt: skip

    return run


def test_hub_ids_resolve_through_the_hub_cache(hub_study, tmp_path) -> None:
    done = hub_study(REPO, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    model = json.loads((tmp_path / "out" / "manifest.json").read_text())["models"][0]
    assert model["revision"] == SHA
    assert model["fingerprint"] == f"{REPO}@{SHA}"
    assert f"{REPO} subset 0: n=5 " in done.stdout


def test_a_misspelt_hub_id_is_one_line(hub_study, tmp_path) -> None:
    done = hub_study("tiny-org/robreta-squad2", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "tiny-org/robreta-squad2" in done.stderr


def test_untrained_head_runs_with_the_flag(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    args = ["study", "qa", "--data", str(data), "--model", str(tiny_model("bert", "base"))]
    args += ["--subsets", "1", "--subset-size", "5", "--out", str(tmp_path / "o")]
    args += ["--quiet", "--figures", "none"]
    code, _, err = run_cli(*args, "--allow-untrained-head")
    assert code == 0, err
