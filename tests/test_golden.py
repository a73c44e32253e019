"""Golden outputs: a fixed QA study and a fixed classification study on tiny checkpoints.

The files under ``tests/golden/`` hold the ``examples.parquet`` rows, the ``subsets.csv`` rows
and ``correlations.json`` of two small studies (three families each, two subsets, every layer,
sliding QA windows). A refactoring that changes none of the tool's behaviour leaves them equal:
to 1e-12 on the CPU that wrote them, and to float32 rounding (1e-5) on another CPU, whose
matrix-multiply kernels may sum in another order.

Regenerate them only for an intended change of results, and say why in the commit::

    HF_HUB_OFFLINE=1 .venv/bin/python tests/test_golden.py --write
"""

from __future__ import annotations

import json
import math
import platform
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from sample_data import reviews, squad_json
from tiny_models import make_tiny_model

from ctxvec import ClsSettings, ModelSpec, QASettings, StudyConfig, run_study

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

GOLDEN = Path(__file__).parent / "golden"
STUDIES = {
    "qa": (
        ("bert", "roberta", "xlnet"),
        QASettings(max_length=48, stride=16, batch_size=3, layers="all"),
        5,
    ),
    "cls": (("bert", "albert", "deberta-v2"), ClsSettings(batch_size=3, layers="all"), 8),
}


def cpu_name() -> str:
    """The CPU's kind: its model name, family and model number. Golden numbers are exact only on
    the kind that wrote them; two generations can share a name ("AMD EPYC") and still round
    float32 matrix products differently."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields:
        name += f", family {fields['cpu family']}, model {fields.get('model', '?')}"
    return name


def run_fixed_study(task: str, root: Path) -> dict:
    """Run one of the fixed studies under ``root``; return its outputs as plain JSON data."""
    families, settings, size = STUDIES[task]
    if task == "qa":
        data = squad_json(root / "dev.json")
    else:
        data = reviews(root / "reviews.parquet", ["neg", "pos"] * 12)
    models = tuple(
        ModelSpec(str(make_tiny_model(f, task, root / f"{f}-{task}")), f) for f in families
    )
    config = StudyConfig(
        figures=(),
        task=task,
        models=models,
        data=str(data),
        subsets=2,
        subset_size=size,
        settings=settings,
        device="cpu",
        dtype="float32",
    )
    out = root / "out"
    run_study(config, out, progress=False, log=lambda *_: None)
    examples = pd.read_parquet(out / "examples.parquet")
    return {
        "cpu": cpu_name(),
        "examples": _records(examples),
        "subsets": _records(pd.read_csv(out / "subsets.csv")),
        "correlations": json.loads((out / "correlations.json").read_text()),
    }


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(value: object) -> object:
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("task", sorted(STUDIES))
def test_outputs_equal_the_golden_files(task: str, tmp_path: Path, assert_close) -> None:
    want = json.loads((GOLDEN / f"{task}.json").read_text())
    got = run_fixed_study(task, tmp_path)
    tol = 1e-12 if got["cpu"] == want["cpu"] else 1e-5
    for part in ("examples", "subsets", "correlations"):
        assert_close(got[part], want[part], tol, f"{task}.{part}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write")
    GOLDEN.mkdir(exist_ok=True)
    for name in STUDIES:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_fixed_study(name, Path(tmp))
        (GOLDEN / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {GOLDEN / f'{name}.json'}")
