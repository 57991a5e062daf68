"""Training on CSV tables of texts or dialogs (``siamese-train --data file.csv``; ``tables`` says the formats).

- ``text,label`` / ``dialog,label``: split **by class** (``--val-fraction`` of the classes held out, never
  trained on), P x K batches, the loss and miners of ``--loss`` as for images; validation on all pairs
  of the held-out items.
- ``a,b,label``: ``--val-fraction`` of the **pairs** held out; batches of ``P * K`` pairs, contrastive loss
  on exactly those pairs (label 1 = same); validation on the held-out pairs.
- ``anchor,positive,negative``: ``--val-fraction`` of the **triplets** held out; batches of ``P * K``
  triplets, triplet loss on them; validation: each held-out triplet gives a genuine ``(anchor, positive)``
  and an impostor ``(anchor, negative)`` pair.

The tokenizer (``siamese_sdk.tokenizer``, the SDK's code) is built from the training split only and saved
in the checkpoint; export ships it in the bundle. Checkpoints, ``--resume``, ``best.pt`` and
``metrics.json`` work as for images.
"""

from __future__ import annotations

import dataclasses
import json
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
from siamese_sdk.tokenizer import Tokenizer, pad_batch

from . import checkpoint, distances
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


@torch.no_grad()
def embed_seqs(encoder: torch.nn.Module, seqs: list[list[int]], batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """Id sequences -> ``(N, D)`` embeddings on the CPU, encoder in eval mode."""
    was = encoder.training
    encoder.eval()
    out = [encoder(*to_tensors(seqs[i : i + batch_size], device)).cpu() for i in range(0, len(seqs), batch_size)]
    encoder.train(was)
    return torch.cat(out)


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
    from .train import TrainConfig  # the one config type; imported here to keep the modules acyclic

    out = Path(config.out)
    ckpt_path = out / "model.pt"
    state: dict[str, Any] | None = None
    if resume:
        if not ckpt_path.exists():
            raise InputError(f"nothing to resume: {ckpt_path} does not exist; drop --resume to start a new run")
        state = checkpoint.load(ckpt_path)
        saved = TrainConfig(**state["config"])
        config = dataclasses.replace(saved, epochs=max(config.epochs, saved.epochs), out=str(out))
    elif ckpt_path.exists():
        raise InputError(f"{ckpt_path} exists; pass --resume to continue that run, or choose another --out")
    table = read_table(config.data)
    if table.kind == "image":
        raise InputError(
            f"{table.path} holds image paths; image pairs/triplets CSVs are not supported yet: use class folders (DIR/class/img.png)"
        )
    if table.layout == "pairs":
        config = dataclasses.replace(config, loss="contrastive")
    elif table.layout == "triplets":
        config = dataclasses.replace(config, loss="triplet")
    if config.select != "auc":
        raise InputError("--select oneshot is for image folders; CSV runs select the best epoch by validation AUC")
    if config.threads:
        torch.set_num_threads(config.threads)
    config = config.resolved()
    max_length = config.max_length or DEFAULT_MAX_LENGTH[table.kind]
    if state is not None:
        split = TableSplit.from_dict(state["data"]["split"])
        tokenizer = Tokenizer.from_dict(state["tokenizer"])
    else:
        split = split_table(table, config.val_fraction, config.seed)
        train_items = [x for col in table.columns.values() for r in split.train_rows for x in [col[r]]]
        texts = [t for x in train_items for t in (x if table.kind == "dialog" else [x])]
        tokenizer = Tokenizer.build(texts, max_size=config.vocab_size, max_length=max_length)
    seqs = {c: encode_items(tokenizer, table.kind, col) for c, col in table.columns.items()}
    rng = np.random.default_rng(config.seed)
    val_items, vi, vj, vsame = validation_pairs(table, split, rng)
    val_seqs = encode_items(tokenizer, table.kind, val_items)
    if not vsame.any() or vsame.all():
        raise InputError(f"{table.path}: the held-out rows give only one kind of pair; add rows or raise --val-fraction")

    torch.manual_seed(config.seed)
    arch_kwargs = {"token_dim": config.width, "hidden_dim": config.width}
    encoder = TextEncoder(table.kind, tokenizer.vocab_size(), config.embedding_dim, bool(config.normalize), **arch_kwargs)
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
        f"training {table.kind} BiLSTM ({config.loss}, {config.metric}{', L2-normalised' if config.normalize else ''}) on {table.path}: "
        f"{what}, vocabulary {tokenizer.vocab_size()}, {n_batches} batches per epoch"
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
            loss = _batch_loss(encoder, loss_fn, table, seqs, rows, config.device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, n = total + loss.item(), n + 1
        emb = embed_seqs(encoder, val_seqs, device=config.device)
        d = distances.pairwise(emb[torch.from_numpy(vi)], emb[torch.from_numpy(vj)], config.metric).numpy()
        vm, _ = metrics.summarize(d, vsame)
        row = {"epoch": epoch + 1, "train_loss": total / max(n, 1), **{k: vm[k] for k in ("auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3")}}
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        improved = row["auc"] > best
        log(
            f"epoch {epoch + 1}/{config.epochs}  loss {row['train_loss']:.4f}  val AUC {row['auc']:.4f}  EER {row['eer']:.4f}  "
            f"({row['seconds']:.1f}s){'  *best' if improved else ''}"
        )
        payload = {
            "model": {
                "kind": table.kind,
                "arch": f"{table.kind}-bilstm",
                "arch_kwargs": arch_kwargs,
                "vocab_size": tokenizer.vocab_size(),
                "embedding_dim": config.embedding_dim,
                "normalize": bool(config.normalize),
                "metric": config.metric,
            },
            "tokenizer": tokenizer.to_dict(),
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
    encoder: torch.nn.Module, loss_fn: torch.nn.Module, table: Table, seqs: dict[str, list[list[int]]], rows: np.ndarray, device: str
) -> torch.Tensor:
    if table.layout == "labelled":
        emb = encoder(*to_tensors([seqs[table.kind][r] for r in rows], device))
        return loss_fn(emb, torch.from_numpy(table.labels[rows]).to(device))
    cols = ("a", "b") if table.layout == "pairs" else ("anchor", "positive", "negative")
    emb = encoder(*to_tensors([seqs[c][r] for c in cols for r in rows], device))
    b = torch.arange(rows.size, device=device)
    if table.layout == "pairs":
        assert isinstance(loss_fn, ContrastiveLoss)
        dissimilar = torch.from_numpy(1 - table.labels[rows]).to(device, torch.float32)  # the loss's Y: 1 = dissimilar
        return loss_fn(emb, None, pairs=(b, b + rows.size, dissimilar))
    assert isinstance(loss_fn, TripletMarginLoss)
    return loss_fn(emb, None, triplets=(b, b + rows.size, b + 2 * rows.size))
