#!/usr/bin/env bash
# Install siamese-sdk with the train and test extras into .venv, and what the browser test needs (Chromium, Node.js,
# sdk/js's npm packages: scripts/test_deps.sh), lint, and run the whole test suite (tests/sdk, the runtime's torch-free
# suite, in a pytest process of its own first). Every install step is skipped when done.
# Usage: scripts/test.sh [pytest args]      (env: PYTHON=python3.11, TORCH_SPEC="torch==2.13.0", TORCH_INDEX_URL=URL)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first, on its own (TORCH_SPEC, TORCH_INDEX_URL: see scripts/demo.sh), then the project and its test tools.
.venv/bin/python -m pip install -q --disable-pip-version-check ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[train,test]"
scripts/test_deps.sh
.venv/bin/ruff check .
if [ $# -eq 0 ]; then
    # the runtime's suite first, in a process of its own, where importing torch fails (tests/sdk/conftest.py)
    .venv/bin/python -m pytest -q tests/sdk
    .venv/bin/python -m pytest -q --ignore=tests/sdk
else
    .venv/bin/python -m pytest -q "$@"
fi
