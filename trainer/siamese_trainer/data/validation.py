"""The validation data export reads from a CSV run's checkpoint: its held-out rows (or another CSV), and
the training images of an image-pairs run (int8 calibration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from siamese_sdk.errors import InputError

from .table_split import TableSplit, validation_pairs
from .tables import Table, read_table


def checkpoint_validation(
    ckpt: dict[str, Any], validation: Path | None = None, seed: int = 0
) -> tuple[Table, TableSplit, list, np.ndarray, np.ndarray, np.ndarray, str]:
    """A CSV run's validation set for export: ``(table, split, items, i, j, same, description)``.

    The run's held-out split of its CSV, or every row of ``validation`` (another CSV of the same item kind).
    Raises ``InputError`` when the CSV is gone or gives only one kind of pair.
    """
    source = Path(validation) if validation is not None else Path(ckpt["data"]["root"])
    if not source.is_file():
        raise InputError(f"validation data not found at {source} (the run's CSV); pass --validation CSV with rows unseen in training")
    table = read_table(source)
    kind = ckpt["data"]["kind"]
    split = TableSplit.from_dict(ckpt["data"]["split"])
    if validation is not None:  # another file: every row validates
        if table.kind != kind:
            raise InputError(f"--validation {source} holds {table.kind} items, the model embeds {kind}s; pass a {kind} CSV")
        split = TableSplit(np.zeros(0, np.int64), np.arange(len(table)), (), table.classes)
    items, i, j, same = validation_pairs(table, split, np.random.default_rng(seed))
    if not same.any() or same.all():
        raise InputError(f"validation rows of {source} give only one kind of pair; pass --validation with same and different pairs")
    where = (
        f"{len(split.val_classes)} unseen classes, {len(items)} {kind}s"
        if table.layout == "labelled"
        else f"{split.val_rows.size} held-out {table.layout}"
    )
    return table, split, items, i, j, same, where


def training_images(ckpt: dict[str, Any]) -> list[str]:
    """The distinct image paths of a CSV image run's training rows (int8 calibration)."""
    table = read_table(ckpt["data"]["root"])
    rows = TableSplit.from_dict(ckpt["data"]["split"]).train_rows
    return list(dict.fromkeys(col[r] for col in table.columns.values() for r in rows))
