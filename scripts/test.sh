#!/usr/bin/env bash
# Install siamese-sdk with the train and test extras into .venv, lint, and run the whole test suite.
# Usage: scripts/test.sh [pytest args]      (env: PYTHON=python3.11, TORCH_SPEC="torch==2.13.0")
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}" -e ".[train,test]"
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
