#!/bin/bash
# Backward-compatible training on Omniglot (docs/results/compatibility.md): an old model, then (a) the same
# architecture trained longer and (b) a wider one, each with --compatible-with and without (the latter also fits
# a --map-from map), every bundle measured on held-out alphabets, then 1:N search of a gallery the old bundle enrolled.
# Usage: benchmarks/compatibility.sh OMNIGLOT_images_background OUT [SEED]   (one thread; about an hour on a shared CPU)
set -euo pipefail
SRC=$1 OUT=$2 S=${3:-0}
python scripts/omniglot_split.py "$SRC" "$OUT/split"
D=$OUT/split/train V=$OUT/split/eval R=$OUT/s$S
COMMON="--data $D --loss ntxent --p 32 --k 4 --batches-per-epoch 100 --recipe off --select last --quiet --seed $S --threads 1"
T() { nice -n 5 siamese-train $COMMON "$@"; }
E() { nice -n 5 siamese-export "$@" --validation "$V" --no-int8; }
T --out "$R/old" --epochs 2 && E "$R/old"
T --out "$R/a_compat" --epochs 3 --compatible-with "$R/old" && E "$R/a_compat"
T --out "$R/a_base" --epochs 3 --map-from "$R/old/bundle" && E "$R/a_base" --compatible-with "$R/old/bundle"
T --out "$R/b_compat" --epochs 2 --width 96 --compatible-with "$R/old" && E "$R/b_compat"
T --out "$R/b_base" --epochs 2 --width 96 --map-from "$R/old/bundle" && E "$R/b_base" --compatible-with "$R/old/bundle"
for run in a_compat a_base b_compat b_base; do
  python benchmarks/compatibility_search.py --old "$R/old/bundle" --new "$R/$run/bundle" --mapped "$R/$run/bundle" --images "$V"
done
