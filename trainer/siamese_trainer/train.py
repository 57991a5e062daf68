"""The training loop: P x K batches, online mining, per-epoch validation, atomic resumable checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from siamese_sdk import __version__ as sdk_version
from siamese_sdk import oneshot
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.bundle import Preprocess
from siamese_sdk.errors import InputError
from siamese_sdk.imagefolder import ImageFolder

from . import checkpoint, data, distances, distributed
from .backbones import is_factory_spec, resolve_factory
from .encoders import ARCHS, Encoder
from .evaluate import embed, verification_metrics
from .heads import PairBCELoss
from .losses import LOSSES, ContrastiveLoss, NTXentLoss, TripletMarginLoss
from .sampling import PKSampler
from .tables import is_table

DEFAULT_SIZE = {"convnet4": 28, "koch": 105, "signet": 112}
#: input size of a user backbone (``--arch package.module:factory``) when --size is not given
DEFAULT_FACTORY_SIZE = 64
DEFAULT_WIDTH = {"convnet4": 64, "signet": 96}
DEFAULT_NORM = {"convnet4": "batch", "signet": "lrn"}
#: learning rate when --lr is not given: SigNet (no BatchNorm by default, a wide FC layer) trains at the
#: paper's 1e-4; at 1e-3 its embeddings nearly collapse (val AUC 0.73 vs 0.82 after 40 batches, measured)
DEFAULT_LR = {"signet": 1e-4}
ARCH_NORMS = {"convnet4": ("batch", "group"), "signet": ("lrn", "batch")}
VAL_LOSS_BATCHES = 8
VAL_ONESHOT_EPISODES = 300

#: ``--preset`` settings; any flag given explicitly overrides them.
PRESETS: dict[str, dict[str, Any]] = {
    # Omniglot one-shot: 28 px 4-block CNN, NT-Xent over P x K = 32 x 4 batches of unit vectors (T = 0.1),
    # rotated characters as extra classes, affine + stroke-width augmentation, cosine schedule over 40 x 300
    # batches (README "Omniglot one-shot results" has the runs behind each choice); best.pt is the epoch with
    # the best validation 20-way one-shot accuracy (validation classes are never trained on).
    "omniglot": dict(
        arch="convnet4",
        size=28,
        width=64,
        embedding_dim=128,
        loss="ntxent",
        temperature=0.1,
        p=32,
        k=4,
        epochs=40,
        batches_per_epoch=300,
        lr=2e-3,
        val_fraction=0.1,
        augment=True,
        thickness=0.6,
        rotate_classes=True,
        select="oneshot",
    ),
}


@dataclass
class TrainConfig:
    """Everything that defines a run; ``None`` fields take the loss/arch-dependent default in ``resolved``.

    Defaults: contrastive uses raw (un-normalised) embeddings with margin 2.0, as in the reference article;
    triplet uses L2-normalised embeddings with margin 0.2, as FaceNet; ntxent uses L2-normalised embeddings
    with temperature 0.1 (no margin). Input size 28 px for ``convnet4``,
    105 px for ``koch``.
    """

    data: str | None = None
    out: str = "runs/default"
    loss: str = "contrastive"
    arch: str = "convnet4"
    epochs: int = 10
    embedding_dim: int = 64
    normalize: bool | None = None
    metric: str = "euclidean"
    margin: float | None = None
    mining: str = "semihard"
    #: softmax temperature of ``--loss ntxent`` (cosine similarities are divided by it)
    temperature: float = 0.1
    p: int = 16
    k: int = 4
    groups_per_batch: int | None = None
    batches_per_epoch: int | None = None
    lr: float | None = None
    weight_decay: float = 1e-4
    size: int | None = None
    channels: int = 1
    width: int | None = None
    norm: str | None = None
    weights: str | None = None
    head: str = "metric"
    pseudo: bool = False
    data_b: str | None = None
    arch_b: str | None = None
    size_b: int | None = None
    channels_b: int | None = None
    val_fraction: float = 0.2
    augment: bool = True
    thickness: float = 0.0
    rotate_classes: bool = False
    select: str = "auc"
    patience: int | None = None
    seed: int = 0
    #: seed of the train/validation split (None: ``seed``); members of one ensemble share it (README, export)
    split_seed: int | None = None
    device: str = "cpu"
    threads: int | None = None
    workers: int = 0
    preset: str | None = None
    #: CSV text/dialog runs (``table_train``): tokens kept per item (None: 64 text, 128 dialog) and vocabulary cap
    max_length: int | None = None
    vocab_size: int = 20000

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> TrainConfig:
        """``PRESETS[preset]`` (if any) with ``overrides`` on top: explicit flags always win."""
        if preset is not None and preset not in PRESETS:
            raise InputError(f"--preset {preset!r} unknown; expected one of {sorted(PRESETS)}")
        return cls(**{**(PRESETS[preset] if preset else {}), **overrides, "preset": preset})

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` default filled in and values checked (``InputError`` if off)."""
        if self.loss not in LOSSES:
            raise InputError(f"--loss {self.loss!r} unknown; expected one of {sorted(LOSSES)}")
        for arch in (self.arch, self.arch_b or self.arch):
            if arch not in ARCHS and not is_factory_spec(arch):
                raise InputError(f"--arch {arch!r} unknown; expected one of {sorted(ARCHS)} or package.module:factory")
            if is_factory_spec(arch):
                resolve_factory(arch)  # fail before any file is written
        norm = self.norm or DEFAULT_NORM.get(self.arch, "batch")
        for arch in {self.arch, self.arch_b or self.arch}:
            if self.norm is not None and arch in ARCH_NORMS and self.norm not in ARCH_NORMS[arch]:
                raise InputError(f"--norm {self.norm} does not apply to {arch}; expected one of {list(ARCH_NORMS[arch])}")
        if self.weights is not None and not is_factory_spec(self.arch):
            raise InputError("--weights loads a user backbone's state_dict; use it with --arch package.module:factory")
        if self.head not in ("metric", "learned"):
            raise InputError(f"--head {self.head!r} unknown; expected metric or learned")
        if self.pseudo != (self.data_b is not None):
            raise InputError("pseudo-Siamese training needs both --pseudo and --data-b DIR (branch b's class folders)")
        if not self.pseudo and (self.arch_b or self.size_b or self.channels_b):
            raise InputError("--arch-b/--size-b/--channels-b describe branch b of a pseudo-Siamese run; add --pseudo --data-b DIR")
        if self.metric not in ("euclidean", "cosine"):
            raise InputError(f"--metric {self.metric!r} unknown; expected euclidean or cosine")
        lr = DEFAULT_LR.get(self.arch, 1e-3) if self.lr is None else self.lr
        if self.epochs < 1 or self.embedding_dim < 1 or self.p < 2 or self.k < 2 or lr <= 0:
            raise InputError("--epochs, --embedding-dim must be >= 1, --p and --k >= 2, --lr > 0")
        if self.select not in ("auc", "oneshot"):
            raise InputError(f"--select {self.select!r} unknown; expected auc or oneshot")
        if self.channels not in (1, 3) or (self.channels_b or 1) not in (1, 3):
            raise InputError(f"--channels {self.channels} invalid; use 1 (grayscale) or 3 (RGB)")
        triplet = self.loss == "triplet"
        if self.loss == "ntxent" and not self.temperature > 0:
            raise InputError(f"--temperature {self.temperature} must be > 0 (typical: 0.05-0.2)")
        if self.loss == "ntxent" and self.pseudo:
            raise InputError("--loss ntxent is not available for pseudo-Siamese runs yet; use --loss triplet or contrastive")
        normalize = self.loss != "contrastive" if self.normalize is None else self.normalize
        return dataclasses.replace(
            self,
            normalize=normalize,
            margin=(0.2 if triplet else 2.0) if self.margin is None else self.margin,
            size=DEFAULT_SIZE.get(self.arch, DEFAULT_FACTORY_SIZE) if self.size is None else self.size,
            width=DEFAULT_WIDTH.get(self.arch, 64) if self.width is None else self.width,
            norm=norm,
            lr=lr,
            size_b=(self.size_b or (DEFAULT_SIZE.get(self.arch_b) if self.arch_b not in (None, self.arch) else None)) if self.pseudo else None,
        )

    def arch_kwargs(self, arch: str | None = None) -> dict[str, Any]:
        """Extra constructor arguments of ``arch`` (default ``self.arch``; saved in the checkpoint for export)."""
        arch = arch or self.arch
        width = self.width if arch == self.arch else None
        if arch in ARCH_NORMS:
            norm = self.norm if self.norm in ARCH_NORMS[arch] else DEFAULT_NORM[arch]
            return {"width": width or DEFAULT_WIDTH[arch], "norm": norm}
        return {}

    def preprocess(self) -> Preprocess:
        return Preprocess(
            size=(self.size, self.size), channels=self.channels, mean=(0.5,) * self.channels, std=(0.5,) * self.channels
        )

    @property
    def class_split_seed(self) -> int:
        """The seed that picks the validation classes (rows for CSV pair/triplet tables)."""
        return self.seed if self.split_seed is None else self.split_seed

    @property
    def bundle_metric(self) -> str:
        """The metric the bundle's heads compute: ``learned`` (p(same)) with ``--head learned``, else ``--metric``."""
        return "learned" if self.head == "learned" else self.metric

    def make_loss(self) -> torch.nn.Module:
        if self.head == "learned":
            return PairBCELoss(self.embedding_dim)
        try:
            if self.loss == "triplet":
                return TripletMarginLoss(self.margin, self.metric, bool(self.normalize), self.mining)
            if self.loss == "ntxent":
                return NTXentLoss(self.temperature)
            return ContrastiveLoss(self.margin, self.metric, bool(self.normalize))
        except ValueError as e:  # an impossible margin or unknown mining: a flag problem
            raise InputError(str(e)) from None


