"""Shared fixtures, and where the tests live.

The folders mirror the package (``src/ctxvec/``): ``tests/cli/`` for ``ctxvec.cli``,
``tests/study/`` for ``ctxvec.study``, and so on for ``offline``, ``attention``, ``report``,
``tasks``, ``inference``, ``metrics``, ``loading`` and ``data``; a test lives with the code whose
behaviour it checks, even when it drives that code through the command line. Only whole-tool
checks sit at the top: ``test_golden.py`` (fixed studies against ``golden/``),
``test_packaging.py`` (the lock and a real wheel), ``test_notebook.py`` (the quickstart in a
Jupyter kernel), ``test_fuzz.py`` (every loader of a user's files: data and panels) and
``test_files.py`` (``ctxvec.files``: full and read-only disks, permissions, a folder in use).
``study/ray_checks.py`` is no test module of the main run: ``study/test_ray.py`` runs it with a
pytest of its own in a private network namespace. The faults of ``docs/reliability.md`` are
checked where their code lives: a damaged cache in ``study/test_cache.py``, ``kill -9`` in
``study/test_interrupt.py``, impossible options in ``study/test_config.py`` and
``cli/test_study_command.py``, malformed data in ``data/test_loaders.py``, long inputs in
``tasks/test_long_inputs.py``, disks and locks in ``test_files.py``.

Test modules never import one another: what several use is a fixture here (or in a folder's
``conftest.py`` when only that folder uses it); constants and functions needed at collection
time live in the helper modules ``tiny_models.py`` (tiny checkpoints of every family),
``media_models.py`` (tiny image and audio checkpoints of every mapped type, with their
preprocessors) and ``sample_data.py`` (data files, texts, panel names, the real data's
location).

- Models: ``tiny_model`` (a checkpoint's folder, built once per session), ``tiny_lm`` (loaded),
  ``mpnet_weights`` (the real all-mpnet-base-v2 folder, or a skip).
- The command line: ``run_cli`` runs ``ctxvec`` in this process and is the one way tests drive
  it; ``processes`` starts a separate process, only where one is the point (``kill -9``, a start
  without torch, another user, a network namespace, a fresh interpreter, a wheel's venv).
- Run folders: ``synthetic_run`` (made-up numbers), ``clean_run`` (a finished QA study),
  ``manifest_units``, ``study_outputs``, ``assert_same_outputs``, ``markers``, ``leftovers``,
  ``hub_cache``, ``assert_close``.
- Oracles: ``oracles`` (the documented formulas, unbatched, in float64).
- A headless Chromium: ``browser``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    import numpy as np

    from ctxvec.loading import LoadedModel
    from ctxvec.report import Run

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from sample_data import squad_json
from tiny_models import make_tiny_model
from transformers.utils import logging as transformers_logging

transformers_logging.disable_progress_bar()  # save_pretrained's bars would pollute stderr checks

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


# ------------------------------------------------------------------------------------ models


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_model(family, task, **kwargs)``: the directory of a tiny checkpoint (cached)."""
    root = tmp_path_factory.mktemp("tiny_models")
    built: dict[tuple, Path] = {}

    def get(family: str, task: str, **kwargs) -> Path:
        key = (family, task, *sorted(kwargs.items(), key=str))
        if key not in built:
            name = "-".join(str(part) for part in key).replace("/", "_").replace(" ", "")
            built[key] = make_tiny_model(family, task, root / name, **kwargs)
        return built[key]

    return get


@pytest.fixture(scope="session")
def tiny_lm(tiny_model) -> Callable[..., LoadedModel]:
    """``tiny_lm(family, task, dtype="auto", **kwargs)``: a tiny checkpoint (``tiny_model``'s
    ``kwargs``) loaded on the CPU with the task's head, as a study loads it; a fresh copy each
    call, so that a test may change it. ``CTXVEC_TEST_DEVICE=cuda`` loads it on that device
    instead (``benchmarks/device_check.sh``); tests that build their own CPU tensors for the
    model then fail there, the ones through ctxvec's pass and ``oracles`` do not."""
    from ctxvec.loading import ModelSpec, load_model, resolve_model
    from ctxvec.tasks import get_task

    def load(family: str, task: str, dtype: str = "auto", **kwargs) -> LoadedModel:
        spec = ModelSpec(str(tiny_model(family, task, **kwargs)))
        device = os.environ.get("CTXVEC_TEST_DEVICE", "cpu")
        return load_model(resolve_model(spec), get_task(task).head, device, dtype)

    return load


