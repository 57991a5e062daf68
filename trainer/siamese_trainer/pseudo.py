"""Pseudo-Siamese training: two encoder branches with unshared weights, one per domain.

``siamese-train --pseudo --data photos/ --data-b sketches/`` trains branch ``a`` on ``--data`` and branch
``b`` on ``--data-b``; both folders hold the same class names (identities), and only the classes present
in both are used. Branch b may have another architecture, input size and channel count (``--arch-b``,
``--size-b``, ``--channels-b``). Each P x K batch draws P classes, K images of each from branch a's folder
and K from branch b's; the loss sees **cross-branch** pairs only (an anchor from a, a positive or negative
from b), since a deployed bundle compares a query of one domain with a reference of the other:

- ``contrastive``: every genuine a-b pair and as many random impostor a-b pairs (``contrastive_loss``);
- ``triplet``: batch-all triplets (anchor in a, positive and negative in b; ``--mining`` does not apply),
  mean over the violating ones.

Validation is on the held-out classes (split by class, the same split for both folders): ROC AUC / EER
over all cross-branch pairs. Both folders are preloaded. Not supported here (refused in one line):
``--resume``, torchrun, ``--rotate-classes``, ``--head learned``, ``--select oneshot``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
from siamese_sdk import metrics
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.bundle import Preprocess
from siamese_sdk.errors import InputError
from siamese_sdk.imagefolder import ImageFolder

from . import checkpoint, data, distances
from .encoders import Encoder
from .evaluate import auc_epoch, embed
from .losses import ContrastiveLoss, TripletMarginLoss
from .losses.contrastive import contrastive_loss
from .losses.triplet import triplet_margin_loss
from .sampling import PKSampler

if TYPE_CHECKING:
    from .train import TrainConfig


class CrossBranchLoss(nn.Module):
    """Contrastive or batch-all triplet loss over the cross-branch pairs of ``(ea, ya)`` x ``(eb, yb)``."""

    def __init__(self, loss: str, margin: float, metric: str, normalized: bool, generator: torch.Generator | None = None):
        super().__init__()
        try:  # the one-branch losses check that the margin is reachable for the metric
            (TripletMarginLoss(margin, metric, normalized, "all") if loss == "triplet" else ContrastiveLoss(margin, metric, normalized))
        except ValueError as e:
            raise InputError(str(e)) from None
        self.loss, self.margin, self.metric, self.generator = loss, margin, metric, generator

    def forward(self, ea: torch.Tensor, ya: torch.Tensor, eb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        d = distances.matrix(ea, eb, self.metric)  # (A, B)
        same = ya[:, None] == yb[None, :]
        if self.loss == "triplet":
            valid = same[:, :, None] & ~same[:, None, :]  # (anchor a, positive b, negative b)
            losses = triplet_margin_loss(d[:, :, None], d[:, None, :], self.margin)[valid]
            active = losses > 0
            return losses[active].mean() if active.any() else d.sum() * 0.0
        pos, neg = same.nonzero(as_tuple=True), (~same).nonzero(as_tuple=True)
        take = torch.randperm(neg[0].numel(), generator=self.generator)[: pos[0].numel()]
        dd = torch.cat([d[pos], d[neg[0][take], neg[1][take]]])
        y = torch.cat([torch.zeros(pos[0].numel()), torch.ones(take.numel())]).to(dd)
        return contrastive_loss(dd, y, self.margin).mean()


def cross_metrics(ea: torch.Tensor, la: np.ndarray, eb: torch.Tensor, lb: np.ndarray, metric: str) -> dict[str, float]:
    """ROC AUC, EER, TAR at FAR 1e-2 / 1e-3 over all cross-branch pairs ``(i in a, j in b)``."""
    d = distances.matrix(ea, eb, metric).numpy()
    return metrics.summarize(d.ravel(), (la[:, None] == lb[None, :]).ravel())[0]


def _check(config: TrainConfig, resume: bool, world_size: int) -> None:
    refused = {
        "--resume": resume,
        "torchrun": world_size > 1,
        "--rotate-classes": config.rotate_classes,
        "--head learned": config.head == "learned",
        "--select oneshot": config.select == "oneshot",
    }
    bad = [k for k, v in refused.items() if v]
    if bad:
        raise InputError(f"pseudo-Siamese training does not support {', '.join(bad)} yet; drop it")


def _model_entry(config: TrainConfig, arch: str, channels: int, size: int) -> dict[str, Any]:
    return {
        "arch": arch,
        "arch_kwargs": config.arch_kwargs(arch),
        "in_channels": channels,
        "embedding_dim": config.embedding_dim,
        "input_size": [size, size],
        "normalize": bool(config.normalize),
        "metric": config.metric,
    }


def _preprocess_entry(p: Preprocess) -> dict[str, Any]:
    return {**asdict(p), "size": list(p.size), "mean": list(p.mean), "std": list(p.std)}


def train_pseudo(config: TrainConfig, resume: bool, log: Callable[[str], None], versions: dict[str, str], world_size: int = 1) -> Path:
    """Train both branches of a pseudo-Siamese run (``config`` already resolved); returns ``RUN_DIR/model.pt``."""
    _check(config, resume, world_size)
    out = Path(config.out)
    ckpt_path = out / "model.pt"
    if ckpt_path.exists():
        raise InputError(f"{ckpt_path} exists; choose another --out (pseudo-Siamese runs cannot --resume yet)")
    if config.threads:
        torch.set_num_threads(config.threads)
    arch_b, size_b, channels_b = config.arch_b or config.arch, int(config.size_b or config.size), int(config.channels_b or config.channels)
    root_a, root_b = data.resolve_root(config.data), Path(str(config.data_b))
    folder_a, folder_b = ImageFolder.scan(root_a), ImageFolder.scan(root_b)
    common = sorted(set(folder_a.classes) & set(folder_b.classes))
    if len(common) < 4:
        raise InputError(
            f"--data and --data-b share {len(common)} class name(s); need at least 4 identities present in both folders"
        )
    train_classes, val_classes = data.split_classes(folder_a.subset(common), config.val_fraction, config.class_split_seed)
    pre_a = config.preprocess()
    pre_b = Preprocess(size=(size_b, size_b), channels=channels_b, mean=(0.5,) * channels_b, std=(0.5,) * channels_b)
    train_a = data.ImageDataset(folder_a.subset(train_classes), pre_a)
    train_b = data.ImageDataset(folder_b.subset(train_classes), pre_b)
    val_a = data.ImageDataset(folder_a.subset(val_classes), pre_a)
    val_b = data.ImageDataset(folder_b.subset(val_classes), pre_b)
    xa, xb = train_a.images(), train_b.images()
    by_class_b = [np.flatnonzero(train_b.labels == c) for c in range(len(train_classes))]
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out / "split.json",
        json.dumps({"root": str(root_a), "root_b": str(root_b), "train": train_classes, "val": val_classes}, indent=1) + "\n",
    )
    p = min(config.p, len(train_classes))
    sampler = PKSampler(train_a.labels, p, config.k, config.batches_per_epoch, config.seed)

    torch.manual_seed(config.seed)
    weights = {"weights": config.weights} if config.weights else {}
    size_a = (config.size, config.size)
    enc_a = Encoder(config.arch, config.channels, config.embedding_dim, size_a, bool(config.normalize), **config.arch_kwargs(), **weights)
    enc_b = Encoder(arch_b, channels_b, config.embedding_dim, (size_b, size_b), bool(config.normalize), **config.arch_kwargs(arch_b))
    loss_fn = CrossBranchLoss(config.loss, float(config.margin), config.metric, bool(config.normalize))
    params = [*enc_a.parameters(), *enc_b.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * len(sampler))
    log(
        f"training pseudo-Siamese {config.arch} (a: {root_a}) + {arch_b} (b: {root_b}), {config.loss}, {config.metric}: "
        f"{len(train_classes)} train / {len(val_classes)} unseen val classes, {len(sampler)} batches of {p}x{config.k} per branch"
    )
    history: list[dict[str, float]] = []
    best = -1.0
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)
        rng = np.random.default_rng([config.seed, epoch, 1])
        sampler.set_epoch(epoch)
        enc_a.train()
        enc_b.train()
        total, n = 0.0, 0
        for batch in sampler:
            ia = np.asarray(batch)
            ya = train_a.labels[ia]
            ib = np.concatenate([rng.choice(by_class_b[c], size=config.k, replace=by_class_b[c].size < config.k) for c in ya[:: config.k]])
            a_img, b_img = xa[ia], xb[ib]
            if config.augment:
                a_img, b_img = data.random_affine(a_img), data.random_affine(b_img)
            loss = loss_fn(enc_a(a_img), torch.from_numpy(ya), enc_b(b_img), torch.from_numpy(train_b.labels[ib]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, n = total + loss.item(), n + 1
        vm = cross_metrics(embed(enc_a, val_a.images()), val_a.labels, embed(enc_b, val_b.images()), val_b.labels, config.metric)
        row, improved = auc_epoch(history, epoch, config.epochs, total / max(n, 1), vm, t0, best, log, "cross-branch val")
        payload = {
            "model": _model_entry(config, config.arch, config.channels, config.size),
            "preprocess": _preprocess_entry(pre_a),
            "data": {
                "root": str(root_a) if config.data not in (None, data.EMBEDDED) else data.EMBEDDED,
                "train_classes": list(train_classes),
                "val_classes": list(val_classes),
            },
            "branches": {
                "b": {
                    "model": _model_entry(config, arch_b, channels_b, size_b),
                    "preprocess": _preprocess_entry(pre_b),
                    "data_root": str(root_b),
                    "state_dict": enc_b.state_dict(),
                }
            },
            "config": asdict(config),
            "state_dict": enc_a.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "versions": versions,
        }
        if improved:
            best = row["auc"]
            checkpoint.save(out / "best.pt", payload)
        checkpoint.save(ckpt_path, payload)
        write_text_atomic(out / "metrics.json", json.dumps({"config": asdict(config), "history": history}, indent=2) + "\n")
    return ckpt_path
