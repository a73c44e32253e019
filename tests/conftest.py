"""Shared fixtures: tiny local checkpoints of every family, built once per test session; run
folders with made-up numbers; a headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ctxvec.report import Run

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_models import make_tiny_model
from transformers.utils import logging as transformers_logging

transformers_logging.disable_progress_bar()  # save_pretrained's bars would pollute stderr checks

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


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
