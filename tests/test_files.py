"""Faults of the file system lose nothing (``ctxvec.files``): a full or read-only disk, a
folder the user may not write, a path under a file and a folder in use each end in one line
(exit 2 in the CLI, :class:`CtxvecError` in the API), and what was finished stays valid.

Each case is listed, with what the user sees, in ``docs/reliability.md``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out


@pytest.fixture
def tmpfs(tmp_path, processes):
    """``tmpfs(options)``: a tmpfs mounted with ``options`` under this test's folder, unmounted
    afterwards; skips where mounting needs root."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        disk = tmp_path / f"disk{len(mounted)}"
        disk.mkdir()
        if processes.run("mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)).returncode:
            pytest.skip("mounting a tmpfs needs root")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        processes.run("umount", "-l", str(disk), check=True)


def test_a_full_disk_is_one_line_and_finished_units_stay_valid(
    clean_run, tmpfs, tmp_path, run_cli, leftovers, manifest_units, study_outputs,
    assert_same_outputs,
) -> None:  # fmt: skip
    disk = tmpfs("size=300k")
    code, _, err = run_cli(*clean_run.args(disk / "out"))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no space left on the device" in err and str(disk) in err
    assert not leftovers(disk)
    finished = sorted((disk / "out" / "units").glob("*.json"))
    assert finished, "the disk should fill after some units, not before the first"
    # What was finished is valid: another study reuses every finished unit as it is.
    big = tmp_path / "big"
    code, _, err = run_cli(*clean_run.args(big), "--cache-dir", str(disk / "out" / "units"))
    assert code == 0, err
    assert sum(u["from_cache"] for u in manifest_units(big)) == len(finished)
    assert_same_outputs(study_outputs(big), clean_run.outputs)


def test_a_read_only_filesystem_is_one_line(clean_run, tmpfs, run_cli) -> None:
    disk = tmpfs("size=1m,ro")
    code, _, err = run_cli(*clean_run.args(disk / "out"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "read-only" in err and str(disk) in err


WRITE = """
import sys
from ctxvec.errors import CtxvecError
from ctxvec.files import write_text
try:
    write_text(sys.argv[1], "x")
except CtxvecError as e:
    print(e)
"""


def test_permission_denied_is_one_line(processes) -> None:
    """Root may write anywhere: the write runs as the unprivileged user ``nobody``."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("writing as another user needs root and setpriv")
    top = Path(tempfile.mkdtemp(prefix="ctxvec-perm-", dir="/tmp"))  # pytest's are private
    top.chmod(0o755)
    locked = top / "locked"
    locked.mkdir(mode=0o555)
    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    # A checkout in a private folder (mktemp -d makes one) is unreadable to nobody: the import
    # then fails before any write is tried, and there is nothing to test.
    probe = processes.run(*as_nobody, processes.python, "-c", "import ctxvec.files", timeout=60,
                          cwd="/")  # fmt: skip
    if probe.returncode != 0:
        pytest.skip("user nobody cannot read ctxvec's files here (a private checkout folder)")
    run = processes.run(
        *as_nobody, processes.python, "-c", WRITE, str(locked / "out" / "report.html"),
        timeout=60, cwd="/",
    )  # fmt: skip
    assert run.stdout.strip() == (
        f"cannot write '{locked / 'out'}': permission denied; choose a folder you can write to "
        "(--out / --cache-dir)"
    ), run.stderr
    assert not list(locked.iterdir())
    shutil.rmtree(top)


def test_an_output_path_under_a_file_is_one_line(clean_run, tmp_path, run_cli) -> None:
    (tmp_path / "some-file").write_text("not a folder")
    code, _, err = run_cli(*clean_run.args(tmp_path / "some-file" / "x"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "is a file, not a folder" in err and "some-file" in err


HOLD = """
import sys, time
from ctxvec.files import exclusive
with exclusive(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_busy_folder_is_refused_before_the_slow_imports(clean_run, processes) -> None:
    """The command line takes the output folder first: its refusal is its first line, in
    seconds, before torch is imported."""
    holder = processes.start(
        processes.python, "-c", HOLD, str(clean_run.out), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        run = processes.run(processes.ctxvec, *clean_run.args(clean_run.out))
        seconds = time.perf_counter() - started
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines()[0].startswith(f"ctxvec: error: output folder '{clean_run.out}")
    assert "is in use by another study" in run.stderr
    assert seconds < 3, seconds


def test_a_folder_in_use_stops_the_second_study_at_once(
    clean_run, processes, run_cli, study_outputs, assert_same_outputs
) -> None:
    holder = processes.start(
        processes.python, "-c", HOLD, str(clean_run.out), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(*clean_run.args(clean_run.out))
        assert code == 2 and err.count("\n") == 1
        assert f"is in use by another study (process {holder.pid})" in err
    finally:
        holder.kill()  # SIGKILL: the operating system releases the lock
        holder.wait()
    code, _, err = run_cli(*clean_run.args(clean_run.out))
    assert code == 0, err
    assert_same_outputs(study_outputs(clean_run.out), clean_run.outputs)
