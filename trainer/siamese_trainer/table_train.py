"""Training on CSV tables of texts, dialogs or images (``siamese-train --data file.csv``; ``tables`` says the formats).

- ``text,label`` / ``dialog,label``: split **by class** (``--val-fraction`` of the classes held out, never
  trained on), P x K batches, the loss and miners of ``--loss`` as for images; validation on all pairs
  of the held-out items.
- ``a,b,label``: ``--val-fraction`` of the **pairs** held out; batches of ``P * K`` pairs, contrastive loss
  on exactly those pairs (label 1 = same); validation on the held-out pairs.
- ``anchor,positive,negative``: ``--val-fraction`` of the **triplets** held out; batches of ``P * K``
  triplets, triplet loss on them; validation: each held-out triplet gives a genuine ``(anchor, positive)``
  and an impostor ``(anchor, negative)`` pair.

Texts and dialogs train the BiLSTM encoders (``text_encoders``); the tokenizer (``siamese_sdk.tokenizer``,
the SDK's code) is built from the training split only and saved in the checkpoint; export ships it in the
bundle. Image pairs/triplets train the image encoders (``--arch``, ``--size``, ``--channels``, augmentation)
on images read by ``siamese_sdk.preprocess`` (decoded once per run), and export like a class-folder run,
validated on the held-out rows. Checkpoints, ``--resume``, ``best.pt`` and
``metrics.json`` work as for images.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from siamese_sdk import metrics
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError
from siamese_sdk.preprocess import to_array
from siamese_sdk.tokenizer import Tokenizer, pad_batch

from . import checkpoint, distances
from .data import random_affine
from .encoders import Encoder
from .evaluate import auc_epoch
from .losses import ContrastiveLoss, TripletMarginLoss
from .sampling import PKSampler
from .tables import Table, read_table, split_rows
from .text_encoders import TextEncoder

DEFAULT_MAX_LENGTH = {"text": 64, "dialog": 128}
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


def encode_items(tokenizer: Tokenizer, kind: str, items: list) -> list[list[int]]:
    """Token ids of texts (``kind="text"``) or dialogs (``"dialog"``), exactly as the SDK encodes them."""
    if kind == "dialog":
        return [tokenizer.encode_dialog(d, f"dialog {i}") for i, d in enumerate(items)]
    return [tokenizer.encode(t, f"text {i}") for i, t in enumerate(items)]


def to_tensors(seqs: list[list[int]], device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``tokens (B, T) int64``, ``lengths (B,) int64`` with the SDK's padding (``siamese_sdk.tokenizer.pad_batch``)."""
    tokens, lengths = pad_batch(seqs)
    return torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device)


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


