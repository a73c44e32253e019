"""``kill -9`` at six moments of a study, then the same command again: each rerun finishes with
the results of an uninterrupted run and recomputes no unit that had finished.

The moments are spread over the whole study: trial k waits until an evenly spaced number of
units have finished (from none to all of them), in a seeded order, and then a seeded fraction of
a second more, so kills land while a unit computes, while one is written, and while the outputs
are written.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sample_data import squad_json

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

TRIALS = 6


def test_kill_9_at_random_moments_loses_nothing(
    tmp_path, tiny_model, run_cli, processes, manifest_units, markers, leftovers, study_outputs,
    assert_same_outputs,
) -> None:  # fmt: skip
    data = squad_json(tmp_path / "dev.json", copies=2)
    models = [tiny_model(f, "qa") for f in ("bert", "xlnet")]

    def args(out: Path) -> list[str]:
        cmd = ["study", "qa", "--data", str(data), "--out", str(out)]
        cmd += ["--quiet", "--figures", "none"]
        for m in models:
            cmd += ["--model", str(m)]
        return [*cmd, "--subsets", "4", "--subset-size", "4", "--batch-size", "1"]

    reference = tmp_path / "reference"
    code, _, err = run_cli(*args(reference))
    assert code == 0, err
    want = study_outputs(reference)
    n_units = len(manifest_units(reference))
    rng = np.random.default_rng(0)
    killed_while = []
    # From no unit finished to all of them (then the kill lands while writing the outputs).
    waits = rng.permutation(np.linspace(0, n_units, TRIALS).round().astype(int))
    for trial, wait_for in enumerate(waits):
        out = tmp_path / f"trial{trial}"
        child = processes.start(
            processes.ctxvec, *args(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if len(markers(out / "units")) >= wait_for:
                break
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.3)))
        child.kill()  # SIGKILL: no handler runs
        child.wait()
        finished = {p.name for p in markers(out / "units")}
        killed_while.append((wait_for, len(finished), child.returncode))
        code, _, err = run_cli(*args(out))
        assert code == 0, (trial, err)
        units = manifest_units(out)
        reused = {u["key"] for u in units if u["from_cache"]}
        assert {name.rsplit("__", 1)[1].removesuffix(".json") for name in finished} <= reused
        assert len(units) - len(reused) == n_units - len(finished), trial  # the rest, once
        assert_same_outputs(study_outputs(out), want)
        assert not leftovers(out)
    # The kills covered the study: before any unit, between units, and after the last one.
    done = [n for _, n, _ in killed_while]
    print(f"killed with {done} of {n_units} units finished")  # shown by pytest -s
    assert min(done) < n_units and max(done) > 0, killed_while
    assert sum(code == -9 for *_, code in killed_while) >= TRIALS - 1, killed_while  # real kills
