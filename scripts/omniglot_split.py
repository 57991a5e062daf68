"""Split Omniglot's background alphabets into train and held-out evaluation folders (symlinks, no copies).

Usage: python scripts/omniglot_split.py ../shared/data/omniglot/images_background runs/omniglot-split

Held out (never trained on): every 6th alphabet from the 3rd, sorted by name: Arcadian, Braille, Greek,
Korean, Sanskrit (24-42 characters each, so 20-way within-alphabet episodes exist in all five). The other
25 alphabets (about 800 characters) are for training.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(src: Path, dest: Path) -> None:
    alphabets = sorted(p for p in src.iterdir() if p.is_dir())
    held_out = set(alphabets[2::6])
    for part in ("train", "eval"):
        (dest / part).mkdir(parents=True, exist_ok=True)
    for a in alphabets:
        link = dest / ("eval" if a in held_out else "train") / a.name
        if not link.exists():
            link.symlink_to(a.resolve(), target_is_directory=True)
    print(f"train: {len(alphabets) - len(held_out)} alphabets, eval: {', '.join(a.name for a in sorted(held_out))}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