def _batches(table: Table, split: TableSplit, config: Any, epoch: int) -> list[np.ndarray]:
    """Row (pairs/triplets) index batches of one epoch, seeded by ``(seed, epoch)``."""
    size = config.p * config.k
    rng = np.random.default_rng([config.seed, epoch])
    order = rng.permutation(split.train_rows)
    count = config.batches_per_epoch or max(1, int(np.ceil(order.size / size)))
    reps = np.concatenate([order] + [rng.permutation(split.train_rows) for _ in range(count * size // max(order.size, 1))])
    return [reps[b * size : (b + 1) * size] for b in range(count)]


def train_table(config: Any, resume: bool = False, log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Train (or resume) a text/dialog run on a CSV table; returns ``RUN_DIR/model.pt``. See the module doc.

    ``config`` is a ``siamese_trainer.train.TrainConfig``. Raises ``InputError`` for bad data or settings.
    """

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise InputError("CSV runs train in one process (no DistributedDataParallel yet); run siamese-train without torchrun")
    out = Path(config.out)
    ckpt_path = out / "model.pt"
    config, state = checkpoint.start_run(config, ckpt_path, resume)
    table = read_table(config.data)
    if table.layout == "pairs":
        config = dataclasses.replace(config, loss="contrastive")
    elif table.layout == "triplets":
        config = dataclasses.replace(config, loss="triplet")
    if config.select != "auc":
        raise InputError("--select oneshot is for image folders; CSV runs select the best epoch by validation AUC")
    if config.threads:
        torch.set_num_threads(config.threads)
    config = config.resolved()
    split = TableSplit.from_dict(state["data"]["split"]) if state is not None else split_table(table, config.val_fraction, config.class_split_seed)
    rng = np.random.default_rng(config.seed)
    val_items, vi, vj, vsame = validation_pairs(table, split, rng)
    if not vsame.any() or vsame.all():
        raise InputError(f"{table.path}: the held-out rows give only one kind of pair; add rows or raise --val-fraction")
    torch.manual_seed(config.seed)
    if table.kind == "image":
        items = _ImageItems(config)
        encoder: torch.nn.Module = Encoder(
            config.arch, config.channels, config.embedding_dim, (config.size, config.size), bool(config.normalize), **config.arch_kwargs()
        )
    else:
        items = _TokenItems(table, split, config, state)
        encoder = TextEncoder(table.kind, items.tokenizer.vocab_size(), config.embedding_dim, bool(config.normalize), **items.arch_kwargs)
    seqs = {c: items.encode(col) for c, col in table.columns.items()}
    val_seqs = items.encode(val_items)
    encoder.to(config.device)
    loss_fn = config.make_loss()
    if table.layout == "labelled":
        train_labels = table.labels[split.train_rows]
        p = min(config.p, len(split.train_classes))
        sampler = PKSampler(train_labels, p, config.k, config.batches_per_epoch, config.seed)
        n_batches = len(sampler)
    else:
        sampler = None
        n_batches = len(_batches(table, split, config, 0))
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * n_batches)
    history: list[dict[str, float]] = []
    start = 0
    if state is not None:
        encoder.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scheduler.T_max = config.epochs * n_batches
        history, start = list(state["history"]), int(state["epoch"])
        if start >= config.epochs:
            log(f"{ckpt_path} already completed {start} epoch(s); pass a larger --epochs to train on")
            return ckpt_path
    if state is None:
        write_text_atomic(out / "split.json", json.dumps({"root": str(table.path), **split.to_dict()}) + "\n")
    what = (
        f"{len(split.train_classes)} train / {len(split.val_classes)} unseen val classes"
        if table.layout == "labelled"
        else f"{split.train_rows.size} train / {split.val_rows.size} held-out {table.layout}"
    )
    log(
        f"training {table.kind} {config.arch if table.kind == 'image' else 'BiLSTM'} ({config.loss}, {config.metric}{', L2-normalised' if config.normalize else ''}) on {table.path}: "
        f"{what}, {items.describe()}, {n_batches} batches per epoch"
    )
    best = max((row.get("auc", -1.0) for row in history), default=-1.0)
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)
        encoder.train()
        total, n = 0.0, 0
        if sampler is not None:
            sampler.set_epoch(epoch)
            batches = [split.train_rows[np.asarray(b)] for b in sampler]
        else:
            batches = _batches(table, split, config, epoch)
        for rows in batches:
            loss = _batch_loss(encoder, loss_fn, table, seqs, rows, items, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, n = total + loss.item(), n + 1
        emb = _embed(encoder, val_seqs, items, config.device)
        d = distances.pairwise(emb[torch.from_numpy(vi)], emb[torch.from_numpy(vj)], config.metric).numpy()
        vm, _ = metrics.summarize(d, vsame)
        row, improved = auc_epoch(history, epoch, config.epochs, total / max(n, 1), vm, t0, best, log, "val")
        payload = {
            **items.checkpoint_keys(),
            "data": {"root": str(table.path.resolve()), "layout": table.layout, "kind": table.kind, "split": split.to_dict()},
            "config": asdict(config),
            "state_dict": encoder.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "versions": {"torch": str(torch.__version__)},
        }
        if improved:
            best = row["auc"]
            checkpoint.save(out / "best.pt", payload)
        checkpoint.save(ckpt_path, payload)
        write_text_atomic(out / "metrics.json", json.dumps({"config": asdict(config), "history": history}, indent=2) + "\n")
        since_best = len(history) - 1 - max(range(len(history)), key=lambda i: history[i].get("auc", -1.0))
        if config.patience is not None and since_best >= config.patience:
            log(f"early stop: no better validation auc for {since_best} epochs; best epoch kept in {out / 'best.pt'}")
            break
    return ckpt_path


def _batch_loss(
    encoder: torch.nn.Module,
    loss_fn: torch.nn.Module,
    table: Table,
    seqs: dict[str, list],
    rows: np.ndarray,
    items: _TokenItems | _ImageItems,
    config: Any,
) -> torch.Tensor:
    if table.layout == "labelled":
        emb = encoder(*items.collate([seqs[table.kind][r] for r in rows], config.device, train=True))
        return loss_fn(emb, torch.from_numpy(table.labels[rows]).to(config.device))
    cols = ("a", "b") if table.layout == "pairs" else ("anchor", "positive", "negative")
    emb = encoder(*items.collate([seqs[c][r] for c in cols for r in rows], config.device, train=True))
    b = torch.arange(rows.size, device=config.device)
    if table.layout == "pairs":
        assert isinstance(loss_fn, ContrastiveLoss)
        dissimilar = torch.from_numpy(1 - table.labels[rows]).to(config.device, torch.float32)  # the loss's Y: 1 = dissimilar
        return loss_fn(emb, None, pairs=(b, b + rows.size, dissimilar))
    assert isinstance(loss_fn, TripletMarginLoss)
    return loss_fn(emb, None, triplets=(b, b + rows.size, b + 2 * rows.size))


@torch.no_grad()
def _embed(encoder: torch.nn.Module, feats: list, items: _TokenItems | _ImageItems, device: str, batch_size: int = 256) -> torch.Tensor:
    """Featurised items -> ``(N, D)`` embeddings on the CPU, encoder in eval mode."""
    was = encoder.training
    encoder.eval()
    out = [encoder(*items.collate(feats[i : i + batch_size], device)).cpu() for i in range(0, len(feats), batch_size)]
    encoder.train(was)
    return torch.cat(out)


class _TokenItems:
    """Texts / dialogs -> token ids (the SDK tokenizer, built from the training split) -> ``(tokens, lengths)``."""

    def __init__(self, table: Table, split: TableSplit, config: Any, state: dict[str, Any] | None):
        self.kind = table.kind
        if state is not None:
            self.tokenizer = Tokenizer.from_dict(state["tokenizer"])
        else:
            train_items = [col[r] for col in table.columns.values() for r in split.train_rows]
            texts = [t for x in train_items for t in (x if table.kind == "dialog" else [x])]
            max_length = config.max_length or DEFAULT_MAX_LENGTH[table.kind]
            self.tokenizer = Tokenizer.build(texts, max_size=config.vocab_size, max_length=max_length)
        width = config.width or 64
        self.arch_kwargs = {"token_dim": width, "hidden_dim": width}
        self.config = config

    def encode(self, items: list) -> list[list[int]]:
        return encode_items(self.tokenizer, self.kind, items)

    def collate(self, feats: list, device: str, train: bool = False) -> tuple[torch.Tensor, ...]:
        return to_tensors(feats, device)

    def describe(self) -> str:
        return f"vocabulary {self.tokenizer.vocab_size()}"

    def checkpoint_keys(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": {
                "kind": self.kind,
                "arch": f"{self.kind}-bilstm",
                "arch_kwargs": self.arch_kwargs,
                "vocab_size": self.tokenizer.vocab_size(),
                "embedding_dim": c.embedding_dim,
                "normalize": bool(c.normalize),
                "metric": c.metric,
            },
            "tokenizer": self.tokenizer.to_dict(),
        }


class _ImageItems:
    """Image paths -> ``(C, H, W) float32`` arrays (``siamese_sdk.preprocess``, decoded once) -> ``(images,)``, augmented in training."""

    def __init__(self, config: Any):
        self.config, self.preprocess = config, config.preprocess()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, paths: list) -> list[np.ndarray]:
        for p in paths:
            if p not in self._cache:
                self._cache[p] = to_array(p, self.preprocess)
        return [self._cache[p] for p in paths]

    def collate(self, feats: list, device: str, train: bool = False) -> tuple[torch.Tensor, ...]:
        x = torch.from_numpy(np.stack(feats)).to(device)
        return (random_affine(x) if train and self.config.augment else x,)

    def describe(self) -> str:
        return f"{len(self._cache)} distinct images"

    def checkpoint_keys(self) -> dict[str, Any]:
        c, p = self.config, self.preprocess
        return {
            "model": {
                "arch": c.arch,
                "arch_kwargs": c.arch_kwargs(),
                "in_channels": c.channels,
                "embedding_dim": c.embedding_dim,
                "input_size": [c.size, c.size],
                "normalize": bool(c.normalize),
                "metric": c.metric,
            },
            "preprocess": {**asdict(p), "size": list(p.size), "mean": list(p.mean), "std": list(p.std)},
        }


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
