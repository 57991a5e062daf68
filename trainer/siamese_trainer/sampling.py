"""The P x K class-balanced batch sampler: P classes per batch, K images of each.

Every batch then holds positives and negatives for every anchor, which both pair mining (contrastive)
and triplet mining need. Batches of an epoch depend only on ``(seed, epoch)``, so a resumed run draws
the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from siamese_sdk.errors import InputError


class PKSampler:
    """Yields lists of dataset indices, ``p * k`` long.

    Args:
        labels: ``(N,)`` class index per dataset item.
        p: classes per batch (at least 2, at most the number of classes with >= 2 images).
        k: images per class (at least 2); a class with fewer than ``k`` images is drawn with replacement.
        batches: batches per epoch (default: ``N // (p * k)``, at least 1).
        seed: base seed; ``set_epoch`` selects the epoch's stream.
        rank, world: under multi-process training every rank draws the same global batch and yields its
            contiguous block of ``p / world`` classes (``p`` must be a multiple of ``world``).
    """

    def __init__(
        self, labels: np.ndarray, p: int, k: int, batches: int | None = None, seed: int = 0, rank: int = 0, world: int = 1
    ):
        labels = np.asarray(labels)
        self.by_class = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        self.by_class = [ix for ix in self.by_class if ix.size >= 2]
        if p < 2 or k < 2:
            raise InputError(f"P x K sampler needs p >= 2 and k >= 2, got p={p}, k={k}")
        if len(self.by_class) < p:
            raise InputError(
                f"only {len(self.by_class)} classes have >= 2 images, but p={p} classes per batch were asked; lower --p or add classes"
            )
        if p % world:
            raise InputError(f"--p {p} must be a multiple of the number of processes ({world}) so each gets whole classes")
        self.p, self.k, self.seed, self.epoch, self.rank, self.world = p, k, seed, 0, rank, world
        self.batches = batches or max(1, labels.size // (p * k))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        for _ in range(self.batches):
            batch: list[int] = []
            for c in rng.choice(len(self.by_class), size=self.p, replace=False):
                ix = self.by_class[c]
                batch.extend(rng.choice(ix, size=self.k, replace=ix.size < self.k).tolist())
            local = len(batch) // self.world  # this rank's contiguous block of whole classes
            yield batch[self.rank * local : (self.rank + 1) * local]
