"""Rebuild the embedded Omniglot subset shipped as ``siamese_trainer/datasets/omniglot_mini/images.zip``.

Usage: python scripts/make_embedded_dataset.py ../shared/data/omniglot/images_background
       python scripts/make_embedded_dataset.py --repack FOLDER   # pack an already downsampled folder as is

Takes the first 10 characters of each of the 30 background alphabets (300 classes x 20 drawers),
downsamples each 105x105 image to 28x28 grayscale with a box filter (anti-aliased strokes), and packs the
PNG files in the Omniglot layout ``Alphabet/characterNN/XXXX_YY.png`` into one zip (stored, not
recompressed: PNG is compressed already; sorted names and fixed timestamps, so the same images give the
same bytes). ``siamese_trainer.embedded`` unpacks it into the user cache, where the normal image-folder
loader reads it. The data set's ``LICENSE`` (copied from the source) and ``README.md`` sit beside the pack.
"""

from __future__ import annotations

import io
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

CHARACTERS_PER_ALPHABET = 10
SIZE = 28
DEST = Path(__file__).resolve().parents[1] / "trainer/siamese_trainer/datasets/omniglot_mini"
PACK = DEST / "images.zip"


def downsampled(src: Path) -> Iterator[tuple[str, bytes]]:
    """``(Alphabet/characterNN/XXXX_YY.png, PNG bytes)`` of the subset, sorted."""
    for alphabet in sorted(p for p in src.iterdir() if p.is_dir()):
        for character in sorted(p for p in alphabet.iterdir() if p.is_dir())[:CHARACTERS_PER_ALPHABET]:
            for png in sorted(character.glob("*.png")):
                img = Image.open(png).convert("L").resize((SIZE, SIZE), Image.Resampling.BOX)
                buf = io.BytesIO()
                img.save(buf, format="PNG", optimize=True)
                yield f"{alphabet.name}/{character.name}/{png.name}", buf.getvalue()


def existing(folder: Path) -> Iterator[tuple[str, bytes]]:
    """``(relative name, bytes)`` of every PNG under ``folder``, sorted."""
    for png in sorted(folder.rglob("*.png")):
        yield png.relative_to(folder).as_posix(), png.read_bytes()


def write_pack(items: Iterator[tuple[str, bytes]], pack: Path = PACK) -> int:
    """Write ``items`` into ``pack`` deterministically; returns the number of images."""
    pack.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with zipfile.ZipFile(pack, "w", zipfile.ZIP_STORED) as z:
        for name, data in sorted(items):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
            n += 1
    return n


def main(argv: list[str]) -> None:
    if argv[:1] == ["--repack"]:
        n = write_pack(existing(Path(argv[1])))
    else:
        src = Path(argv[0])
        n = write_pack(downsampled(src))
        shutil.copy(src.parent / "LICENSE", DEST / "LICENSE")
    print(f"{PACK}: {n} images, {PACK.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
