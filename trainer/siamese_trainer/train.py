"""``train()``: the entry point of every run; it picks the kind by the data and hands it to the one loop.

A CSV table (``--data file.csv``, or a resumed run whose checkpoint has a table ``layout``) trains as
``tasks.table``, ``--pseudo`` as ``tasks.two_branch``, anything else as ``tasks.image_folder``. The loop
itself (resume, schedule, best.pt, patience, metrics.json) is ``loop.fit``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection
from pathlib import Path

from . import checkpoint, runlock
from .config import TrainConfig
from .data.tables import is_table
from .tasks.image_folder import train_image_folder
from .tasks.table import train_table
from .tasks.two_branch import train_pseudo


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
        ckpt_path = Path(config.out) / "model.pt"
        if is_table(config.data) or (resume and ckpt_path.exists() and "layout" in checkpoint.load(ckpt_path)["data"]):
            return train_table(config, resume=resume, log=log, progress=progress, given=given)
        config, state = checkpoint.start_run(config, ckpt_path, resume, given)
        config = config.resolved()
        if config.pseudo:
            return train_pseudo(config, resume, log, None, int(os.environ.get("WORLD_SIZE", "1")), given)
        return train_image_folder(config, state, log, progress)
