#!/usr/bin/env bash
# The image model kinds (SigNet, a user backbone, the learned head), end to end on the embedded Omniglot subset: train, export (parity, int8 gate, speed
# at batch 64), and ORT profiles of SigNet (LRN's share of the run time). A measurement, not a test:
#   benchmarks/image_kinds.sh OUT_DIR        (about 30 min on 2 cores; logs in OUT_DIR/*.log)
set -euo pipefail
OUT=${1:?usage: benchmarks/image_kinds.sh OUT_DIR}
PY=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PY")
DATA=$("$PY" -c 'from siamese_trainer.data import embedded_root; print(embedded_root())')
mkdir -p "$OUT"
run() {  # name, train flags...
  local name=$1; shift
  "$BIN/siamese-train" --out "$OUT/$name" --quiet "$@" > "$OUT/$name.train.log" 2>&1
  "$BIN/siamese-export" "$OUT/$name/model.pt" -o "$OUT/$name/bundle" > "$OUT/$name.export.log" 2>&1
}
run signet-lrn --arch signet --width 32 --size 64 --embedding-dim 64 --loss triplet --epochs 2
run signet-batch --arch signet --width 32 --size 64 --embedding-dim 64 --loss triplet --epochs 2 --norm batch
PYTHONPATH=tests run backbone --arch tiny_backbone:tiny_resnet --size 32 --embedding-dim 64 --loss triplet --epochs 3
run learned --head learned --epochs 3
"$PY" -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from kinds import make_second_domain; make_second_domain(Path('$DATA'), Path('$OUT/inverted36'))"
run pseudo --pseudo --data "$DATA" --data-b "$OUT/inverted36" --size-b 36 --loss triplet --epochs 3
# SigNet at the paper's width (96) and a 112 px input: timing only (one training batch), LRN vs BatchNorm
run signet96-lrn --arch signet --size 112 --embedding-dim 128 --epochs 1 --batches-per-epoch 1 --val-fraction 0.05
run signet96-batch --arch signet --size 112 --embedding-dim 128 --epochs 1 --batches-per-epoch 1 --val-fraction 0.05 --norm batch
for name in signet-lrn signet-batch signet96-lrn signet96-batch; do
  "$PY" benchmarks/profile_int8.py "$OUT/$name/bundle" --threads 2 --batch 64 --runs 10 > "$OUT/$name.profile.log" 2>&1
done
