"""The Ray executor on a real Ray, in a private network namespace (see ``ray_checks.py`` here).

The checks run in a pytest of their own inside ``unshare --net``: a namespace with only a
loopback interface, where Ray's servers can bind to 127.0.0.1 alone and nothing can leave the
machine. Every Ray process started there is stopped by the checks, by process id, and the
namespace goes with them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

ROOT = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).with_name("ray_checks.py").relative_to(ROOT)


def test_ray_checks_pass_in_a_loopback_only_namespace(processes) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare --net (root)")
    if processes.run("unshare", "--net", "true").returncode != 0:
        pytest.skip("needs unshare --net (root)")
    pytest.importorskip("ray", reason='Ray is an extra: pip install "ctxvec[ray]"')
    pytest_ = f"{processes.python} -m pytest -q -p no:cacheprovider -s --durations=0"
    inner = f"ip link set lo up && exec {pytest_}"
    # Ray's sessions in a folder of this run's: nothing shared with another Ray on the machine.
    with tempfile.TemporaryDirectory(prefix="r", dir="/tmp") as ray_tmp:  # short: socket paths
        run = processes.run(
            "unshare", "--net", "--", "sh", "-c", f"{inner} {CHECKS}",
            cwd=ROOT, timeout=900, env=processes.env(RAY_TMPDIR=ray_tmp),
        )  # fmt: skip
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert " passed" in run.stdout.splitlines()[-1] and "failed" not in run.stdout.splitlines()[-1]
