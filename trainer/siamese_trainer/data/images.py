"""Datasets for training: class-split image folders, the embedded Omniglot subset (augmentation: ``augment``).

Images are read by ``siamese_sdk.format.pixels.to_array``, the function the deployed SDK uses, so training
sees exactly the inputs a bundle will.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import Preprocess
from siamese_sdk.format.pixels import to_array
from siamese_sdk.tools.imagefolder import ImageFolder

from ..embedded import embedded_root

EMBEDDED = "embedded:omniglot_mini"
#: preload images into memory when the dataset's float32 tensor is smaller than this
CACHE_LIMIT_BYTES = 2 << 30


def resolve_root(data: str | Path | None) -> Path:
    """``None`` or ``embedded:omniglot_mini`` -> the shipped dataset; anything else is a folder path."""
    return embedded_root() if data is None or str(data) == EMBEDDED else Path(data)


def root_entry(data: str | Path | None, root: Path) -> str:
    """``--data`` as a checkpoint records it: the folder, or ``EMBEDDED`` for the shipped subset."""
    return str(root) if data not in (None, EMBEDDED) else EMBEDDED


def val_count(usable: int, val_fraction: float) -> int:
    """How many of ``usable`` classes (those with >= 2 images) ``split_classes`` holds out: at least 2, at most
    ``usable - 2``."""
    return min(max(2, round(val_fraction * usable)), usable - 2)


def split_classes(folder: ImageFolder, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split classes (never images) into train and validation: validation identities are unseen.

    Classes with fewer than 2 images are dropped (they form no positive pair). Raises ``InputError``
    when fewer than 2 classes would be left on either side.
    """
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"--val-fraction {val_fraction} must be in (0, 1)")
    counts = folder.counts()
    usable = [c for c, n in zip(folder.classes, counts, strict=True) if n >= 2]
    if len(usable) < 4:
        raise InputError(
            f"{folder.root} has {len(usable)} class(es) with >= 2 images; need at least 4 "
            "(2 to train, 2 to validate) - add classes, each a folder of >= 2 images"
        )
    order = np.random.default_rng(seed).permutation(len(usable))
    n_val = val_count(len(usable), val_fraction)
    val = sorted(usable[i] for i in order[:n_val])
    train = sorted(usable[i] for i in order[n_val:])
    return train, val


#: a preloaded folder skips up to this fraction of unreadable images (at least one) and refuses more
MAX_SKIPPED_FRACTION = 0.01


class ImageDataset(torch.utils.data.Dataset):
    """``(image (C, H, W) float32, label)`` items of an ``ImageFolder``, preprocessed like the SDK.

    When preloaded (``cache``; default: under ``CACHE_LIMIT_BYTES``), an image that does not decode is left
    out and its one-line reason kept in ``skipped`` (``folder`` and ``labels`` then omit it); more than
    ``MAX_SKIPPED_FRACTION`` of the images (and more than one) unreadable raises ``InputError``.
    """

    def __init__(self, folder: ImageFolder, preprocess: Preprocess, cache: bool | None = None):
        self.folder, self.preprocess = folder, preprocess
        self.labels = folder.labels
        self.skipped: list[str] = []
        nbytes = len(folder) * math.prod(preprocess.shape) * 4
        self._cache: torch.Tensor | None = None
        if cache if cache is not None else nbytes <= CACHE_LIMIT_BYTES:
            arrays, keep = [], []
            for i, path in enumerate(folder.paths):
                try:
                    arrays.append(to_array(path, preprocess))
                    keep.append(i)
                except InputError as e:
                    self.skipped.append(str(e))
            if len(self.skipped) > max(1, int(MAX_SKIPPED_FRACTION * len(folder))):
                raise InputError(
                    f"{len(self.skipped)} of {len(folder)} images under {folder.root} are unreadable (more than "
                    f"{MAX_SKIPPED_FRACTION:.0%} are not skipped), e.g. {self.skipped[0]}"
                )
            if self.skipped:
                self.folder = folder.take(np.asarray(keep, dtype=np.int64))
                self.labels = self.folder.labels
            self._cache = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros((0, *preprocess.shape))

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self._cache[i] if self._cache is not None else torch.from_numpy(to_array(self.folder.paths[i], self.preprocess))
        return x, int(self.folder.labels[i])

    def warn_skipped(self, log: Callable[[str], None]) -> None:
        """Log one warning line per skipped image."""
        for reason in self.skipped:
            log(f"warning: skipped an unreadable image: {reason}")

    def images(self) -> torch.Tensor:
        """All images as one ``(N, C, H, W)`` tensor (for evaluation)."""
        if self._cache is not None:
            return self._cache
        return torch.from_numpy(np.stack([to_array(p, self.preprocess) for p in self.folder.paths]))


class RotatedClasses(torch.utils.data.Dataset):
    """Each class becomes four: the images rotated by 0, 90, 180 and 270 degrees (label ``4 * c + r``).

    The standard Omniglot class augmentation (Santoro et al. 2016, Vinyals et al. 2016): a rotated
    character is a plausible new character, so the model sees four times as many identities.
    """

    def __init__(self, base: ImageDataset):
        self.base = base
        n = len(base)
        self.labels = np.concatenate([base.folder.labels * 4 + r for r in range(4)])
        self._n = n

    def __len__(self) -> int:
        return 4 * self._n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        r, j = divmod(i, self._n)
        x, _ = self.base[j]
        return torch.rot90(x, r, dims=(1, 2)), int(self.labels[i])


def copy_embedded_subset(dest: str | Path, alphabets: int, characters: int, per_class: int) -> Path:
    """Copy a small real slice of the embedded Omniglot subset into ``dest`` (same layout), for quick
    experiments, tests and benchmarks: the first ``alphabets`` x ``characters`` classes, ``per_class`` images each."""
    import shutil

    src, dest = embedded_root(), Path(dest)
    for alpha in sorted(p for p in src.iterdir() if p.is_dir())[:alphabets]:
        for char in sorted(p for p in alpha.iterdir() if p.is_dir())[:characters]:
            out = dest / alpha.name / char.name
            out.mkdir(parents=True)
            for png in sorted(char.glob("*.png"))[:per_class]:
                shutil.copy(png, out / png.name)
    return dest
