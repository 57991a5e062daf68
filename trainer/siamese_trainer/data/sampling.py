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
        groups: optional group id per class (aligned with ``np.unique(labels)``, e.g. the alphabet of an
            Omniglot character); with ``groups_per_batch = G`` each batch draws its ``p`` classes from ``G``
            random groups (about ``p / G`` each, topped up from any group when a group is small), so the
            negatives of a batch are look-alike siblings, as in within-alphabet one-shot episodes.
    """

    def __init__(
        self,
        labels: np.ndarray,
        p: int,
        k: int,
        batches: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        groups: np.ndarray | None = None,
        groups_per_batch: int | None = None,
    ):
        labels = np.asarray(labels)
        classes = np.unique(labels)
        self.by_class = [np.flatnonzero(labels == c) for c in classes]
        keep = [i for i, ix in enumerate(self.by_class) if ix.size >= 2]
        self.by_class = [self.by_class[i] for i in keep]
        self.members: list[np.ndarray] | None = None
        if groups_per_batch is not None:
            if groups is None or len(groups) != classes.size:
                got = 0 if groups is None else len(groups)
                raise InputError(f"groups_per_batch needs one group id per class ({classes.size}), got {got}")
            kept = np.asarray(groups)[keep]
            self.members = [np.flatnonzero(kept == g) for g in np.unique(kept)]
            if not 1 <= groups_per_batch <= len(self.members):
                raise InputError(f"--groups-per-batch {groups_per_batch} must be in [1, {len(self.members)}] (the number of groups)")
        self.groups_per_batch = groups_per_batch
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
            for c in self._classes(rng):
                ix = self.by_class[c]
                batch.extend(rng.choice(ix, size=self.k, replace=ix.size < self.k).tolist())
            local = len(batch) // self.world  # this rank's contiguous block of whole classes
            yield batch[self.rank * local : (self.rank + 1) * local]

    def _classes(self, rng: np.random.Generator) -> np.ndarray:
        """The ``p`` distinct classes of one batch (indices into ``by_class``)."""
        if self.members is None:
            return rng.choice(len(self.by_class), size=self.p, replace=False)
        g = self.groups_per_batch
        picked = rng.choice(len(self.members), size=g, replace=False)
        share = [self.p // g + (i < self.p % g) for i in range(g)]
        chosen = np.concatenate(
            [rng.choice(self.members[j], size=min(n, self.members[j].size), replace=False) for j, n in zip(picked, share, strict=True)]
        )
        if chosen.size < self.p:  # small groups: top up from all other classes
            rest = np.setdiff1d(np.arange(len(self.by_class)), chosen)
            chosen = np.concatenate([chosen, rng.choice(rest, size=self.p - chosen.size, replace=False)])
        return chosen
