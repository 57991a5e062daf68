"""Labelled image folders: every leaf folder that holds images is one class.

Both ``root/class/img.png`` and the Omniglot layout ``root/Alphabet/characterNN/img.png`` work; a class
is named by its path relative to ``root`` (``Alphabet/characterNN``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .preprocess import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageFolder:
    """An indexed image folder.

    Attributes:
        root: the folder scanned.
        classes: class names, sorted (relative leaf-folder paths, ``/``-separated).
        paths: image files, grouped by class, sorted within a class.
        labels: ``(N,) int64`` index into ``classes`` for each path.
    """

    root: Path
    classes: list[str]
    paths: list[Path]
    labels: np.ndarray

    @classmethod
    def scan(cls, root: str | os.PathLike, classes: list[str] | None = None) -> ImageFolder:
        """Index ``root``; with ``classes``, keep only those (in that order), failing if one is missing."""
        root = Path(root)
        if not root.exists():
            raise InputError(f"data folder not found: {root}; pass an existing folder with one sub-folder per class")
        if not root.is_dir():
            raise InputError(f"data path {root} is a file; pass a folder with one sub-folder per class")
        by_class: dict[str, list[Path]] = {}
        for dirpath, _dirnames, filenames in os.walk(root, followlinks=True):
            imgs = sorted(Path(dirpath) / f for f in filenames if Path(f).suffix.lower() in IMAGE_SUFFIXES)
            if imgs:
                by_class[Path(dirpath).relative_to(root).as_posix()] = imgs
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
        paths = [p for c in names for p in by_class[c]]
        labels = np.concatenate([np.full(len(by_class[c]), i, dtype=np.int64) for i, c in enumerate(names)])
        return cls(root=root, classes=names, paths=paths, labels=labels)

    def subset(self, classes: list[str]) -> ImageFolder:
        """The same folder restricted to ``classes`` (re-labelled 0..len-1 in that order)."""
        index = {c: i for i, c in enumerate(self.classes)}
        keep = [index[c] for c in classes]
        paths, labels = [], []
        for new, old in enumerate(keep):
            sel = np.flatnonzero(self.labels == old)
            paths += [self.paths[i] for i in sel]
            labels.append(np.full(sel.size, new, dtype=np.int64))
        return ImageFolder(self.root, list(classes), paths, np.concatenate(labels) if labels else np.zeros(0, np.int64))

    def counts(self) -> np.ndarray:
        """``(num_classes,)`` images per class."""
        return np.bincount(self.labels, minlength=len(self.classes))

    def __len__(self) -> int:
        return len(self.paths)
