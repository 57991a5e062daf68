"""Compatibility alias: image pixels moved to siamese_sdk.format.pixels (``Preprocess`` to siamese_sdk.format.inputs).

``find_images`` and ``IMAGE_SUFFIXES`` (the image-folder walker) stay here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError
from .format.inputs import Preprocess  # noqa: F401
from .format.pixels import MAX_IMAGE_PIXELS, ImageLike, open_image, to_array, to_batch  # noqa: F401

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm", ".tif", ".tiff", ".webp"})


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image file paths.

    Raises ``InputError`` for a path that does not exist or a folder without images.
    """
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                raise InputError(f"folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); check the path")
            found.extend(files)
        elif p.exists():
            found.append(p)
        else:
            raise InputError(f"image not found: {p}; check the path")
    return found
