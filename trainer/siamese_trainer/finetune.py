"""Fine-tuning a pretrained backbone: its own learning rate, frozen first epochs, frozen BatchNorm statistics.

The backbone of an image encoder is everything before its embedding layer: a user factory's module
(``UserBackbone.body``, the part ``--weights`` loads) or a built-in's ``features``; the head is the rest (the
projection to the embedding, a learned distance head). In a two-branch run it is branch a's (``--data``).

- ``--backbone-lr-mult F``: the backbone's parameters train at ``lr * F`` (a second AdamW parameter group, both
  on the cosine schedule); at 1.0 the optimizer keeps its single group, as in runs before the flag.
- ``--freeze-epochs N``: for epochs ``0 .. N-1`` the backbone takes no gradient (``requires_grad`` off, so
  AdamW leaves it unchanged, weight decay included) and runs in eval mode (its BatchNorm statistics and
  dropout stay as loaded); from epoch N on every backbone parameter trains. Decided per epoch, so a resumed
  run freezes or not by the epoch it resumes at.
- ``--freeze-bn``: the backbone's BatchNorm layers stay in eval mode throughout (their running statistics
  stay those loaded, which small P x K batches of few classes would otherwise pull around). Their affine
  weights and biases still train, at the backbone's learning rate: they are two numbers per channel, cheap to
  adapt, and ``--backbone-lr-mult 0`` fixes them along with the rest of the backbone.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn
from siamese_sdk.errors import InputError


def body(encoder: nn.Module) -> nn.Module | None:
    """The backbone of an image ``Encoder`` (module docstring), or None for another encoder (text)."""
    inner = getattr(encoder, "backbone", None)
    for attr in ("body", "features"):
        part = getattr(inner, attr, None)
        if isinstance(part, nn.Module):
            return part
    return None


def check(config: Any, backbones: list[nn.Module], distributed: bool) -> None:
    """``InputError`` when fine-tuning flags meet a run without an image backbone, or ``--freeze-epochs`` torchrun."""
    used = [f for f, on in (("--backbone-lr-mult", config.backbone_lr_mult != 1.0), ("--freeze-epochs", config.freeze_epochs > 0),
                            ("--freeze-bn", config.freeze_bn)) if on]  # fmt: skip
    if used and not backbones:
        raise InputError(f"{', '.join(used)} fine-tune an image encoder's backbone; this run has none: drop the flag")
    if config.freeze_epochs > 0 and distributed:
        raise InputError("--freeze-epochs does not run under torchrun yet (DDP fixes the trained parameters); train in one process")


def param_groups(params: list[nn.Parameter], backbones: list[nn.Module], lr: float, mult: float) -> list[Any]:
    """What AdamW trains: ``params`` as one group at ``lr`` when ``mult`` is 1, else ``[head at lr, backbone at lr * mult]``."""
    if mult == 1.0:
        return params
    inside = {id(p) for b in backbones for p in b.parameters()}
    return [
        {"params": [p for p in params if id(p) not in inside], "lr": lr},
        {"params": [p for p in params if id(p) in inside], "lr": lr * mult},
    ]


def set_epoch(backbones: list[nn.Module], config: Any, epoch: int) -> str | None:
    """Freeze or unfreeze the ``backbones`` for ``epoch`` (0-based), after the task's ``train_mode``; returns a
    log line when the backbone changes state at this epoch (frozen at the first, unfrozen at ``freeze_epochs``)."""
    frozen = epoch < config.freeze_epochs
    for b in backbones:
        if config.freeze_epochs > 0:
            b.requires_grad_(not frozen)
        if frozen:
            b.eval()
        elif config.freeze_bn:
            for m in b.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
    if config.freeze_epochs > 0 and epoch == config.freeze_epochs:
        return f"epoch {epoch + 1}: backbone unfrozen (frozen for the first {config.freeze_epochs} epoch(s))"
    if frozen and epoch == 0:
        return f"backbone frozen for the first {config.freeze_epochs} epoch(s): the head warms up"
    return None
