"""The one training loop, for every kind of run; what differs per kind is a small ``Task`` (``tasks/``).

``fit(task, state)`` runs: build the model (seeded), AdamW over the task's parameters (the backbone's in a
group of its own with ``--backbone-lr-mult``, ``finetune``) and a cosine schedule over ``epochs x batches``; on resume load the weights, optimizer and schedule and re-plan the schedule when
``--epochs`` was raised; then per epoch: seed ``seed * 100_003 + epoch`` (augmentation, mining), train on
the task's batches (the backbone frozen for the first ``--freeze-epochs``), validate, log, write ``model.pt`` (and ``best.pt`` when the ``--select`` metric
improved) atomically, ``metrics.json``, and stop early after ``--patience`` epochs without improvement.
Under ``torchrun`` only rank 0 validates, logs and writes; the loss is scaled by the world size so DDP's
gradient averaging gives the single-process gradient.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
import torch
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.errors import InputError

from . import checkpoint, distributed, finetune
from .checkpoint import Checkpoint
from .config import TrainConfig
from .distributed import World

#: the most threads a default run takes: the small encoders here scale little beyond a few cores
MAX_DEFAULT_THREADS = 8


def cpu_count() -> int:
    """CPUs this process may run on (affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pick_threads(requested: int | None) -> tuple[int, str]:
    """``(torch CPU threads, why)`` for a run: ``--threads`` if given, else ``OMP_NUM_THREADS`` if set, else the
    CPUs left free: this process's share of the cores (split between the ``torchrun`` processes of this host),
    minus the CPUs busy with other work now (``busy_cpus``), at least 1, at most ``MAX_DEFAULT_THREADS``.

    Why: threads that compete with another busy process for a core wait on each other at every operation
    (docs/training.md "Threads": 2 threads next to one busy process ran an epoch 7x slower than 1 thread).
    """
    if requested:
        return requested, "--threads"
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    cores = cpu_count()
    share = max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    busy = busy_cpus()
    free = max(1, min(share, round(cores - busy), MAX_DEFAULT_THREADS))
    return free, f"{cores} CPUs, {busy:.1f} busy with other work; --threads N to choose"


def busy_cpus(seconds: float = 0.2) -> float:
    """CPUs busy with other processes now: sampled from ``/proc/stat`` over ``seconds`` (this process sleeps
    meanwhile), else the 1-minute load average, else 0."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # all, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
        return cpu_count() * (1 - (idle1 - idle0) / max(1, total1 - total0))
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(AttributeError, OSError):
            return os.getloadavg()[0]
    return 0.0


class Task:
    """What one kind of run adds to the loop. Subclasses set ``config``, ``out`` and ``world`` and implement
    the hooks below; ``start`` makes the task from a run's settings (``train.train`` picks the kind),
    ``prepare`` runs before the weights are seeded, ``build`` right after."""

    config: TrainConfig
    out: Path
    world: World = World()
    #: the run's log (set by ``fit`` before ``prepare``): warnings such as skipped images go here
    log: Callable[[str], None] = staticmethod(print)  # type: ignore[assignment]
    #: whether epochs show a progress bar (when the caller asks for one)
    progress: bool = True

    @classmethod
    def start(cls, config: TrainConfig) -> Task:
        """This kind's task for a run's settings (a resumed run's as saved, not yet ``resolved``): refuse what the
        kind does not support (``InputError`` naming the flag), settle what the data fixes, resolve, construct."""
        raise NotImplementedError

    def prepare(self, state: Checkpoint | None) -> None:
        """Read the data and the split (the saved one when ``state`` is a resumed checkpoint)."""

    def build(self) -> None:
        """Create the modules (weights drawn from the seeded torch RNG); ``state_dict`` and ``parameters`` use them."""
        raise NotImplementedError

    def parameters(self) -> list[torch.nn.Parameter]:
        """What the optimizer trains."""
        raise NotImplementedError

    def backbones(self) -> list[torch.nn.Module]:
        """The image backbones ``--backbone-lr-mult``, ``--freeze-epochs``, ``--freeze-bn`` act on (``finetune``)."""
        return []

    def batches_per_epoch(self) -> int:
        raise NotImplementedError

    def load_state(self, state: Checkpoint) -> None:
        """Restore the modules' weights from a checkpoint."""
        raise NotImplementedError

    def describe(self) -> str:
        """The log line before the first epoch."""
        raise NotImplementedError

    def train_mode(self) -> None:
        """Put the modules in training mode (the loop validates with them in eval mode)."""
        raise NotImplementedError

    def batches(self, epoch: int) -> Iterable[Any]:
        """The batches of ``epoch``, drawn from ``(seed, epoch)`` only (a resumed run draws the same)."""
        raise NotImplementedError

    def batch_loss(self, batch: Any) -> torch.Tensor:
        """The scalar loss of one batch."""
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        """This epoch's validation metrics (at least ``auc``) for the history row."""
        raise NotImplementedError

    def summary(self, row: dict[str, float]) -> str:
        """The validation part of an epoch's log line."""
        return f"val AUC {row['auc']:.4f}  EER {row['eer']:.4f}"

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights saved as the checkpoint's ``state_dict`` (branch a's encoder)."""
        raise NotImplementedError

    def checkpoint_parts(self) -> dict[str, Any]:
        """The kind's checkpoint entries: ``model``, ``data`` and any of ``preprocess``, ``tokenizer``,
        ``branches``, ``head_state_dict`` (``checkpoint.make``)."""
        raise NotImplementedError


def check_device(config: TrainConfig) -> None:
    """``InputError`` when ``--device cuda...`` asks for a GPU torch does not see."""
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {config.device} but torch sees no CUDA device; use --device cpu")


def cosine_schedule(optimizer: torch.optim.Optimizer, total_steps: int, state: Checkpoint | None) -> Any:
    """A cosine learning-rate schedule over ``total_steps`` batches, restored from ``state`` when resuming.

    When ``total_steps`` grew (``--epochs`` raised on resume) the cosine is re-planned over the new length
    from the current step. The scheduler updates the lr recursively from its last value, which is 0 at the
    end of the old schedule, so setting ``T_max`` alone would keep training at a learning rate near 0.
    """
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if state is None:
        return scheduler
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scheduler.T_max != total_steps:
        scheduler.T_max = total_steps
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
            cos = (1 + math.cos(math.pi * scheduler.last_epoch / scheduler.T_max)) / 2
            group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * cos
    return scheduler


def fit(
    task: Task,
    state: Checkpoint | None,
    log: Callable[[str], None] = print,
    progress: bool = True,
    on_epoch: Callable[[dict[str, float]], bool] | None = None,
) -> Path:
    """Train (or resume from ``state``) ``task``'s run; returns ``RUN_DIR/model.pt`` (the last epoch). See the module doc.

    ``on_epoch``: called with each epoch's history row after it is saved; returning True stops the run there
    (the recipe's search prunes a trial this way)."""
    config, out, world = task.config, task.out, task.world
    ckpt_path = out / "model.pt"
    threads, why = pick_threads(config.threads)
    torch.set_num_threads(threads)
    task.log = log
    task.prepare(state)
    log(f"threads: {threads} ({why})")
    torch.manual_seed(config.seed)
    task.build()
    finetune.check(config, task.backbones(), world.enabled)
    params = finetune.param_groups(task.parameters(), task.backbones(), config.lr, config.backbone_lr_mult)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = task.batches_per_epoch()
    if state is not None:
        task.load_state(state)
    scheduler = cosine_schedule(optimizer, config.epochs * steps, state)
    history: list[dict[str, float]] = list(state["history"]) if state is not None else []
    start = int(state["epoch"]) if state is not None else 0
    if start >= config.epochs:
        log(f"{ckpt_path} already completed {start} epoch(s); pass a larger --epochs to train on")
        return ckpt_path
    log(task.describe())
    key = {"oneshot": "oneshot", "last": "epoch"}.get(config.select, "auc")  # "last": every epoch is the best
    best = max((row.get(key, -1.0) for row in history), default=-1.0)
    # "*best" marks an epoch whose validation score is the best so far: the --select metric, whose epoch best.pt
    # holds; with --select last (best.pt: every epoch) the validation AUC, so a falling AUC is not marked
    mark = "auc" if key == "epoch" else key
    best_mark = max((row.get(mark, -1.0) for row in history), default=-1.0)
    for epoch in range(start, config.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)  # augmentation + mining stream of this epoch
        task.train_mode()
        note = finetune.set_epoch(task.backbones(), config, epoch)
        if note:
            log(note)
        total, n = 0.0, 0
        with _progress(task.batches(epoch), f"epoch {epoch + 1}/{config.epochs}", progress) as it:
            for batch in it:
                loss = task.batch_loss(batch)
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
        row = {"epoch": epoch + 1, "train_loss": total / max(n, 1), **task.validate()}
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        improved = row[key] > best
        marked = row.get(mark, -1.0) > best_mark
        best_mark = max(best_mark, row.get(mark, -1.0))
        log(
            f"epoch {epoch + 1}/{config.epochs}  loss {row['train_loss']:.4f}  {task.summary(row)}  "
            f"({row['seconds']:.1f}s){'  *best' if marked else ''}"
        )
        payload = checkpoint.make(task.checkpoint_parts(), config, task.state_dict(), optimizer, scheduler, epoch + 1, history)
        if improved:
            best = row[key]
            checkpoint.save(out / "best.pt", payload)
        checkpoint.save(ckpt_path, payload)
        write_text_atomic(out / "metrics.json", json.dumps({"config": payload["config"], "history": history}, indent=2) + "\n")
        since_best = len(history) - 1 - max(range(len(history)), key=lambda i: history[i].get(key, -1.0))
        stop = config.patience is not None and since_best >= config.patience
        if on_epoch is not None and on_epoch(row):
            break
        distributed.barrier(world)
        if distributed.broadcast_flag(stop, world):
            log(f"early stop: no better validation {key} for {since_best} epochs; best epoch kept in {out / 'best.pt'}")
            break
    distributed.shutdown(world)
    return ckpt_path


def _progress(iterable: Iterable[Any], label: str, enabled: bool) -> Any:
    """A progress bar on a terminal's stderr; nothing when stderr is a file or pipe (a log), where the bar's
    label alone would repeat beside each epoch's result line."""
    if not enabled or not sys.stderr.isatty():
        return contextlib.nullcontext(iterable)
    return click.progressbar(iterable, label=label, file=sys.stderr)
