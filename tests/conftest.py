"""Shared fixtures: tiny local checkpoints of every family, built once per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

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
