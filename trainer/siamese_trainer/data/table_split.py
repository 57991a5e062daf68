"""How a CSV table is split and batched: held-out classes (labelled tables) or rows (pairs, triplets).

``split_table`` picks the held-out part, ``validation_pairs`` the pairs scored on it (training and export
alike), ``row_batches`` the pair/triplet row batches of an epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from siamese_sdk.errors import InputError
from siamese_sdk.eval import metrics

from .tables import Table, split_rows

VAL_MAX_ITEMS = 2000


@dataclasses.dataclass(frozen=True)
class TableSplit:
    """What a run trains and validates on: row indices (pairs/triplets) or class names (labelled)."""

    train_rows: np.ndarray
    val_rows: np.ndarray
    train_classes: tuple[str, ...] = ()
    val_classes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_rows": self.train_rows.tolist(),
            "val_rows": self.val_rows.tolist(),
            "train_classes": list(self.train_classes),
            "val_classes": list(self.val_classes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableSplit:
        return cls(
            np.asarray(d["train_rows"], dtype=np.int64),
            np.asarray(d["val_rows"], dtype=np.int64),
            tuple(d["train_classes"]),
            tuple(d["val_classes"]),
        )


def split_table(table: Table, val_fraction: float, seed: int) -> TableSplit:
    """Held-out classes for a labelled table, held-out rows for pairs/triplets (see the module doc)."""
    if table.layout != "labelled":
        train, val = split_rows(len(table), val_fraction, seed)
        return TableSplit(train, val)
    counts = np.bincount(table.labels, minlength=len(table.classes))
    usable = [c for c, n in zip(table.classes, counts, strict=True) if n >= 2]
    if len(usable) < 4:
        raise InputError(
            f"{table.path} has {len(usable)} class(es) with >= 2 rows; need at least 4 (2 to train, 2 to validate): add rows"
        )
    order = np.random.default_rng(seed).permutation(len(usable))
    n_val = min(max(2, round(val_fraction * len(usable))), len(usable) - 2)
    val = tuple(sorted(usable[i] for i in order[:n_val]))
    train = tuple(sorted(usable[i] for i in order[n_val:]))
    names = np.asarray(table.classes, dtype=object)[table.labels]
    return TableSplit(
        np.flatnonzero(np.isin(names, train)), np.flatnonzero(np.isin(names, val)), train_classes=train, val_classes=val
    )



def validation_pairs(table: Table, split: TableSplit, rng: np.random.Generator) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """``(items, i, j, same)``: the distinct validation items and the pairs to score, ``(P,)`` each.

    Labelled: all pairs of the held-out classes' items (at most ``VAL_MAX_ITEMS`` items); pairs: the held-out
    pairs; triplets: ``(anchor, positive)`` genuine and ``(anchor, negative)`` impostor per held-out triplet.
    """
    rows = split.val_rows
    if table.layout == "labelled":
        if rows.size > VAL_MAX_ITEMS:
            rows = np.sort(rng.choice(rows, VAL_MAX_ITEMS, replace=False))
        col = table.columns[table.kind]
        i, j, same = metrics.all_pairs(table.labels[rows])
        return [col[r] for r in rows], i, j, same
    n = rows.size
    if table.layout == "pairs":
        items = [table.columns["a"][r] for r in rows] + [table.columns["b"][r] for r in rows]
        return items, np.arange(n), n + np.arange(n), table.labels[rows].astype(bool)
    items = [table.columns[c][r] for c in ("anchor", "positive", "negative") for r in rows]
    i = np.concatenate([np.arange(n), np.arange(n)])
    j = np.concatenate([n + np.arange(n), 2 * n + np.arange(n)])
    return items, i, j, np.concatenate([np.ones(n, bool), np.zeros(n, bool)])



def row_batches(table: Table, split: TableSplit, config: Any, epoch: int) -> list[np.ndarray]:
    """Row (pairs/triplets) index batches of one epoch, seeded by ``(seed, epoch)``."""
    size = config.p * config.k
    rng = np.random.default_rng([config.seed, epoch])
    order = rng.permutation(split.train_rows)
    count = config.batches_per_epoch or max(1, int(np.ceil(order.size / size)))
    reps = np.concatenate([order] + [rng.permutation(split.train_rows) for _ in range(count * size // max(order.size, 1))])
    return [reps[b * size : (b + 1) * size] for b in range(count)]
