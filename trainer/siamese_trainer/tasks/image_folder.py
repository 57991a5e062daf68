"""Image-folder runs: P x K batches of one class folder tree, online mining, validation on unseen classes.

Validation per epoch: the loss on fixed batches of the validation classes, ROC AUC / EER / TAR over all
their pairs, and 20-way 1-shot accuracy (``--select`` picks best.pt by AUC or by it). Multi-process under
``torchrun`` (``distributed``). With ``--head learned`` the head lives in the loss and trains jointly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError
from siamese_sdk.eval import oneshot
from siamese_sdk.tools.imagefolder import ImageFolder, PathTable

from .. import checkpoint, distances, distributed, finetune, loop, pretrained
from ..advice import warn_classes
from ..checkpoint import Checkpoint
from ..config import TrainConfig
from ..data import augment, images
from ..data.sampling import PKSampler
from ..evaluate import ROW_METRICS, embed, verification_metrics
from ..losses import make_loss
from ..losses.influence import InfluenceLoss
from ..models.encoders import Encoder
from ..old_model import OldEncoder

VAL_LOSS_BATCHES = 8
VAL_ONESHOT_EPISODES = 300


class ImageFolderTask(loop.Task):
    """One encoder over ``--data``'s class folders (``config`` resolved)."""

    def __init__(self, config: TrainConfig):
        self.config, self.out = config, Path(config.out)
        loop.check_device(config)
        self.world = distributed.init(config.device)

    @classmethod
    def start(cls, config: TrainConfig) -> ImageFolderTask:
        return cls(config.resolved())

    def prepare(self, state: Checkpoint | None) -> None:
        config, out = self.config, self.out
        self.root = images.resolve_root(config.data)
        index_path = out / "index.npz"  # the folder is walked once per run; a resume reuses the same file list
        if state is not None and index_path.exists():
            folder = ImageFolder.load(index_path)
            if folder.root != self.root:  # the same files under today's root (the embedded set's unpacked folder moves)
                folder = dataclasses.replace(folder, root=self.root, paths=PathTable(self.root, folder.paths.rel))
        else:
            folder = ImageFolder.scan(self.root)
        if state is not None:
            self.train_classes, self.val_classes = state["data"]["train_classes"], state["data"]["val_classes"]
        else:
            self.train_classes, self.val_classes = images.split_classes(folder, config.val_fraction, config.class_split_seed)
        self.pre = config.preprocess()
        if state is None and self.world.is_main:
            folder.save(index_path)
            split = {"root": str(self.root), "train": self.train_classes, "val": self.val_classes}
            write_text_atomic(out / "split.json", json.dumps(split, indent=1) + "\n")
        base_set = images.ImageDataset(folder.subset(self.train_classes), self.pre)
        self.train_set = images.RotatedClasses(base_set) if config.rotate_classes else base_set
        self.val_set = images.ImageDataset(folder.subset(self.val_classes), self.pre)
        for dataset in (base_set, self.val_set):
            dataset.warn_skipped(self.log)
        self.p = min(config.p, len(np.unique(self.train_set.labels)))
        if self.world.is_main:
            warn_classes(self.log, len(self.train_classes), len(self.val_classes), config.p, self.p)
        groups = class_groups(self.train_classes, config.rotate_classes) if config.groups_per_batch else None
        w = self.world
        self.sampler = PKSampler(
            self.train_set.labels, self.p, config.k, config.batches_per_epoch, config.seed, w.rank, w.size, groups, config.groups_per_batch
        )
        self.loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self.sampler, num_workers=config.workers, persistent_workers=config.workers > 0
        )
        self.val_images, self.val_labels = self.val_set.images(), self.val_set.folder.labels
        self.way = min(20, len(self.val_classes))
        self.episodes = oneshot.sample_episodes(
            self.val_labels, self.val_classes, self.way, 1, VAL_ONESHOT_EPISODES, False, seed=config.seed
        )

    def build(self) -> None:
        config = self.config
        self.encoder = Encoder(
            config.arch,
            config.channels,
            config.embedding_dim,
            config.hw,
            bool(config.normalize),
            **config.arch_kwargs(),
            **({"weights": config.weights} if config.weights else {}),  # training only: the checkpoint holds the weights
        )
        if config.init:
            self.log(pretrained.load_into(self.encoder, config.init))
        self.encoder.to(config.device)
        self.model: torch.nn.Module = self.encoder
        if self.world.enabled:
            if config.device.startswith("cuda"):
                self.encoder = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.encoder)
            self.model = torch.nn.parallel.DistributedDataParallel(self.encoder)
        self.loss_fn = make_loss(config).to(config.device)
        if self.world.enabled and config.head == "learned":
            raise InputError("--head learned does not run under torchrun yet (its head is not synchronised); train in one process")
        self.score = scorer(config, self.loss_fn)
        self.old = OldEncoder(config.compatible_with) if config.compatible_with else None
        if self.old is not None:
            self.influence = InfluenceLoss(config.loss, float(config.margin), config.metric, bool(config.normalize), config.temperature)

    def parameters(self) -> list[torch.nn.Parameter]:
        # a learned head lives in the loss and trains jointly with the encoder; metric losses have no parameters
        return [*self.encoder.parameters(), *self.loss_fn.parameters()]

    def backbones(self) -> list[torch.nn.Module]:
        return [b] if (b := finetune.body(self.encoder)) is not None else []

    def batches_per_epoch(self) -> int:
        return len(self.sampler)

    def load_state(self, state: Checkpoint) -> None:
        self.encoder.load_state_dict(state["state_dict"])
        if "head_state_dict" in state:
            self.loss_fn.head.load_state_dict(state["head_state_dict"])

    def describe(self) -> str:
        c, w = self.config, self.world
        return (
            f"training {c.arch} ({c.loss}, {c.metric}{', L2-normalised' if c.normalize else ''}) on {self.root}: "
            f"{len(self.train_classes)} train / {len(self.val_classes)} unseen val classes, "
            f"{len(self.train_set)} / {len(self.val_set)} images, "
            f"{len(self.sampler)} batches of {self.p}x{c.k} per epoch" + (f", {w.size} processes" if w.enabled else "")
            + (f"; compatible with {self.old.source} (influence loss through the frozen old encoder)" if self.old else "")
        )

    def train_mode(self) -> None:
        self.encoder.train()

    def batches(self, epoch: int) -> Iterable[Any]:
        self.sampler.set_epoch(epoch)
        return self.loader

    def batch_loss(self, batch: Any) -> torch.Tensor:
        config, world = self.config, self.world
        x, y = (t.to(config.device) for t in batch)
        pre, b = self.pre, x.shape[0]
        x = augment.apply(x, str(config.augment), config.thickness, pre.mean, pre.std, world.rank * b, world.size * b)
        # mining and loss see the global batch; the loop's x world.size undoes DDP's gradient averaging
        emb, labels = distributed.gather(self.model(x), world), distributed.gather(y, world)
        loss = self.loss_fn(emb, labels)
        if self.old is not None:  # backward-compatible: new queries against the frozen old encoder's embeddings
            loss = loss + self.influence(emb, distributed.gather(self.old.embed(x, pre), world), labels)
        return loss

    def validate(self) -> dict[str, float]:
        config = self.config
        row = {"val_loss": val_loss(self.encoder, self.loss_fn, self.val_images, self.val_labels, config)}
        val_emb = embed(self.encoder, self.val_images, device=config.device)
        vm = verification_metrics(val_emb, self.val_labels, config.bundle_metric, self.score)
        row.update({k: vm[k] for k in ROW_METRICS})
        row["oneshot"] = oneshot.evaluate(
            val_emb.numpy(),
            self.episodes,
            lambda a, b: self.score(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
            config.head == "learned",
        ).accuracy
        return row

    def summary(self, row: dict[str, float]) -> str:
        return (
            f"val_loss {row['val_loss']:.4f}  val AUC {row['auc']:.4f}  EER {row['eer']:.4f}  "
            f"{self.way}-way 1-shot {row['oneshot'] * 100:.1f}%"
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.encoder.state_dict()

    def checkpoint_parts(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": checkpoint.image_model_entry(c, c.arch, c.channels, c.hw, c.bundle_metric),
            "preprocess": checkpoint.preprocess_entry(self.pre),
            "data": {
                "root": images.root_entry(c.data, self.root),
                "train_classes": list(self.train_classes),
                "val_classes": list(self.val_classes),
            },
            **({"head_state_dict": self.loss_fn.head.state_dict()} if c.head == "learned" else {}),
            **({"compatibility": self.old.entry()} if self.old is not None else {}),
        }


def scorer(config: TrainConfig, loss_fn: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(N, D), (M, D) -> (N, M)`` scores as the bundle's matrix head computes them (p(same) for a learned head)."""
    if config.head == "learned":
        return torch.no_grad()(loss_fn.head.matrix)
    return lambda a, b: distances.matrix(a, b, config.metric)


def class_groups(classes: list[str], rotated: bool) -> np.ndarray:
    """Group id per training label: the class's parent folder (its alphabet), and with rotated classes
    also the rotation (label ``4 * c + r``), so siblings drawn together share an orientation."""
    names = [oneshot.group_of(c) for c in classes]
    if rotated:
        names = [f"{names[c]}@{r}" for c in range(len(classes)) for r in range(4)]  # index 4 * c + r
    return np.unique(np.asarray(names), return_inverse=True)[1]


@torch.no_grad()
def val_loss(encoder: torch.nn.Module, loss_fn: torch.nn.Module, images: torch.Tensor, labels: np.ndarray, config: TrainConfig) -> float:
    """Mean loss over ``VAL_LOSS_BATCHES`` fixed P x K batches of the validation classes (comparable across epochs)."""
    encoder.eval()
    p = min(config.p, len(np.unique(labels)))
    sampler = PKSampler(labels, p, config.k, VAL_LOSS_BATCHES, seed=config.seed + 1)
    rng_state = torch.get_rng_state()
    torch.manual_seed(config.seed + 1)  # fixed negatives for contrastive: comparable across epochs
    losses = [
        float(loss_fn(encoder(images[b].to(config.device)), torch.from_numpy(labels[b]).to(config.device)))
        for b in map(np.asarray, sampler)
    ]
    torch.set_rng_state(rng_state)
    encoder.train()
    return float(np.mean(losses))
