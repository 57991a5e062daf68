"""Rebuild the embedded Omniglot subset shipped in ``siamese_trainer/datasets/omniglot_mini``.

Usage: python scripts/make_embedded_dataset.py ../shared/data/omniglot/images_background

Takes the first 10 characters of each of the 30 background alphabets (300 classes x 20 drawers),
downsamples each 105x105 image to 28x28 grayscale with a box filter (anti-aliased strokes), and keeps
the Omniglot layout ``Alphabet/characterNN/XXXX_YY.png`` so the normal image-folder loader reads it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image

CHARACTERS_PER_ALPHABET = 10
SIZE = 28
DEST = Path(__file__).resolve().parents[1] / "trainer/siamese_trainer/datasets/omniglot_mini"


def main(src: Path) -> None:
    license_file = src.parent / "LICENSE"
    if DEST.exists():
        shutil.rmtree(DEST)
    for alphabet in sorted(p for p in src.iterdir() if p.is_dir()):
        for character in sorted(p for p in alphabet.iterdir() if p.is_dir())[:CHARACTERS_PER_ALPHABET]:
            out = DEST / alphabet.name / character.name
            out.mkdir(parents=True)
            for png in sorted(character.glob("*.png")):
                img = Image.open(png).convert("L").resize((SIZE, SIZE), Image.Resampling.BOX)
                img.save(out / png.name, optimize=True)
    shutil.copy(license_file, DEST / "LICENSE")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
