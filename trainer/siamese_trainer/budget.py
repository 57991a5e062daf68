"""``--time-budget MINUTES``: the recipe's schedule sized to a time budget, from a measured training speed.

``probe`` times a few training steps of the run's own encoder, loss, augmentation and batch shape on this
machine (its threads and device; random pixels, since the training images are preloaded tensors too): seconds
per batch. ``plan`` turns a budget into ``(epochs, batches per epoch)``: what fits in the budget after the
per-epoch validation, estimated as a forward pass (a third of a training step) over the validation images and
the fixed validation-loss batches. Both numbers and the result are recorded in the checkpoint's recipe
(``config.recipe["batches_per_epoch"]``), so a rerun with ``--epochs E --batches-per-epoch B`` reproduces the
schedule exactly; a faster machine (a GPU) measures more batches per second and gets a longer schedule.

Without ``--time-budget`` the schedule is what the data needs (the recipe's passes over the training images),
capped at ``DEFAULT_MINUTES``; with it, the schedule fills the budget (the user asked for that much training).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

#: the default cap on the recipe's schedule, minutes of training on this machine
DEFAULT_MINUTES = 15.0
#: timed training steps of the probe (after one untimed warm-up step)
PROBE_BATCHES = 5
#: a validation forward pass costs about this share of a training step (no backward, no optimizer)
FORWARD_SHARE = 1 / 3


@dataclass(frozen=True)
class Probe:
    """A measured training speed: ``seconds`` per batch of ``batch`` images over ``batches`` timed steps."""

    seconds: float
    batches: int
    batch: int
    threads: int
    device: str

    def describe(self) -> str:
        return f"{self.seconds:.3f} s/batch of {self.batch} ({self.batches} timed, {self.threads} thread(s), {self.device})"


def probe(fields: dict[str, Any]) -> Probe:
    """Time ``PROBE_BATCHES`` training steps of the run ``fields`` (``TrainConfig`` keywords) would train.

    The torch RNG state is restored afterwards, so the run's seeded weights and batches are unchanged.
    """
    import torch

    from .config import TrainConfig
    from .data import augment
    from .loop import pick_threads
    from .losses import make_loss
    from .models.encoders import Encoder

    config = TrainConfig(**fields).resolved()
    threads = pick_threads(config.threads)[0]
    torch.set_num_threads(threads)
    rng = torch.get_rng_state()
    try:
        torch.manual_seed(0)
        encoder = Encoder(config.arch, config.channels, config.embedding_dim, config.hw, bool(config.normalize), **config.arch_kwargs())
        encoder.to(config.device).train()
        loss_fn = make_loss(config).to(config.device)
        optimizer = torch.optim.AdamW([*encoder.parameters(), *loss_fn.parameters()], lr=float(config.lr))
        n = config.p * config.k
        x = torch.rand(n, config.channels, *config.hw, device=config.device) * 2 - 1
        y = torch.arange(config.p, device=config.device).repeat_interleave(config.k)
        pre = config.preprocess()
        t0 = 0.0
        for step in range(PROBE_BATCHES + 1):
            if step == 1:
                if config.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            loss = loss_fn(encoder(augment.apply(x, str(config.augment), config.thickness, pre.mean, pre.std)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if config.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / PROBE_BATCHES
    finally:
        torch.set_rng_state(rng)
    return Probe(seconds, PROBE_BATCHES, n, threads, config.device)


def plan(minutes: float, speed: Probe, need: int, val_images: int, val_batches: int, epochs: int, fill: bool) -> tuple[int, str]:
    """``(total batches, reason)`` for a budget of ``minutes`` split into ``epochs``.

    ``need``: the batches the data needs (used when ``fill`` is False, capped by the budget); ``val_images``:
    validation images embedded per epoch; ``val_batches``: the fixed validation-loss batches per epoch.
    At least one batch per epoch.
    """
    step = speed.seconds
    val_s = FORWARD_SHARE * step * (val_images / max(1, speed.batch) + val_batches)  # per epoch
    fits = int((minutes * 60 - epochs * val_s) / step)
    total = max(epochs, fits if fill else min(need, fits))
    est = (total * step + epochs * val_s) / 60
    basis = f"the budget, {minutes:g} min" if fill else f"the {need} the data needs, within {minutes:g} min"
    why = f"{total} batches ({basis}) at {speed.describe()} + {val_s:.1f} s validation per epoch: about {est:.1f} min"
    return total, why
