"""Packaging: version ranges in pyproject.toml, the lock that pins them, and a real wheel.

The wheel test builds ctxvec from a clean copy of the sources, installs the lock's CPU torch
into a fresh virtual environment first (as setup.sh does), then the wheel with its dependencies
held to the lock's versions, and checks that torch was left exactly as it was, that the command
runs, and that the assets came along. It takes about 40 s on 2 cores with a warm pip cache (the
packages are those setup.sh downloaded); bytecode compilation is skipped to keep it so.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves this module out

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = ROOT / "requirements.lock"
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
ASSETS = sorted(p.name for p in (ROOT / "src" / "ctxvec" / "assets").iterdir() if p.is_file())


def lock_pins() -> dict[str, tuple[str, list[str]]]:
    """The lock as {canonical name: (exact version, hashes)}."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = None
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line:
            continue
        if line.startswith("--hash="):
            assert name is not None, raw
            pins[name][1].append(line.removeprefix("--hash="))
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==(\S+)", line)
        assert match, f"requirements.lock: not an exact pin: {raw!r}"
        name = canonicalize_name(match[1])
        pins[name] = (match[3], [])
    return pins


def declared() -> list[Requirement]:
    """[project].dependencies and every extra's requirements."""
    project = PYPROJECT["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def test_dependencies_are_ranges_with_lower_bounds() -> None:
    for text in PYPROJECT["project"]["dependencies"]:
        assert "==" not in text, f"exact pin in [project].dependencies: {text}"
        req = Requirement(text)
        assert any(s.operator == ">=" for s in req.specifier), f"no lower bound: {text}"
        assert all(s.operator in {">=", "<"} for s in req.specifier), text


def test_lock_pins_every_declared_dependency_within_its_range() -> None:
    pins = lock_pins()
    assert all(hashes for _, hashes in pins.values()), "every pin in the lock carries its hashes"
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared but not in requirements.lock: update the lock"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside {req}: update the lock"
        )
    # The CPU build of torch, as setup.sh installs it first.
    assert Version(pins["torch"][0]).local == "cpu"


@pytest.fixture
def run(processes) -> Callable[..., subprocess.CompletedProcess]:
    """``run(args, cwd, timeout=600)``: a command that must succeed, outside this checkout's
    ``PYTHONPATH``, with pip quiet about its version and writing no bytecode."""
    env = processes.env(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)

    def run_ok(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
        done = processes.run(*args, cwd=cwd, env=env, timeout=timeout)
        assert done.returncode == 0, (
            f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done

    return run_ok


def torch_state(run, python: Path, site: Path, cwd: Path) -> dict[str, object]:
    """torch's version and its installed files' record: content hash, inode and mtime."""
    (record,) = site.glob("torch-*.dist-info/RECORD")
    version = run([str(python), "-c", "import torch; print(torch.__version__)"], cwd).stdout
    stat = record.stat()
    init = site / "torch" / "__init__.py"
    return {
        "version": version.strip(),
        "dist_info": record.parent.name,
        "record_sha256": hashlib.sha256(record.read_bytes()).hexdigest(),
        "record_inode": (stat.st_ino, stat.st_mtime_ns),
        "init_inode": (init.stat().st_ino, init.stat().st_mtime_ns),
    }


def test_wheel_installs_beside_cpu_torch_and_carries_its_assets(tmp_path, run) -> None:
    # A clean copy of the sources: setuptools' build/ folder may hold files deleted since.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."], source)
    (wheel,) = dist.glob("ctxvec-*.whl")
    version = PYPROJECT["project"]["version"]
    assert wheel.name == f"ctxvec-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        inside = {n for n in zf.namelist() if n.startswith("ctxvec/")}
    package = ROOT / "src" / "ctxvec"
    expected = {
        f"ctxvec/{p.relative_to(package).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert inside == expected  # every module, subpackage and asset; nothing stale

    # A fresh environment with the lock's CPU torch installed first, as setup.sh does.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", PURELIB], tmp_path).stdout.strip())
    pins = lock_pins()
    vpip = [str(python), "-m", "pip", "install", "--no-compile"]
    run([*vpip, f"torch=={pins['torch'][0]}"], tmp_path)
    before = torch_state(run, python, site, tmp_path)
    assert before["version"] == pins["torch"][0]

    # The wheel, its dependencies resolved from the registry within the lock's exact versions
    # (hashes dropped: pip's hash mode would want one for the freshly built wheel too).
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, (v, _) in pins.items()), encoding="utf-8")
    done = run([*vpip, "-c", str(constraints), str(wheel)], tmp_path)
    installed = next(x for x in done.stdout.splitlines() if x.startswith("Successfully installed"))
    assert "ctxvec-" in installed
    assert not re.search(r"\b(torch|nvidia-[\w-]+|triton)-\d", installed), installed
    assert torch_state(run, python, site, tmp_path) == before
    run([str(python), "-m", "pip", "check"], tmp_path)

    ctxvec = str(venv / "bin" / "ctxvec")
    assert run([ctxvec, "--version"], tmp_path).stdout == f"ctxvec {version}\n"
    assert "study" in run([ctxvec, "--help"], tmp_path, timeout=60).stdout
    assert "minilm" in run([ctxvec, "panels"], tmp_path, timeout=60).stdout
    probe = (
        "import ctxvec, importlib.resources as r; print(ctxvec.__file__); "
        "print(*sorted(p.name for p in (r.files('ctxvec') / 'assets').iterdir()))"
    )
    where, assets = run([str(python), "-c", probe], tmp_path).stdout.splitlines()
    assert Path(where).is_relative_to(site)  # the installed copy, not the source tree
    assert assets.split() == ASSETS
    for name in ASSETS:
        shipped = (site / "ctxvec" / "assets" / name).read_bytes()
        assert shipped == (package / "assets" / name).read_bytes(), name