@pytest.fixture(scope="session")
def mpnet_weights() -> Path:
    """The folder of the real all-mpnet-base-v2 weights; skips, saying why, without them."""
    from ctxvec.errors import CtxvecError
    from ctxvec.loading.panels import mpnet_dir

    try:
        return mpnet_dir("the all-mpnet-base-v2 tests")
    except CtxvecError as e:
        pytest.skip(str(e))


# ------------------------------------------------------------------------- the command line


class Result(NamedTuple):
    """What one ``ctxvec`` command gave: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., Result]:
    """``run_cli(*args) -> Result(code, out, err)``: ``ctxvec ARGS`` in this process.

    The entry point itself (:func:`ctxvec.cli.app.main`) with ``sys.argv`` set, its stdout and
    stderr captured and its ``SystemExit`` turned into the exit code. Session-scoped (it needs
    no ``capsys``), so module-scoped fixtures can run a study through it.
    """
    from ctxvec.cli.app import main

    def run(*args: str) -> Result:
        out, err = io.StringIO(), io.StringIO()
        argv = sys.argv
        sys.argv = ["ctxvec", *args]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        finally:
            sys.argv = argv
        return Result(code, out.getvalue(), err.getvalue())

    return run


class Processes:
    """Commands in a process of their own: the one way tests start one."""

    python = sys.executable
    ctxvec = str(Path(sys.executable).parent / "ctxvec")  # the installed entry point
    ray = str(Path(sys.executable).parent / "ray")

    @staticmethod
    def env(**extra: str) -> dict[str, str]:
        """This environment without forced width or colours, plus ``extra``."""
        base = {k: v for k, v in os.environ.items() if k not in {"TERMINAL_WIDTH", "FORCE_COLOR"}}
        return {**base, "NO_COLOR": "1", "TOKENIZERS_PARALLELISM": "false", **extra}

    def run(
        self,
        *command: str,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 300,
        cwd: str | Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` to its end; its output captured as text."""
        return subprocess.run(
            command, env=self.env() if env is None else env, cwd=cwd, capture_output=True,
            text=True, timeout=timeout, check=check,
        )  # fmt: skip

    def start(
        self, *command: str, env: Mapping[str, str] | None = None, **popen: Any
    ) -> subprocess.Popen:
        """Start ``command`` and return at once (``popen``: :class:`subprocess.Popen`'s options)."""
        return subprocess.Popen(command, env=self.env() if env is None else env, **popen)


@pytest.fixture(scope="session")
def processes() -> Processes:
    """Separate processes, only where one is the point of a test: ``processes.run(...)``,
    ``processes.start(...)``, ``processes.env(...)``; ``processes.ctxvec``, ``.python``, ``.ray``
    are this environment's executables."""
    return Processes()


# ---------------------------------------------------------------------------- run folders


@pytest.fixture(scope="session")
def manifest_units() -> Callable[[Path], list[dict]]:
    """``manifest_units(out)``: the units of a run folder's ``manifest.json``."""

    def units(out: Path) -> list[dict]:
        return json.loads((out / "manifest.json").read_text())["units"]

    return units


@pytest.fixture(scope="session")
def study_outputs() -> Callable[[Path], dict[str, Any]]:
    """``study_outputs(out)``: a run folder's examples, subsets and correlations."""
    import pandas as pd

    def read(out: Path) -> dict[str, Any]:
        return {
            "examples": pd.read_parquet(out / "examples.parquet"),
            "subsets": pd.read_csv(out / "subsets.csv"),
            "correlations": json.loads((out / "correlations.json").read_text()),
        }

    return read


@pytest.fixture(scope="session")
def assert_same_outputs() -> Callable[[dict, dict], None]:
    """``assert_same_outputs(got, want)``: two ``study_outputs`` are equal."""
    import pandas as pd

    def check(got: dict, want: dict) -> None:
        pd.testing.assert_frame_equal(got["examples"], want["examples"])
        pd.testing.assert_frame_equal(got["subsets"], want["subsets"])
        assert got["correlations"] == want["correlations"]

    return check


@pytest.fixture(scope="session")
def markers() -> Callable[..., list[Path]]:
    """``markers(folder, below=False)``: the completion markers in ``folder`` (``below``: in its
    sub-folders too), not the temporary files of a write in progress (``.name.tmp...``)."""

    def find(folder: Path, below: bool = False) -> list[Path]:
        found = folder.rglob("*.json") if below else folder.glob("*.json")
        return [p for p in found if not p.name.startswith(".")]

    return find


@pytest.fixture(scope="session")
def leftovers() -> Callable[[Path], list[Path]]:
    """``leftovers(folder)``: temporary or partial files (the atomic writers' ``.name.*``
    files), not the lock."""
    from ctxvec.files import LOCK_NAME

    def find(folder: Path) -> list[Path]:
        return [p for p in folder.rglob(".*") if p.is_file() and p.name != LOCK_NAME]

    return find


