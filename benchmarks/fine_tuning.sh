#!/usr/bin/env bash
# Does a pretrained backbone beat training from scratch on a small target? A measurement, not a test:
#   benchmarks/fine_tuning.sh OMNIGLOT_BACKGROUND_DIR OUT_DIR      (about 20 min on one thread; logs in OUT_DIR/*.log)
# 1. pretrain convnet4 (28 px, NT-Xent) on 25 alphabets of the Omniglot background set;
# 2. the target: the first 8 characters of each of the 5 other alphabets (40 classes, 20 images each), 16 to
#    train on and 24 unseen ones to validate on (one fixed split);
# 3. train the same network (siamese_trainer.models.encoders:ConvNet4 as a user factory: the backbone plus a
#    fresh projection) on the target from scratch and from the pretrained weights, several ways, 3 seeds each;
# 4. the same on a larger target: every character of those 5 alphabets (151 classes; 70 % to train), seed 0;
# 5. print the tables of the last epoch's validation AUC / EER / 20-way 1-shot (mean and range over the seeds).
set -euo pipefail
SRC=${1:?usage: benchmarks/fine_tuning.sh OMNIGLOT_BACKGROUND_DIR OUT_DIR}
OUT=${2:?usage: benchmarks/fine_tuning.sh OMNIGLOT_BACKGROUND_DIR OUT_DIR}
PY=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PY")
export OMP_NUM_THREADS=1
mkdir -p "$OUT/source" "$OUT/target" "$OUT/large"
mapfile -t ALPHABETS < <(ls "$SRC" | sort)
for a in "${ALPHABETS[@]:0:25}"; do ln -sfn "$SRC/$a" "$OUT/source/$a"; done
for a in "${ALPHABETS[@]:25}"; do
  mkdir -p "$OUT/target/$a"
  for c in $(ls "$SRC/$a" | sort | head -8); do ln -sfn "$SRC/$a/$c" "$OUT/target/$a/$c"; done
  ln -sfn "$SRC/$a" "$OUT/large/$a"
done
COMMON=(--threads 1 --quiet --size 28 --embedding-dim 64 --loss ntxent)
if [ ! -f "$OUT/pretrained.pt" ]; then
  "$BIN/siamese-train" --data "$OUT/source" --out "$OUT/pretrain" "${COMMON[@]}" --p 32 --k 4 --epochs 4 \
    --batches-per-epoch 100 --lr 2e-3 --val-fraction 0.05 --thickness 0.6 > "$OUT/pretrain.log" 2>&1
  # the run's encoder weights as the factory module's state_dict (ConvNet4 keys: features.*, fc.*)
  "$PY" -c "import sys, torch; from siamese_trainer import checkpoint
sd = checkpoint.load(sys.argv[1])['state_dict']
torch.save({k[len('backbone.'):]: v for k, v in sd.items()}, sys.argv[2])" "$OUT/pretrain/model.pt" "$OUT/pretrained.pt"
fi
FACTORY=siamese_trainer.models.encoders:ConvNet4
SEEDS=(0 1 2)
TARGET=(--data "$OUT/target" --val-fraction 0.6)
run() {  # name, flags...
  local name=$1; shift
  for seed in "${SEEDS[@]}"; do
    [ -f "$OUT/$name-$seed/metrics.json" ] && continue
    "$BIN/siamese-train" "${TARGET[@]}" --out "$OUT/$name-$seed" "${COMMON[@]}" --arch "$FACTORY" --p 8 --k 4 \
      --epochs 15 --seed "$seed" --split-seed 0 "$@" > "$OUT/$name-$seed.log" 2>&1
  done
}
W=(--weights "$OUT/pretrained.pt")
run scratch
run finetune "${W[@]}"
run lr-mult-0.1 "${W[@]}" --backbone-lr-mult 0.1
run freeze-5 "${W[@]}" --freeze-epochs 5
run freeze-bn "${W[@]}" --freeze-bn
run head-only "${W[@]}" --freeze-epochs 15
SEEDS=(0)
TARGET=(--data "$OUT/large" --val-fraction 0.3)
run large-scratch
run large-finetune "${W[@]}"
run large-lr-mult-0.1 "${W[@]}" --backbone-lr-mult 0.1
run large-head-only "${W[@]}" --freeze-epochs 15
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print("| run | val AUC | EER | 20-way 1-shot |\n| --- | --- | --- | --- |")
names = ["scratch", "finetune", "lr-mult-0.1", "freeze-5", "freeze-bn", "head-only"]
for name in names + ["large-" + n for n in ("scratch", "finetune", "lr-mult-0.1", "head-only")]:
    rows = [json.loads((out / f"{name}-{s}" / "metrics.json").read_text())["history"][-1] for s in range(1 if "large" in name else 3)]
    def cell(key, pct=False):
        v = [r[key] * (100 if pct else 1) for r in rows]
        f = "{:.1f}" if pct else "{:.3f}"
        return f"{f.format(sum(v) / len(v))} ({f.format(min(v))}-{f.format(max(v))})"
    print(f"| {name} | {cell('auc')} | {cell('eer')} | {cell('oneshot', True)} % |")
EOF
