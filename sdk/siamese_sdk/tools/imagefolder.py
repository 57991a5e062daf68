"""Labelled image folders: every leaf folder that holds images is one class.

Both ``root/class/img.png`` and the Omniglot layout ``root/Alphabet/characterNN/img.png`` work; a class
is named by its path relative to ``root`` (``Alphabet/characterNN``).

Paths are held compactly (UTF-8 bytes relative to ``root`` in one numpy array: about 40 MB per million
images with 40-character names, against about 300 MB for a list of ``Path`` objects), and an index can
be saved to and loaded from an ``.npz`` file so a million-image folder is walked once, not every run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np

from ..atomic import write_atomic
from ..errors import BundleError, InputError
from ..format.unreadable import Failure, UnreadableImagesError
from .files import walk

if TYPE_CHECKING:
    from ..format.inputs import Preprocess

INDEX_VERSION = 1


class PathTable(Sequence[Path]):
    """A read-only sequence of ``Path`` stored as relative UTF-8 bytes under one root."""

    def __init__(self, root: Path, rel: np.ndarray):
        self.root, self.rel = root, rel

    @classmethod
    def from_relative(cls, root: Path, rel: Sequence[str]) -> PathTable:
        return cls(root, np.array([r.encode("utf-8", "surrogateescape") for r in rel], dtype=np.bytes_))

    @overload
    def __getitem__(self, i: int) -> Path: ...
    @overload
    def __getitem__(self, i: slice) -> list[Path]: ...
    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._path(r) for r in self.rel[i]]
        return self._path(self.rel[i])

    def _path(self, rel: bytes) -> Path:
        return self.root / rel.decode("utf-8", "surrogateescape")

    def take(self, index: np.ndarray) -> PathTable:
        return PathTable(self.root, self.rel[np.asarray(index, dtype=np.int64)])

    def __len__(self) -> int:
        return int(self.rel.shape[0])

    def __iter__(self) -> Iterator[Path]:
        return (self._path(r) for r in self.rel)


@dataclass(frozen=True)
class ImageFolder:
    """An indexed image folder.

    Attributes:
        root: the folder scanned.
        classes: class names, sorted (relative leaf-folder paths, ``/``-separated).
        paths: image files (a ``PathTable``), grouped by class, sorted within a class.
        labels: ``(N,) int64`` index into ``classes`` for each path.
    """

    root: Path
    classes: list[str]
    paths: PathTable
    labels: np.ndarray

    @classmethod
    def scan(cls, root: str | os.PathLike, classes: list[str] | None = None) -> ImageFolder:
        """Index ``root`` (``files.walk`` with symlinked folders followed); with ``classes``, keep only those, in that order."""
        root = Path(root)
        if not root.exists():
            raise InputError(f"data folder not found: {root}; pass an existing folder with one sub-folder per class")
        if not root.is_dir():
            raise InputError(f"data path {root} is a file; pass a folder with one sub-folder per class")
        by_class: dict[str, list[str]] = {}
        top = str(root)
        skip = 0 if top == "." else len(top) if top.endswith(os.sep) else len(top) + 1  # walk's spelling: top + os.sep + rel
        for path in walk(root, follow_symlinks=True):
            rel = path[skip:] if os.sep == "/" else path[skip:].replace(os.sep, "/")
            folder = rel.rpartition("/")[0] or "."
            by_class.setdefault(folder, []).append(rel)
        if classes is not None:
            missing = [c for c in classes if c not in by_class]
            if missing:
                raise InputError(
                    f"{len(missing)} class folder(s) missing under {root}, e.g. {missing[0]!r}; is this the training data?"
                )
            names = list(classes)
        else:
            names = sorted(by_class)
        if not names:
            raise InputError(f"no images found under {root}; expected one sub-folder of images per class")
        if "." in names:
            raise InputError(f"{root} has images directly inside it; put each class's images in its own sub-folder")
        rel = [p for c in names for p in by_class[c]]
        labels = np.concatenate([np.full(len(by_class[c]), i, dtype=np.int64) for i, c in enumerate(names)])
        return cls(root=root, classes=names, paths=PathTable.from_relative(root, rel), labels=labels)

    def take(self, index: np.ndarray) -> ImageFolder:
        """The items at ``index`` (classes and labels unchanged)."""
        index = np.asarray(index, dtype=np.int64)
        return ImageFolder(self.root, self.classes, self.paths.take(index), self.labels[index])

    def subset(self, classes: list[str]) -> ImageFolder:
        """The same folder restricted to ``classes`` (re-labelled 0..len-1 in that order)."""
        position = {c: i for i, c in enumerate(self.classes)}
        keep = np.array([position[c] for c in classes], dtype=np.int64)
        remap = np.full(len(self.classes), -1, dtype=np.int64)
        remap[keep] = np.arange(keep.size)
        order = np.concatenate([np.flatnonzero(self.labels == k) for k in keep]) if keep.size else np.zeros(0, np.int64)
        return ImageFolder(self.root, list(classes), self.paths.take(order), remap[self.labels[order]])

    def counts(self) -> np.ndarray:
        """``(num_classes,)`` images per class."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to an ``.npz`` file atomically (no pickle)."""
        arrays = {
            "version": np.array(INDEX_VERSION),
            "root": np.array(str(self.root)),
            "classes": np.array(self.classes, dtype=np.str_),
            "rel": self.paths.rel,
            "labels": self.labels,
        }

        def write(p: Path) -> None:
            with open(p, "wb") as f:  # a file object: np.savez would append ".npz" to a path
                np.savez(f, **arrays)

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ImageFolder:
        """Read an index written by ``save``; raises ``BundleError`` for anything else."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["version"]) > INDEX_VERSION:
                    raise BundleError(f"image index {path} is from a newer siamese-sdk; delete it to rebuild")
                root = Path(str(z["root"]))
                return cls(root, [str(c) for c in z["classes"]], PathTable(root, z["rel"]), z["labels"].astype(np.int64))
        except (OSError, KeyError, ValueError) as e:
            raise BundleError(f"image index {path} is unreadable ({type(e).__name__}); delete it to rebuild") from None

    def __len__(self) -> int:
        return len(self.paths)


def labelled_pairs(data: str | os.PathLike, max_images: int = 2000, seed: int = 0) -> ImageFolder:
    """A labelled folder to score all pairs of: at most ``max_images`` (a seeded choice, in folder order).

    Raises ``InputError`` when it is not a folder or cannot form genuine and impostor pairs.
    """
    data = Path(data)
    if not data.is_dir():
        raise InputError(f"{data} is not a folder; pass a folder of class sub-folders (one per identity)")
    folder = ImageFolder.scan(data)
    if len(folder.classes) < 2 or folder.counts().max(initial=0) < 2:
        raise InputError(f"{data} needs >= 2 class sub-folders and a class with >= 2 images to form genuine and impostor pairs")
    if len(folder) > max_images:
        folder = folder.take(np.sort(np.random.default_rng(seed).choice(len(folder), max_images, replace=False)))
    return folder


def decode_folder(
    folder: ImageFolder, spec: Preprocess, skip_unreadable: bool = False
) -> tuple[ImageFolder, np.ndarray, list[Failure]]:
    """Decode every image of ``folder``: ``(folder, x, skipped)``, ``x`` the ``(len(folder), C, H, W) float32`` inputs.

    An image that cannot be decoded raises ``UnreadableImagesError`` naming them all, or with
    ``skip_unreadable`` is left out of the returned folder (its ``(path, reason)`` in ``skipped``); then the
    folder must still form genuine and impostor pairs.
    """
    from ..format.pixels import decode_batch

    x, kept, failed = decode_batch(list(folder.paths), spec)
    if not failed:
        return folder, x, []
    if not skip_unreadable:
        raise UnreadableImagesError(failed, len(folder))
    folder = folder.take(np.asarray(kept, dtype=np.int64))
    if len(folder.classes) < 2 or len(np.unique(folder.labels)) < 2 or folder.counts().max(initial=0) < 2:
        raise InputError(f"{folder.root}: too few readable images left to form genuine and impostor pairs ({len(failed)} unreadable)")
    return folder, x, failed
