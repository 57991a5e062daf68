"""``train()``: the one entry point of every run; it picks the kind's ``Task`` by the data and hands it to the loop.

A CSV table (``--data file.csv``, or a resumed run whose checkpoint has a table ``layout``) trains as
``tasks.table.TableTask``, ``--pseudo`` as ``tasks.two_branch.TwoBranchTask``, anything else as
``tasks.image_folder.ImageFolderTask``. The prologue (run lock, new or resumed settings) is here once; what a
kind refuses or settles is its ``Task.start``; the loop itself (resume, schedule, best.pt, patience,
metrics.json) is ``loop.fit``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Collection
from pathlib import Path

from siamese_sdk.errors import InputError

from . import checkpoint, loop, pretrained, runlock
from .config import TrainConfig
from .data.tables import is_table
from .map_fit import fit_maps
from .old_model import OldEncoder, carry_over
from .tasks.image_folder import ImageFolderTask
from .tasks.table import TableTask
from .tasks.two_branch import TwoBranchTask


def task_kind(config: TrainConfig, state: checkpoint.Checkpoint | None) -> type[loop.Task]:
    """The ``Task`` class of a run's settings (a resumed run's as saved, with its checkpoint ``state``)."""
    if is_table(config.data) or (state is not None and "layout" in state["data"]):
        return TableTask
    return TwoBranchTask if config.pseudo else ImageFolderTask


def train(
    config: TrainConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
    given: Collection[str] | None = None,
) -> Path:
    """Train (or resume) a run; returns the path of ``RUN_DIR/model.pt`` (the last epoch).

    ``RUN_DIR/best.pt`` holds the epoch with the best validation ``select`` metric (ROC AUC, or 20-way
    1-shot accuracy on the validation classes); with ``patience`` training stops after that many epochs
    without improvement. The checkpoints are rewritten atomically after every epoch. With ``resume`` the run's
    saved settings are used and training continues after the last completed epoch; batches, augmentation and
    mining are seeded per epoch, so on CPU the result equals an uninterrupted run. ``given``: the fields typed on
    the command line (``checkpoint.start_run`` says which apply to a resumed run and which are refused; None:
    only ``epochs`` may raise the saved plan). The run folder is owned by this process meanwhile (``runlock``).

    Raises:
        InputError: bad settings or data; an existing run without ``resume``; nothing to resume; a flag that
            differs from the resumed run; the folder in use by another process.
    """
    main = os.environ.get("RANK", "0") == "0"  # under torchrun rank 0 owns the folder for all ranks
    with runlock.hold(config.out, log) if main else contextlib.nullcontext():
        if config.init:  # a new run takes the earlier encoder's fields; a resumed one compares the checkpoint path
            config = dataclasses.replace(config, init=str(pretrained.checkpoint_path(config.init)))
            if not resume:
                config = TrainConfig(**pretrained.inherit(dataclasses.asdict(config), given))
        config, state = checkpoint.start_run(config, Path(config.out) / "model.pt", resume, given)
        kind = task_kind(config, state)
        if (config.compatible_with or config.map_from) and kind is not ImageFolderTask:
            raise InputError("--compatible-with / --map-from apply to image-folder runs; drop them for a CSV or --pseudo run")
        old = None
        if config.compatible_with and state is None:
            old = OldEncoder(config.compatible_with)
            config = carry_over(config, old, given, "--compatible-with")
        task = kind.start(config)
        if not task.world.is_main:  # only rank 0 logs, validates and writes
            log, progress = (lambda _: None), False
        if old is not None:  # (after the flags are checked: a refusal stays one line)
            log(
                f"compatible with {old.source}: its embedding size {old.dim}, metric {old.metric}, "
                f"{'L2-normalised' if old.normalize else 'raw'} embeddings and loss {task.config.loss} carried over"
            )
        path = loop.fit(task, state, log, progress and task.progress)
        if task.config.map_from and task.world.is_main:
            fit_maps(Path(task.config.out), OldEncoder(task.config.map_from, "--map-from"), log, task.config.seed)
        return path