@dataclass
class CleanRun:
    """A finished QA study: its data, models, folder and (once run) outputs."""

    data: Path
    models: tuple[Path, ...]
    out: Path
    outputs: dict[str, Any] = field(default_factory=dict)

    def args(self, out: Path) -> list[str]:
        """The command line of this study, written to ``out``."""
        args = ["study", "qa", "--data", str(self.data), "--out", str(out)]
        args += ["--quiet", "--figures", "none"]
        for m in self.models:
            args += ["--model", str(m)]
        return [*args, "--subsets", "3", "--subset-size", "3"]


@pytest.fixture
def clean_run(tmp_path, tiny_model, run_cli, study_outputs) -> CleanRun:
    """A finished QA study of two tiny models x 3 subsets of 3, through the command line, in a
    folder of this test's own (tests may damage it)."""
    run = CleanRun(
        squad_json(tmp_path / "dev.json", copies=1),
        (tiny_model("bert", "qa"), tiny_model("roberta", "qa")),
        tmp_path / "clean",
    )
    code, _, err = run_cli(*run.args(run.out))
    assert code == 0, err
    run.outputs = study_outputs(run.out)
    return run


@pytest.fixture(scope="session")
def hub_cache() -> Callable[[Path, str, Path, str], Path]:
    """``hub_cache(root, repo, source, sha)``: a local hub cache under ``root`` holding the
    checkpoint folder ``source`` as ``repo`` at commit ``sha``, as huggingface_hub lays it
    out; returns ``root``."""

    def make(root: Path, repo: str, source: Path, sha: str) -> Path:
        folder = root / f"models--{repo.replace('/', '--')}"
        shutil.copytree(source, folder / "snapshots" / sha)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(sha)
        return root

    return make


def _assert_close(got: object, want: object, tol: float, where: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys differ"
        for k in want:
            _assert_close(got[k], want[k], tol, f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: lengths differ"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_close(g, w, tol, f"{where}[{i}]")
    elif isinstance(want, bool) or want is None or isinstance(want, str):
        assert got == want, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, (int, float)):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), where
        assert abs(got - want) <= tol * max(1.0, abs(want)), f"{where}: {got!r} != {want!r}"
    else:
        raise TypeError(f"{where}: unexpected value {want!r}")


@pytest.fixture(scope="session")
def assert_close() -> Callable[..., None]:
    """``assert_close(got, want, tol, where="")``: JSON-like data of equal structure and
    strings, numbers within ``tol`` (absolute, and relative above 1); ``where`` names the
    first difference."""
    return _assert_close


# ---------------------------------------------------------------------------------- oracles


