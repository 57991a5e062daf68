"""The one image-file walker: files and folders to image paths, lazily, in one fixed order.

Every command and library function that expands folders into images uses ``walk`` (``iter_images`` and
``find_images`` for files-or-folders arguments, ``ImageFolder.scan`` for labelled folders), so one folder lists
the same images in the same order everywhere. The rules:

- **suffixes**: a file is an image when its suffix, lower-cased, is in ``IMAGE_SUFFIXES``; it must be a
  regular file (a symlink to one counts; a broken symlink, a socket or a folder named ``x.png`` does not);
- **order**: depth first, the entries of each folder sorted by name, files and folders mixed (a folder ``b``
  before a file ``b.png``, its images before ``b.png``): the order of sorting the paths by their parts;
- **hidden** files and folders (``.name``) are listed like any other;
- **symlinked folders** are not followed by default (a link to a parent would loop, a link to a sibling
  would list its images twice); ``follow_symlinks=True`` follows them, except one that leads back to a folder
  being walked (a loop), which is skipped;
- a folder that cannot be read (permissions, removed meanwhile) is skipped, as ``os.walk`` does;
- paths are spelled as given, joined with ``os.sep``: ``walk("data")`` yields ``data/a/1.png``, ``walk(".")``
  yields ``a/1.png``, exactly as ``str(Path(...))`` spells them.

Choices: labelled-folder scans (``ImageFolder.scan``) follow symlinked folders, since split folders are often
made of links, while files-or-folders arguments (``siamese embed``, ``gallery``, ``search``) do not, so a link
never enrols an image twice; both skip loops and anything that is not a regular file, which would otherwise
fail later, at decoding.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm", ".tif", ".tiff", ".webp"})


def is_image_name(name: str) -> bool:
    """Whether a file called ``name`` is an image by its suffix (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def walk(folder: str | os.PathLike, follow_symlinks: bool = False) -> Iterator[str]:
    """Yield the image files under ``folder`` recursively, as strings, in the order of the module docstring.

    Memory: the sorted listing of each folder on the current path, never the whole tree.
    """
    folder = str(Path(folder))
    yield from _walk(folder, follow_symlinks, _ancestors(folder) if follow_symlinks else None)


def _ancestors(folder: str) -> set[tuple[int, int]]:
    try:
        st = os.stat(folder)
    except OSError:
        return set()
    return {(st.st_dev, st.st_ino)}


def _walk(folder: str, follow: bool, on_path: set[tuple[int, int]] | None) -> Iterator[str]:
    prefix = "" if folder == "." else folder if folder.endswith(os.sep) else folder + os.sep
    try:
        with os.scandir(folder) as it:
            entries = sorted((e.name, _kind(e, follow)) for e in it)
    except OSError:
        return
    for name, kind in entries:
        path = prefix + name
        if kind == "image":
            yield path
        elif kind == "dir":
            if on_path is None:
                yield from _walk(path, follow, None)
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in on_path:
                continue  # a symlink back to a folder being walked: a loop
            on_path.add(key)
            yield from _walk(path, follow, on_path)
            on_path.discard(key)


def _kind(entry: os.DirEntry, follow: bool) -> str:
    """``"dir"`` (walked), ``"image"`` (listed) or ``""`` (skipped) for one folder entry."""
    try:
        if entry.is_dir():
            return "dir" if follow or not entry.is_symlink() else ""
        return "image" if is_image_name(entry.name) and entry.is_file() else ""
    except OSError:
        return ""


def iter_images(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Yield the image files of ``paths`` lazily, as strings: a file as given (``str(Path(p))``, whatever its
    suffix), a folder through ``walk`` (symlinked folders inside it not followed).

    Raises ``InputError`` (when reached) for a path that does not exist or a folder without images.
    """
    for p in paths:
        root = Path(p)
        if root.is_dir():
            found = False
            for f in walk(root):
                found = True
                yield f
            if not found:
                raise InputError(f"folder {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); check the path")
        elif root.exists():
            yield str(root)
        else:
            raise InputError(f"image not found: {root}; check the path")


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into image file paths: ``iter_images`` as a list of ``Path``.

    Raises ``InputError`` for a path that does not exist or a folder without images.
    """
    return [Path(f) for f in iter_images(paths)]
