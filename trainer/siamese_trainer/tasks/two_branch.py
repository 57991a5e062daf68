"""Two-branch (pseudo-Siamese) runs: two encoders with unshared weights, one per domain.

``siamese-train --pseudo --data photos/ --data-b sketches/`` trains branch ``a`` on ``--data`` and branch
``b`` on ``--data-b``; both folders hold the same class names (identities), and only the classes present
in both are used. Branch b may have another architecture, input size and channel count (``--arch-b``,
``--size-b``, ``--channels-b``). Each P x K batch draws P classes, K images of each from branch a's folder
and K from branch b's; the loss (``losses.cross_branch``) sees cross-branch pairs only; with ``--loss
triplet`` it takes every triplet (``--mining`` does not apply).

Validation is on the held-out classes (split by class, the same split for both folders): ROC AUC / EER
over all cross-branch pairs. Both folders are preloaded. Not supported here (refused in one line):
torchrun, ``--rotate-classes``, ``--head learned``, ``--select oneshot``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError
from siamese_sdk.tools.imagefolder import ImageFolder

from .. import checkpoint, finetune, loop
from ..advice import warn_classes
from ..checkpoint import Checkpoint
from ..config import TrainConfig, size_hw
from ..data import augment, images
from ..data.sampling import PKSampler
from ..evaluate import ROW_METRICS, cross_metrics, embed
from ..losses.cross_branch import CrossBranchLoss
from ..models.encoders import Encoder


class TwoBranchTask(loop.Task):
    """Encoders ``a`` (``--data``) and ``b`` (``--data-b``) trained together on cross-branch pairs (``config`` resolved)."""

    progress = False

    def __init__(self, config: TrainConfig):
        self.config, self.out = config, Path(config.out)
        self.arch_b = config.arch_b or config.arch
        self.size_b, self.channels_b = size_hw(config.size_b or config.size), int(config.channels_b or config.channels)

    @classmethod
    def start(cls, config: TrainConfig) -> TwoBranchTask:
        config = config.resolved()
        refused = {
            "torchrun": int(os.environ.get("WORLD_SIZE", "1")) > 1,
            "--rotate-classes": config.rotate_classes,
            "--head learned": config.head == "learned",
            "--select oneshot": config.select == "oneshot",
        }
        bad = [k for k, v in refused.items() if v]
        if bad:
            raise InputError(f"pseudo-Siamese training does not support {', '.join(bad)} yet; drop it")
        loop.check_device(config)
        return cls(config)

    def prepare(self, state: Checkpoint | None) -> None:
        config = self.config
        self.root_a, self.root_b = images.resolve_root(config.data), Path(str(config.data_b))
        folder_a, folder_b = ImageFolder.scan(self.root_a), ImageFolder.scan(self.root_b)
        if state is not None:
            self.train_classes, self.val_classes = state["data"]["train_classes"], state["data"]["val_classes"]
        else:
            common = sorted(set(folder_a.classes) & set(folder_b.classes))
            if len(common) < 4:
                raise InputError(
                    f"--data and --data-b share {len(common)} class name(s); need at least 4 identities present in both folders"
                )
            self.train_classes, self.val_classes = images.split_classes(folder_a.subset(common), config.val_fraction, config.class_split_seed)
        self.pre_a, self.pre_b = config.preprocess(), config.preprocess(self.size_b, self.channels_b)
        self.train_a = images.ImageDataset(folder_a.subset(self.train_classes), self.pre_a)
        self.train_b = images.ImageDataset(folder_b.subset(self.train_classes), self.pre_b)
        self.val_a = images.ImageDataset(folder_a.subset(self.val_classes), self.pre_a)
        self.val_b = images.ImageDataset(folder_b.subset(self.val_classes), self.pre_b)
        for dataset in (self.train_a, self.train_b, self.val_a, self.val_b):
            dataset.warn_skipped(self.log)
        self.xa, self.xb = self.train_a.images(), self.train_b.images()
        self.by_class_b = [np.flatnonzero(self.train_b.labels == c) for c in range(len(self.train_classes))]
        if state is None:
            split = {"root": str(self.root_a), "root_b": str(self.root_b), "train": self.train_classes, "val": self.val_classes}
            write_text_atomic(self.out / "split.json", json.dumps(split, indent=1) + "\n")
        self.p = min(config.p, len(self.train_classes))
        warn_classes(self.log, len(self.train_classes), len(self.val_classes), config.p, self.p)
        self.sampler = PKSampler(self.train_a.labels, self.p, config.k, config.batches_per_epoch, config.seed)

    def build(self) -> None:
        c = self.config
        weights = {"weights": c.weights} if c.weights else {}
        self.enc_a = Encoder(c.arch, c.channels, c.embedding_dim, c.hw, bool(c.normalize), **c.arch_kwargs(), **weights)
        self.enc_b = Encoder(
            self.arch_b, self.channels_b, c.embedding_dim, self.size_b, bool(c.normalize), **c.arch_kwargs(self.arch_b)
        )
        self.enc_a.to(c.device)
        self.enc_b.to(c.device)
        self.loss_fn = CrossBranchLoss(c.loss, float(c.margin), c.metric, bool(c.normalize))

    def parameters(self) -> list[torch.nn.Parameter]:
        return [*self.enc_a.parameters(), *self.enc_b.parameters()]

    def backbones(self) -> list[torch.nn.Module]:
        return [b] if (b := finetune.body(self.enc_a)) is not None else []  # branch a's: the one --weights loads

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def load_state(self, state: Checkpoint) -> None:
        self.enc_a.load_state_dict(state["state_dict"])
        self.enc_b.load_state_dict(state["branches"]["b"]["state_dict"])

    def describe(self) -> str:
        c = self.config
        return (
            f"training pseudo-Siamese {c.arch} (a: {self.root_a}) + {self.arch_b} (b: {self.root_b}), {c.loss}, {c.metric}: "
            f"{len(self.train_classes)} train / {len(self.val_classes)} unseen val classes, "
            f"{len(self.sampler)} batches of {self.p}x{c.k} per branch"
        )

    def train_mode(self) -> None:
        self.enc_a.train()
        self.enc_b.train()

    def batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(a indices (P*K,), b indices (P*K,))``: K images of each of the batch's classes from either folder."""
        k = self.config.k
        rng = np.random.default_rng([self.config.seed, epoch, 1])
        self.sampler.set_epoch(epoch)
        for batch in self.sampler:
            ia = np.asarray(batch)
            classes = self.train_a.labels[ia][::k]
            ib = np.concatenate([rng.choice(self.by_class_b[c], size=k, replace=self.by_class_b[c].size < k) for c in classes])
            yield ia, ib

    def batch_loss(self, batch: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
        (ia, ib), device = batch, self.config.device
        a_img, b_img = self.xa[ia].to(device), self.xb[ib].to(device)
        c = self.config
        a_img = augment.apply(a_img, str(c.augment), c.thickness, self.pre_a.mean, self.pre_a.std)
        b_img = augment.apply(b_img, str(c.augment), c.thickness, self.pre_b.mean, self.pre_b.std)
        ya, yb = torch.from_numpy(self.train_a.labels[ia]).to(device), torch.from_numpy(self.train_b.labels[ib]).to(device)
        return self.loss_fn(self.enc_a(a_img), ya, self.enc_b(b_img), yb)

    def validate(self) -> dict[str, float]:
        c = self.config
        ea, eb = embed(self.enc_a, self.val_a.images(), device=c.device), embed(self.enc_b, self.val_b.images(), device=c.device)
        vm = cross_metrics(ea, self.val_a.labels, eb, self.val_b.labels, c.metric)
        return {k: vm[k] for k in ROW_METRICS}

    def summary(self, row: dict[str, float]) -> str:
        return f"cross-branch val AUC {row['auc']:.4f}  EER {row['eer']:.4f}"

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.enc_a.state_dict()

    def checkpoint_parts(self) -> dict[str, Any]:
        c = self.config
        branch_b = {
            "model": checkpoint.image_model_entry(c, self.arch_b, self.channels_b, self.size_b, c.metric),
            "preprocess": checkpoint.preprocess_entry(self.pre_b),
            "data_root": str(self.root_b),
            "state_dict": self.enc_b.state_dict(),
        }
        return {
            "model": checkpoint.image_model_entry(c, c.arch, c.channels, c.hw, c.metric),
            "preprocess": checkpoint.preprocess_entry(self.pre_a),
            "data": {
                "root": images.root_entry(c.data, self.root_a),
                "train_classes": list(self.train_classes),
                "val_classes": list(self.val_classes),
            },
            "branches": {"b": branch_b},
        }
