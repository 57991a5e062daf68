"""Split Omniglot's background alphabets into train and held-out evaluation folders (symlinks, no copies).

Usage: python scripts/omniglot_split.py ../shared/data/omniglot/images_background runs/omniglot-split [--offset 2]

Held out (never trained on): every 6th alphabet from the ``offset``-th (0-based), sorted by name. The default,
offset 2, holds out Arcadian, Braille, Greek, Korean, Sanskrit; offset 3 (the second split measured in the
README) Armenian, Burmese, Gujarati, Latin, Syriac. Offsets 0, 2 and 3 give 20+ characters in every held-out
alphabet, so 20-way within-alphabet episodes exist in all five; the other 25 alphabets are for training.

Any folder of class (or group) folders splits the same way with ``--every N``: e.g. the Yale faces, one folder
per person, ``--every 3 --offset 2`` holds out subject03, 06, 09, 12, 15 (docs/results/faces.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(src: Path, dest: Path, offset: int = 2, every: int = 6) -> None:
    if not src.is_dir():
        raise SystemExit(f"error: {src} is not a folder; pass Omniglot's images_background (one folder per alphabet)")
    if every < 2 or not 0 <= offset < every:
        raise SystemExit(f"error: --every {every} must be >= 2 and --offset {offset} in 0..{every - 1}")
    alphabets = sorted(p for p in src.iterdir() if p.is_dir())
    held_out = set(alphabets[offset::every])
    for part in ("train", "eval"):
        (dest / part).mkdir(parents=True, exist_ok=True)
    for a in alphabets:
        link = dest / ("eval" if a in held_out else "train") / a.name
        if not link.exists():
            link.symlink_to(a.resolve(), target_is_directory=True)
    print(f"train: {len(alphabets) - len(held_out)} folders, eval: {', '.join(a.name for a in sorted(held_out))}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="images_background (one folder per alphabet)")
    ap.add_argument("dest", type=Path, help="output folder: DEST/train and DEST/eval hold symlinks")
    ap.add_argument("--offset", type=int, default=2, help="hold out every --every-th folder from this index (default 2)")
    ap.add_argument("--every", type=int, default=6, help="hold out one folder in this many (default 6)")
    args = ap.parse_args()
    main(args.src, args.dest, args.offset, args.every)
