"""The unit cache: what keys a unit, what a damaged entry costs, and that a study stopped by a
bad model keeps what it finished."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from sample_data import squad_json
from transformers import AutoModelForQuestionAnswering

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out


def qa_args(data: Path, out: Path, *models: Path, subsets: int, size: int) -> list[str]:
    args = ["study", "qa", "--data", str(data), "--out", str(out), "--quiet", "--figures", "none"]
    for m in models:
        args += ["--model", str(m)]
    return [*args, "--subsets", str(subsets), "--subset-size", str(size)]


def test_kernels_off_is_recorded_and_keyed(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    out = tmp_path / "o"
    base = qa_args(data, out, tiny_model("bert", "qa"), subsets=1, size=4)
    base += ["--dtype", "bfloat16"]
    assert run_cli(*base).code == 0
    auto = json.loads((out / "manifest.json").read_text())
    assert run_cli(*base, "--kernels", "off").code == 0
    off = json.loads((out / "manifest.json").read_text())
    assert auto["config"]["settings"]["kernels"] == "auto"
    assert off["config"]["settings"]["kernels"] == "off"
    assert auto["units"][0]["cpu_kernels"]["per_sequence_attention"]
    assert off["units"][0]["cpu_kernels"] == {
        "packed_linear": False,
        "per_sequence_attention": False,
    }
    assert not off["units"][0]["from_cache"] and off["units"][0]["key"] != auto["units"][0]["key"]


def test_changed_settings_are_not_served_from_cache(
    tmp_path, tiny_model, run_cli, manifest_units
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    base = qa_args(data, tmp_path / "o", tiny_model("roberta", "qa"), subsets=2, size=4)
    assert run_cli(*base).code == 0
    assert run_cli(*base, "--layer", "1").code == 0
    assert not any(u["from_cache"] for u in manifest_units(tmp_path / "o"))
    assert run_cli(*base, "--seed", "3").code == 0
    assert not any(u["from_cache"] for u in manifest_units(tmp_path / "o"))


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
    tmp_path, tiny_model, run_cli, manifest_units
) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    good = tiny_model("bert", "qa")
    bad = broken_model(tmp_path / "zeroed", good)
    out = tmp_path / "out"
    args = qa_args(data, out, good, subsets=2, size=4)
    code, _, err = run_cli(*args, "--model", str(bad))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "undefined" in err and "zeroed" in err
    assert len(list((out / "units").glob("bert-qa__*.json"))) == 2
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert all(u["from_cache"] for u in manifest_units(out))


# --------------------------------------------------------------------------- damaged entries


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _rewrite_marker(path: Path, **changes) -> None:
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


DAMAGE = {
    "marker cut to 20 bytes": lambda units: _truncate(next(units.glob("*.json")), 20),
    "rows cut to 100 bytes": lambda units: _truncate(next(units.glob("*.parquet")), 100),
    "another unit's rows copied over": lambda units: shutil.copy(
        sorted(units.glob("*.parquet"))[1], sorted(units.glob("*.parquet"))[0]
    ),
    "another unit's marker and rows copied over": lambda units: [
        shutil.copy(sorted(units.glob(f"*{ext}"))[1], sorted(units.glob(f"*{ext}"))[0])
        for ext in (".json", ".parquet")
    ],
    "a marker of an older format": lambda units: _rewrite_marker(
        next(units.glob("*.json")), format=2
    ),
    "the rows file deleted": lambda units: next(units.glob("*.parquet")).unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_cache_entry_is_reported_and_recomputed(
    clean_run, run_cli, manifest_units, study_outputs, assert_same_outputs, damage
) -> None:
    DAMAGE[damage](clean_run.out / "units")
    code, stdout, err = run_cli(*clean_run.args(clean_run.out))
    assert code == 0, err
    warnings = [line for line in stdout.splitlines() if "is unusable" in line]
    assert len(warnings) == 1, stdout
    recomputed = [u for u in manifest_units(clean_run.out) if not u["from_cache"]]
    assert len(recomputed) == 1  # the damaged unit only
    assert_same_outputs(study_outputs(clean_run.out), clean_run.outputs)