class Oracles:
    """The documented formulas on one example's ``[n, d]`` matrix, unbatched, numpy float64."""

    @staticmethod
    def variance(h: np.ndarray, w: np.ndarray | None = None) -> float:
        """docs/study.md: standardise rows (population std), per-dim variance over tokens, mean;
        with token weights ``w`` (summing to 1), the weighted population variance."""
        import numpy as np

        h = h.astype(np.float64)
        z = (h - h.mean(1, keepdims=True)) / h.std(1, keepdims=True)
        if w is None:
            return float(z.var(0).mean())
        centre = (w[:, None] * z).sum(0)
        return float((w[:, None] * (z - centre) ** 2).sum(0).mean())

    @staticmethod
    def cse(h: np.ndarray, w: np.ndarray | None = None) -> float:
        """docs/study.md: mean over all n^2 entries (diagonal included) of (1 - cosine)^2; with
        token weights ``w``, entry (i, j) weighs ``w_i w_j``."""
        import numpy as np

        h = h.astype(np.float64)
        unit = h / np.linalg.norm(h, axis=1, keepdims=True)
        if w is None:
            return float(((1.0 - unit @ unit.T) ** 2).mean())
        return float((np.outer(w, w) * (1.0 - unit @ unit.T) ** 2).sum())

    @staticmethod
    def geometry(h: np.ndarray) -> tuple[float, float, float]:
        """Self-similarity, intra-sentence similarity and effective rank (docs/metrics.md)."""
        import numpy as np

        h = h.astype(np.float64)
        unit = h / np.linalg.norm(h, axis=1, keepdims=True)
        cos = unit @ unit.T
        n = len(h)
        self_sim = (cos.sum() - np.trace(cos)) / (n * (n - 1))
        mean = h.mean(0)
        intra = np.mean(unit @ (mean / np.linalg.norm(mean)))
        sigma = np.linalg.svd(h, compute_uv=False)
        p = sigma / sigma.sum()
        p = p[p > 0]
        return self_sim, intra, math.exp(-(p * np.log(p)).sum())

    @classmethod
    def unpadded_metrics(
        cls, lm: LoadedModel, features: list[dict]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Variance and CSE of the last layer, one feature per forward (no padding)."""
        import numpy as np
        import torch

        variances, cses = [], []
        with torch.no_grad():
            for f in features:
                names = [n for n in lm.input_names if n != "attention_mask"]
                inputs = {n: torch.tensor([f[n]], device=lm.device) for n in names}
                h = lm.model(**inputs, output_hidden_states=True).hidden_states[-1][0]
                h = h.float().cpu().numpy()
                variances.append(cls.variance(h))
                cses.append(cls.cse(h))
        return np.array(variances), np.array(cses)


@pytest.fixture(scope="session")
def oracles() -> type[Oracles]:
    """``oracles.variance(h)``, ``.cse(h)``, ``.geometry(h)``: the formulas on one example;
    ``oracles.unpadded_metrics(lm, features)``: Variance and CSE of a model's last layer, one
    unpadded forward per feature."""
    return Oracles


# ------------------------------------------------------------------------ synthetic runs


CLS_METRICS = [
    "variance", "cse", "self_similarity", "intra_similarity", "effective_rank", "isoscore",
    "self_similarity_adjusted", "fisher_ratio_summary", "silhouette_summary",
    "probe_accuracy_summary", "fisher_ratio_mean", "silhouette_mean", "probe_accuracy_mean",
]  # fmt: skip
EXAMPLE_METRICS = ["variance", "cse", "self_similarity", "intra_similarity", "effective_rank"]


def write_synthetic_run(
    out: Path, names: list[str], task: str = "cls", subsets: int = 4, seed: int = 0
) -> Run:
    """A run folder as a study writes it, with made-up numbers and real correlations."""
    # Imported here: every test session loads this file, most tests need none of these.
    import numpy as np
    import pandas as pd

    from ctxvec import files
    from ctxvec.metrics.stats import correlation_table
    from ctxvec.report import load_run

    rng = np.random.default_rng(seed)
    score = "accuracy" if task == "cls" else "f1"
    metrics = CLS_METRICS if task == "cls" else CLS_METRICS[:7]
    rows = []
    for i, name in enumerate(names):
        quality = rng.uniform(50, 90)
        for k in range(subsets):
            row = {"model": name, "subset": k, "n": 100, score: quality + rng.normal(0, 3)}
            row["f1"] = row.get("f1", quality + rng.normal(0, 4))
            for j, metric in enumerate(metrics):
                row[metric] = 0.9 - 0.004 * quality + 0.01 * j + rng.normal(0, 0.02) + 0.001 * i
            rows.append(row)
    points = pd.DataFrame(rows)
    model_rows = []
    for name, group in points.groupby("model", sort=False):
        row = {"model": name, "n": 100 * subsets}
        for column in ("f1", score, *EXAMPLE_METRICS):
            value = float(group[column].mean())
            spread = 2.0 if column in ("f1", score) else 0.01
            row.update({column: value, f"{column}_ci_low": value - spread,
                        f"{column}_ci_high": value + spread})  # fmt: skip
        model_rows.append(row)
    models = pd.DataFrame(model_rows)
    correlations = {
        "score": score,
        "n_models": len(names),
        "n_points": len(points),
        "metrics": correlation_table(points, score, metrics),
        "layers": {},
    }
    manifest = {
        "config": {"task": task, "subsets": subsets, "subset_size": 100, "seed": 0,
                   "settings": {"layer": -1}, "score": score},
        "models": [{"name": n, "id": f"/zoo/{n}", "revision": None, "fingerprint": "0" * 16}
                   for n in names],
        "dataset": {"source": "synthetic", "split": "test", "fingerprint": "f" * 16,
                    "n_examples": 100 * subsets},
        "device": "cpu",
        "dtype": "float32",
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    points.to_csv(out / "subsets.csv", index=False)
    models.to_csv(out / "models.csv", index=False)
    files.write_json(out / "correlations.json", correlations)
    files.write_json(out / "manifest.json", manifest)
    return load_run(out)


@pytest.fixture(scope="session")
def synthetic_run() -> Callable[..., Run]:
    """``synthetic_run(out, names, task="cls", subsets=4, seed=0)``: a run folder as a study
    writes it (``subsets.csv``, ``models.csv``, ``correlations.json``, ``manifest.json``), with
    made-up numbers and real correlations, read back as a :class:`ctxvec.report.Run`."""
    return write_synthetic_run


# --------------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A real headless Chromium (Debian's chromium and chromium-driver), offline; skips without.

    The flags keep Chromium from reaching for the network (this machine has none) and from
    profile state between runs; its console log is kept for the tests to read.
    """
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