def _versions() -> dict[str, str]:
    return {"siamese_sdk": sdk_version, "torch": str(torch.__version__)}


def train(config: TrainConfig, resume: bool = False, log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Train (or resume) a run; returns the path of ``RUN_DIR/model.pt`` (the last epoch).

    ``RUN_DIR/best.pt`` holds the epoch with the best validation ``select`` metric (ROC AUC, or 20-way
    1-shot accuracy on the validation classes); with ``patience`` training stops after that many epochs
    without improvement. The checkpoints are rewritten atomically after every epoch. With ``resume`` the run's saved settings are
    used (only ``epochs`` may be raised) and training continues after the last completed epoch; batches,
    augmentation and mining are seeded per epoch, so on CPU the result equals an uninterrupted run.

    Raises:
        InputError: bad settings or data; an existing run without ``resume``; nothing to resume.
    """
    out = Path(config.out)
    ckpt_path = out / "model.pt"
    if is_table(config.data) or (resume and ckpt_path.exists() and "layout" in checkpoint.load(ckpt_path)["data"]):
        from .table_train import train_table

        return train_table(config, resume=resume, log=log, progress=progress)
    config, state = checkpoint.start_run(config, ckpt_path, resume)
    config = config.resolved()
    if config.pseudo:
        from .pseudo import train_pseudo

        return train_pseudo(config, resume, log, _versions(), int(os.environ.get("WORLD_SIZE", "1")))
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {config.device} but torch sees no CUDA device; use --device cpu")
    world = distributed.init(config.device)
    if not world.is_main:  # only rank 0 logs, validates and writes
        log, progress = (lambda _: None), False

    root = data.resolve_root(config.data)
    index_path = out / "index.npz"  # the folder is walked once per run; a resume reuses the same file list
    if state is not None and index_path.exists():
        folder = ImageFolder.load(index_path)
    else:
        folder = ImageFolder.scan(root)
    if state is not None:
        train_classes, val_classes = state["data"]["train_classes"], state["data"]["val_classes"]
    else:
        train_classes, val_classes = data.split_classes(folder, config.val_fraction, config.class_split_seed)
    preprocess = config.preprocess()
    if state is None and world.is_main:
        folder.save(index_path)
        write_text_atomic(
            out / "split.json", json.dumps({"root": str(root), "train": train_classes, "val": val_classes}, indent=1) + "\n"
        )
    base_set = data.ImageDataset(folder.subset(train_classes), preprocess)
    train_set = data.RotatedClasses(base_set) if config.rotate_classes else base_set
    val_set = data.ImageDataset(folder.subset(val_classes), preprocess)
    p = min(config.p, len(np.unique(train_set.labels)))
    groups = _class_groups(train_classes, config.rotate_classes) if config.groups_per_batch else None
    sampler = PKSampler(
        train_set.labels, p, config.k, config.batches_per_epoch, config.seed, world.rank, world.size, groups, config.groups_per_batch
    )
    loader = torch.utils.data.DataLoader(
        train_set, batch_sampler=sampler, num_workers=config.workers, persistent_workers=config.workers > 0
    )

    torch.manual_seed(config.seed)
    encoder = Encoder(
        config.arch,
        config.channels,
        config.embedding_dim,
        (config.size, config.size),
        bool(config.normalize),
        **config.arch_kwargs(),
        **({"weights": config.weights} if config.weights else {}),  # training only: the checkpoint holds the weights
    )
    encoder.to(config.device)
    model: torch.nn.Module = encoder
    if world.enabled:
        if config.device.startswith("cuda"):
            encoder = torch.nn.SyncBatchNorm.convert_sync_batchnorm(encoder)
        model = torch.nn.parallel.DistributedDataParallel(encoder)
    loss_fn = config.make_loss().to(config.device)
    if world.enabled and config.head == "learned":
        raise InputError("--head learned does not run under torchrun yet (its head is not synchronised); train in one process")
    # a learned head lives in the loss and trains jointly with the encoder; metric losses have no parameters
    optimizer = torch.optim.AdamW([*encoder.parameters(), *loss_fn.parameters()], lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * len(sampler))
    history: list[dict[str, float]] = []
    start = 0
    if state is not None:
        encoder.load_state_dict(state["state_dict"])
        if "head_state_dict" in state:
            loss_fn.head.load_state_dict(state["head_state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scheduler.T_max != config.epochs * len(sampler):
            # --epochs was raised: re-plan the cosine over the new length from the current step. The scheduler
            # updates the lr recursively from its last value, which is 0 at the end of the old schedule.
            scheduler.T_max = config.epochs * len(sampler)
            for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                cos = (1 + math.cos(math.pi * scheduler.last_epoch / scheduler.T_max)) / 2
                group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * cos
        history, start = list(state["history"]), int(state["epoch"])
        if start >= config.epochs:
            log(f"{ckpt_path} already completed {start} epoch(s); pass a larger --epochs to train on")
            return ckpt_path

    log(
        f"training {config.arch} ({config.loss}, {config.metric}{', L2-normalised' if config.normalize else ''}) on {root}: "
        f"{len(train_classes)} train / {len(val_classes)} unseen val classes, {len(train_set)} / {len(val_set)} images, "
        f"{len(sampler)} batches of {p}x{config.k} per epoch" + (f", {world.size} processes" if world.enabled else "")
    )
    val_images = val_set.images()
    val_labels = val_set.folder.labels
    way = min(20, len(val_classes))
    episodes = oneshot.sample_episodes(val_labels, val_classes, way, 1, VAL_ONESHOT_EPISODES, False, seed=config.seed)
    key = "oneshot" if config.select == "oneshot" else "auc"
    best = max((row.get(key, -1.0) for row in history), default=-1.0)
    score = _scorer(config, loss_fn)
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)  # augmentation + mining stream of this epoch
        sampler.set_epoch(epoch)
        encoder.train()
        total, n = 0.0, 0
        with _progress(loader, f"epoch {epoch + 1}/{config.epochs}", progress) as it:
            for x, y in it:
                x, y = x.to(config.device), y.to(config.device)
                if config.augment:
                    x = data.random_affine(x, offset=world.rank * x.shape[0], total=world.size * x.shape[0])
                    if config.thickness > 0:
                        x = data.random_thickness(x, config.thickness, world.rank * x.shape[0], world.size * x.shape[0])
                # mining and loss see the global batch; x world.size undoes DDP's gradient averaging
                loss = loss_fn(distributed.gather(model(x), world), distributed.gather(y, world))
                optimizer.zero_grad(set_to_none=True)
                (loss * world.size).backward()
                optimizer.step()
                scheduler.step()
                total, n = total + loss.item(), n + 1
        if not world.is_main:
            distributed.barrier(world)  # wait for rank 0's validation and checkpoint
            if distributed.broadcast_flag(False, world):
                break
            continue
        row = {
            "epoch": epoch + 1,
            "train_loss": total / max(n, 1),
            "val_loss": _val_loss(encoder, loss_fn, val_images, val_labels, config),
        }
        val_emb = embed(encoder, val_images, device=config.device)
        vm = verification_metrics(val_emb, val_labels, config.bundle_metric, score)
        row.update({k: vm[k] for k in ("auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3")})
        row["oneshot"] = oneshot.evaluate(
            val_emb.numpy(),
            episodes,
            lambda a, b: score(torch.from_numpy(a), torch.from_numpy(b)).numpy(),
            config.head == "learned",
        ).accuracy
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        improved = row[key] > best
        log(
            f"epoch {epoch + 1}/{config.epochs}  loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"val AUC {row['auc']:.4f}  EER {row['eer']:.4f}  {way}-way 1-shot {row['oneshot'] * 100:.1f}%  "
            f"({row['seconds']:.1f}s){'  *best' if improved else ''}"
        )
        payload = {
            "model": {
                "arch": config.arch,
                "arch_kwargs": config.arch_kwargs(),
                "in_channels": config.channels,
                "embedding_dim": config.embedding_dim,
                "input_size": [config.size, config.size],
                "normalize": bool(config.normalize),
                "metric": config.bundle_metric,
            },
            "preprocess": {
                **asdict(preprocess),
                "size": list(preprocess.size),
                "mean": list(preprocess.mean),
                "std": list(preprocess.std),
            },
            "data": {
                "root": str(root) if config.data not in (None, data.EMBEDDED) else data.EMBEDDED,
                "train_classes": list(train_classes),
                "val_classes": list(val_classes),
            },
            "config": asdict(config),
            "state_dict": encoder.state_dict(),
            **({"head_state_dict": loss_fn.head.state_dict()} if config.head == "learned" else {}),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch + 1,
            "history": history,
            "versions": _versions(),
        }
        if improved:
            best = row[key]
            checkpoint.save(out / "best.pt", payload)
        checkpoint.save(ckpt_path, payload)
        write_text_atomic(out / "metrics.json", json.dumps({"config": asdict(config), "history": history}, indent=2) + "\n")
        since_best = len(history) - 1 - max(range(len(history)), key=lambda i: history[i].get(key, -1.0))
        stop = config.patience is not None and since_best >= config.patience
        distributed.barrier(world)
        if distributed.broadcast_flag(stop, world):
            log(f"early stop: no better validation {key} for {since_best} epochs; best epoch kept in {out / 'best.pt'}")
            break
    distributed.shutdown(world)
    return ckpt_path


def _scorer(config: TrainConfig, loss_fn: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(N, D), (M, D) -> (N, M)`` scores as the bundle's matrix head computes them (p(same) for a learned head)."""
    if config.head == "learned":
        return torch.no_grad()(loss_fn.head.matrix)
    return lambda a, b: distances.matrix(a, b, config.metric)


def _class_groups(classes: list[str], rotated: bool) -> np.ndarray:
    """Group id per training label: the class's parent folder (its alphabet), and with rotated classes
    also the rotation (label ``4 * c + r``), so siblings drawn together share an orientation."""
    names = [oneshot.group_of(c) for c in classes]
    if rotated:
        names = [f"{names[c]}@{r}" for c in range(len(classes)) for r in range(4)]  # index 4 * c + r
    return np.unique(np.asarray(names), return_inverse=True)[1]


@torch.no_grad()
def _val_loss(
    encoder: torch.nn.Module, loss_fn: torch.nn.Module, images: torch.Tensor, labels: np.ndarray, config: TrainConfig
) -> float:
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


def _progress(iterable, label: str, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(iterable)
    return click.progressbar(iterable, label=label, file=sys.stderr)
