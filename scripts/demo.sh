#!/usr/bin/env bash
# The main job on the embedded Omniglot subset: install into .venv, train -> export (prints the report) -> verify.
# Usage: scripts/demo.sh            (env: PYTHON=python3.11, RUN=runs/demo, EPOCHS=N (default: the recipe's 10), TORCH_SPEC="torch==2.13.0", TORCH_INDEX_URL=URL)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
PY=${PYTHON:-python3}
RUN=${RUN:-runs/demo}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch first, on its own: TORCH_SPEC picks the version, TORCH_INDEX_URL PyTorch's wheel index for your build
# (e.g. https://download.pytorch.org/whl/cpu or .../cu126). Unset, the pinned torch==2.13.0 comes from pip's
# configured index and nothing else.
.venv/bin/python -m pip install -q --disable-pip-version-check ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[train]"

resume=""; [ -f "$RUN/model.pt" ] && resume="--resume"
.venv/bin/siamese-train --out "$RUN" ${EPOCHS:+--epochs "$EPOCHS"} $resume   # the recipe reads the data and picks the rest
.venv/bin/siamese-export "$RUN" -o "$RUN/bundle"    # the run folder: its best.pt

# Two pairs from a validation class the model never saw in training, through the torch-free CLI.
read -r same1 same2 other < <(.venv/bin/python - "$RUN" <<'PY'
import json, sys
from pathlib import Path
split = json.loads(Path(sys.argv[1], "split.json").read_text())
root = Path(split["root"])
a = sorted((root / split["val"][0]).glob("*.png"))
b = sorted((root / split["val"][1]).glob("*.png"))
print(a[0], a[1], b[0])
PY
)
echo
echo "== verify (unseen classes, torch-free SDK) =="
.venv/bin/siamese verify "$RUN/bundle" "$same1" "$same2"
.venv/bin/siamese verify "$RUN/bundle" "$same1" "$other"
echo
du -sh "$RUN/bundle" | awk '{print "bundle on disk: " $1}'
echo "total time: $(( $(date +%s) - start )) s"
echo
echo "The commands (siamese, siamese-train, siamese-export) are in .venv/bin: put them on PATH with"
echo "  source .venv/bin/activate"
echo "then try: siamese info $RUN/bundle"
