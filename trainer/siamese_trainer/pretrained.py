"""``--init RUN_DIR|CHECKPOINT``: a new run that starts from an earlier run's encoder weights.

Pretrain once on a larger set of the domain, then fine-tune on a few identities. What the earlier run's
encoder is made of comes with it (``INHERITED``: architecture, width, norm, embedding size, input size,
channels and preprocessing); a flag typed with another value is refused in one line naming both. Everything
else is the new run's own: its data, split, loss, augmentation, schedule and seed, and fresh head, optimizer
and schedule state (a learned head, AdamW's moments and the epoch count are not carried over). It is a new
run, not a resume: it writes its own ``--out``, and its checkpoint records ``init`` (the file the weights came
from) in its config. A run folder gives its ``best.pt`` (the epoch export would ship; ``model.pt`` when there
is none), as ``siamese-export`` does. Measured (Extended Yale B -> Yale faces): ``docs/results/pretraining.md``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from siamese_sdk.errors import InputError

from . import checkpoint
from .config import FIELD_DEFAULTS, format_size, parse_size

#: the ``TrainConfig`` fields an initialised run takes from the earlier run (what its weights were trained for)
INHERITED = ("arch", "width", "norm", "embedding_dim", "size", "channels", "resize", "fill", "mean", "std")


def checkpoint_path(path: str | Path) -> Path:
    """The checkpoint ``--init`` reads: a run folder's ``best.pt`` (else ``model.pt``), or the file itself."""
    return checkpoint.run_checkpoint(path, "--init")


def _load(path: str | Path) -> tuple[Path, checkpoint.Checkpoint]:
    ckpt_path = checkpoint_path(path)
    ckpt = checkpoint.load(ckpt_path)
    if checkpoint.kind_of(ckpt) != "image" or not ckpt.get("config"):
        raise InputError(
            f"--init {path} is a {checkpoint.kind_of(ckpt)} run; --init starts an image-folder run from an image encoder"
        )
    return ckpt_path, ckpt


def _norm(name: str, value: Any) -> Any:
    """A field's value in one spelling, so a typed flag and a saved config compare equal."""
    if value is None:
        return None
    if name == "size":
        return parse_size(value)
    if name in ("mean", "std"):
        return tuple(round(float(v), 6) for v in value)
    return value


def _shown(name: str, value: Any) -> str:
    if name == "size":
        return format_size(value)
    if name in ("mean", "std"):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


def inherit(fields: dict[str, Any], given: Collection[str] | None = None) -> dict[str, Any]:
    """``TrainConfig`` keyword ``fields`` with ``INHERITED`` taken from ``fields["init"]``'s checkpoint, and
    ``init`` set to that checkpoint's path. Unchanged without ``init``.

    ``given``: the fields typed on the command line (None, from Python: any field not at its default counts
    as given). A given field whose value differs from the earlier run's raises ``InputError`` naming both.
    """
    if not fields.get("init"):
        return fields
    from .data.tables import is_table

    if fields.get("pseudo") or is_table(fields.get("data")):
        what = "a pseudo-Siamese run (--pseudo)" if fields.get("pseudo") else f"a CSV table run ({fields.get('data')})"
        raise InputError(f"--init starts a one-encoder image-folder run; {what} cannot take it: drop --init")
    ckpt_path, ckpt = _load(fields["init"])
    saved = ckpt["config"]
    typed = set(given) if given is not None else {n for n in INHERITED if _norm(n, fields.get(n)) != _norm(n, FIELD_DEFAULTS[n])}
    for name in INHERITED:
        if name in typed and fields.get(name) is not None and _norm(name, fields[name]) != _norm(name, saved.get(name)):
            flag = f"--{name.replace('_', '-')}"
            raise InputError(
                f"{flag} {_shown(name, _norm(name, fields[name]))} contradicts --init {fields['init']} "
                f"(its encoder has {flag} {_shown(name, _norm(name, saved.get(name)))}); drop {flag}: "
                "an initialised run keeps the earlier run's architecture, size, channels and preprocessing"
            )
    return {**fields, **{n: _norm(n, saved.get(n)) for n in INHERITED}, "init": str(ckpt_path)}


def encoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The encoder weights (``state_dict``) of ``--init``'s checkpoint."""
    return _load(path)[1]["state_dict"]


def load_into(encoder: torch.nn.Module, path: str | Path) -> str:
    """Load ``--init``'s encoder weights into ``encoder`` (built from the inherited fields); returns the log line."""
    try:
        encoder.load_state_dict(encoder_state(path))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise InputError(f"--init {path}: its weights do not fit this encoder ({first}); train without --init") from None
    return f"init: encoder weights from {path}; head, optimizer and schedule start fresh"
