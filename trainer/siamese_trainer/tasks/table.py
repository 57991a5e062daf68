"""CSV-table runs (``siamese-train --data file.csv``; ``data.tables`` says the formats): texts, dialogs or images.

- ``text,label`` / ``dialog,label``: split **by class** (``--val-fraction`` of the classes held out, never
  trained on), P x K batches, the loss and miners of ``--loss`` as for images; validation on all pairs
  of the held-out items.
- ``a,b,label``: ``--val-fraction`` of the **pairs** held out; batches of ``P * K`` pairs, contrastive loss
  on exactly those pairs (label 1 = same), plus with ``--in-batch-negatives`` each ``a`` against the next
  row's ``b`` as a different pair; validation on the held-out pairs.
- ``anchor,positive,negative``: ``--val-fraction`` of the **triplets** held out; batches of ``P * K``
  triplets, triplet loss on them; validation: each held-out triplet gives a genuine ``(anchor, positive)``
  and an impostor ``(anchor, negative)`` pair.

Texts and dialogs train the BiLSTM encoders (``models.text_encoders``); the tokenizer (``--tokenizer``: a
subword model, ``data.subword``, or the word tokenizer of ``siamese_sdk.tokenizer``) is built from the training
split only and saved in the checkpoint; export ships it in the bundle. They stop early by default
(``TEXT_PATIENCE``). Image pairs/triplets train the image encoders (``--arch``, ``--size``, ``--channels``, augmentation)
on images read by ``siamese_sdk.format.pixels`` (decoded once per run), and export like a class-folder run,
validated on the held-out rows. Checkpoints, ``--resume``, ``best.pt``, ``--patience`` and ``metrics.json``
are the one loop's (``loop``), as for images. One process only; ``--select oneshot`` and ``--head learned``
are for image folders.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError
from siamese_sdk.eval import metrics

from .. import distances, finetune, loop
from ..advice import warn_classes
from ..checkpoint import Checkpoint
from ..config import TrainConfig
from ..data.sampling import PKSampler
from ..data.table_items import ImageItems, TokenItems
from ..data.table_split import TableSplit, row_batches, split_table, validation_pairs
from ..data.tables import Table, read_table
from ..evaluate import ROW_METRICS
from ..losses import ContrastiveLoss, TripletMarginLoss, make_loss

#: ``--patience`` of text/dialog runs when none is given: stop after this many epochs without a better validation
#: AUC (``best.pt`` keeps the best epoch); pass ``--patience`` to change it (a large value: every epoch)
TEXT_PATIENCE = 2


class TableTask(loop.Task):
    """One encoder over a CSV table's items (``config`` resolved, ``table`` read)."""

    def __init__(self, config: TrainConfig, table: Table):
        self.config, self.out, self.table = config, Path(config.out), table

    @classmethod
    def start(cls, config: TrainConfig) -> TableTask:
        """The table's layout fixes the loss (pairs: contrastive, triplets: triplet); one process only."""
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise InputError("CSV runs train in one process (no DistributedDataParallel yet); run siamese-train without torchrun")
        table = read_table(config.data)
        if table.layout == "pairs":
            config = dataclasses.replace(config, loss="contrastive")
        elif table.layout == "triplets":
            config = dataclasses.replace(config, loss="triplet")
        if config.select == "oneshot":
            raise InputError("--select oneshot is for image folders; CSV runs select the best epoch by validation AUC")
        if config.head == "learned":
            raise InputError("--head learned is for image folders; CSV runs score pairs with the --metric distance")
        if table.kind in ("text", "dialog") and config.patience is None:  # validation AUC peaks early on a few thousand rows
            config = dataclasses.replace(config, patience=TEXT_PATIENCE)
        config = config.resolved()
        loop.check_device(config)
        return cls(config, table)

    def prepare(self, state: Checkpoint | None) -> None:
        config, table = self.config, self.table
        if state is not None:
            self.split = TableSplit.from_dict(state["data"]["split"])
        else:
            self.split = split_table(table, config.val_fraction, config.class_split_seed)
        self.val_items, self.vi, self.vj, self.vsame = validation_pairs(table, self.split, np.random.default_rng(config.seed))
        if not self.vsame.any() or self.vsame.all():
            raise InputError(f"{table.path}: the held-out rows give only one kind of pair; add rows or raise --val-fraction")
        self.items = ImageItems(config) if table.kind == "image" else TokenItems(table, self.split, config, state)
        self.seqs = {c: self.items.encode(col) for c, col in table.columns.items()}
        self.val_seqs = self.items.encode(self.val_items)
        self.sampler: PKSampler | None = None
        if table.layout == "labelled":
            p = min(config.p, len(self.split.train_classes))
            warn_classes(self.log, len(self.split.train_classes), len(self.split.val_classes), config.p, p, csv=True)
            self.sampler = PKSampler(table.labels[self.split.train_rows], p, config.k, config.batches_per_epoch, config.seed)
        if state is None:
            write_text_atomic(self.out / "split.json", json.dumps({"root": str(table.path), **self.split.to_dict()}) + "\n")

    def build(self) -> None:
        self.encoder = self.items.make_encoder().to(self.config.device)
        self.loss_fn = make_loss(self.config)

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.encoder.parameters())

    def backbones(self) -> list[torch.nn.Module]:
        return [b] if (b := finetune.body(self.encoder)) is not None else []

    def batches_per_epoch(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(row_batches(self.table, self.split, self.config, 0))

    def load_state(self, state: Checkpoint) -> None:
        self.encoder.load_state_dict(state["state_dict"])

    def describe(self) -> str:
        c, t, s = self.config, self.table, self.split
        what = (
            f"{len(s.train_classes)} train / {len(s.val_classes)} unseen val classes"
            if t.layout == "labelled"
            else f"{s.train_rows.size} train / {s.val_rows.size} held-out {t.layout}"
        )
        return (
            f"training {t.kind} {c.arch if t.kind == 'image' else 'BiLSTM'} ({c.loss}, {c.metric}"
            f"{', L2-normalised' if c.normalize else ''}) on {t.path}: "
            f"{what}, {self.items.describe()}, {self.batches_per_epoch()} batches per epoch"
        )

    def train_mode(self) -> None:
        self.encoder.train()

    def batches(self, epoch: int) -> Iterable[np.ndarray]:
        if self.sampler is None:
            return row_batches(self.table, self.split, self.config, epoch)
        self.sampler.set_epoch(epoch)
        return [self.split.train_rows[np.asarray(b)] for b in self.sampler]

    def batch_loss(self, rows: np.ndarray) -> torch.Tensor:
        table, device = self.table, self.config.device
        if table.layout == "labelled":
            emb = self.encoder(*self.items.collate([self.seqs[table.kind][r] for r in rows], device, train=True))
            return self.loss_fn(emb, torch.from_numpy(table.labels[rows]).to(device))
        cols = ("a", "b") if table.layout == "pairs" else ("anchor", "positive", "negative")
        emb = self.encoder(*self.items.collate([self.seqs[c][r] for c in cols for r in rows], device, train=True))
        b = torch.arange(rows.size, device=device)
        if table.layout == "pairs":
            assert isinstance(self.loss_fn, ContrastiveLoss)
            dissimilar = torch.from_numpy(1 - table.labels[rows]).to(device, torch.float32)  # the loss's Y: 1 = dissimilar
            i, j = b, b + rows.size
            if self.config.in_batch_negatives and rows.size > 1:  # a_i with the next row's b: taken as different
                i, j = torch.cat([i, b]), torch.cat([j, rows.size + torch.roll(b, 1)])
                dissimilar = torch.cat([dissimilar, torch.ones(rows.size, device=device)])
            return self.loss_fn(emb, None, pairs=(i, j, dissimilar))
        assert isinstance(self.loss_fn, TripletMarginLoss)
        return self.loss_fn(emb, None, triplets=(b, b + rows.size, b + 2 * rows.size))

    def validate(self) -> dict[str, float]:
        emb = self._embed(self.val_seqs)
        d = distances.pairwise(emb[torch.from_numpy(self.vi)], emb[torch.from_numpy(self.vj)], self.config.metric).numpy()
        vm, _ = metrics.summarize(d, self.vsame, distances.metric_of(self.config.metric).higher_is_closer)
        return {k: vm[k] for k in ROW_METRICS}

    @torch.no_grad()
    def _embed(self, feats: list, batch_size: int = 256) -> torch.Tensor:
        """Featurised items -> ``(N, D)`` embeddings on the CPU, encoder in eval mode."""
        was = self.encoder.training
        self.encoder.eval()
        device = self.config.device
        out = [self.encoder(*self.items.collate(feats[i : i + batch_size], device)).cpu() for i in range(0, len(feats), batch_size)]
        self.encoder.train(was)
        return torch.cat(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.encoder.state_dict()

    def checkpoint_parts(self) -> dict[str, Any]:
        t = self.table
        data = {"root": str(t.path.resolve()), "layout": t.layout, "kind": t.kind, "split": self.split.to_dict()}
        return {**self.items.checkpoint_parts(), "data": data}
