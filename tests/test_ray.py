"""The Ray executor on a real Ray, in a private network namespace (see ``tests/ray_checks.py``).

The checks run in a pytest of their own inside ``unshare --net``: a namespace with only a
loopback interface, where Ray's servers can bind to 127.0.0.1 alone and nothing can leave the
machine. Every Ray process started there is stopped by the checks, by process id, and the
namespace goes with them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _namespace_available() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespace_available(), reason="needs unshare --net (root)")
def test_ray_checks_pass_in_a_loopback_only_namespace() -> None:
    pytest.importorskip("ray", reason='Ray is an extra: pip install "ctxvec[ray]"')
    pytest_ = f"{sys.executable} -m pytest -q -p no:cacheprovider -s --durations=0"
    inner = f"ip link set lo up && exec {pytest_}"
    # Ray's sessions in a folder of this run's: nothing shared with another Ray on the machine.
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as ray_tmp:  # short: socket paths
        run = subprocess.run(
            ["unshare", "--net", "--", "sh", "-c", f"{inner} tests/ray_checks.py"],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
            env={**os.environ, "RAY_TMPDIR": ray_tmp},
        )  # fmt: skip
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout.splitlines()[-1] and "failed" not in run.stdout.splitlines()[-1]
