"""``model.pt``: weights plus everything export needs, and the state to resume training.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file carrying pickled code is refused, never executed.

Keys: ``format`` (``"siamese-checkpoint"``), ``format_version``, ``model`` (arch, in_channels,
embedding_dim, input_size, normalize, metric), ``preprocess`` (``siamese_sdk.bundle.Preprocess`` fields),
``data`` (root, train/val classes), ``config`` (the ``TrainConfig``), ``state_dict``, ``optimizer``,
``scheduler``, ``epoch`` (epochs completed), ``history`` (per-epoch metrics), ``versions``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, TypeVar

import torch
from siamese_sdk.atomic import write_atomic
from siamese_sdk.errors import BundleError, InputError

FORMAT = "siamese-checkpoint"
FORMAT_VERSION = 1


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (format keys added) to ``path`` atomically."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return write_atomic(path, lambda p: torch.save(payload, p))


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely; raises ``BundleError`` in one line for anything that is not ours."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"checkpoint not found: {path}; pass the model.pt that siamese-train wrote")
    if path.is_dir():
        raise BundleError(f"{path} is a directory; pass the model.pt file inside a run directory")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f" (it references {found.group(1)})" if found else ""
        raise BundleError(
            f"{path} holds objects other than weights{what}; refused, nothing executed. Only siamese-train checkpoints load"
        ) from None
    except Exception:  # torch raises assorted types (KeyError, RuntimeError, ...) for non-checkpoint bytes
        raise BundleError(f"{path} is not a readable torch checkpoint; is it truncated or another file type?") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise BundleError(
            f"{path} is a torch file but not a siamese-train checkpoint (no 'format': '{FORMAT}'); train with siamese-train"
        )
    if int(ckpt.get("format_version", 0)) > FORMAT_VERSION:
        raise BundleError(f"{path} was written by a newer siamese-train (format {ckpt['format_version']}); upgrade siamese-sdk")
    return ckpt


def build_encoder(model: dict[str, Any], state_dict: dict[str, Any] | None = None) -> torch.nn.Module:
    """The one rebuild of a trained encoder (eval mode) from a checkpoint's ``model`` entry and weights.

    ``model`` is ``ckpt["model"]`` (or a branch's ``model`` entry); an image encoder unless its ``kind`` is
    ``text`` or ``dialog``. ``state_dict`` None leaves the fresh weights (for shape checks).
    """
    kind = model.get("kind", "image")
    if kind == "image":
        from .encoders import Encoder

        encoder: torch.nn.Module = Encoder(
            model["arch"],
            int(model["in_channels"]),
            int(model["embedding_dim"]),
            tuple(model["input_size"]),
            bool(model["normalize"]),
            **model.get("arch_kwargs", {}),
        )
    else:
        from .text_encoders import TextEncoder

        encoder = TextEncoder(
            kind, int(model["vocab_size"]), int(model["embedding_dim"]), bool(model["normalize"]), **model.get("arch_kwargs", {})
        )
    if state_dict is not None:
        encoder.load_state_dict(state_dict)
    return encoder.eval()


def kind_of(ckpt: dict[str, Any]) -> str:
    """What a loaded checkpoint holds: ``pseudo`` (two branches), ``text`` (text or dialog encoder) or ``image``."""
    if "branches" in ckpt:
        return "pseudo"
    model = ckpt.get("model")
    return "text" if isinstance(model, dict) and model.get("kind", "image") != "image" else "image"


C = TypeVar("C")


def start_run(config: C, ckpt_path: Path, resume: bool) -> tuple[C, dict[str, Any] | None]:
    """``(config, saved state)`` for a run writing ``ckpt_path``: a resumed run takes its saved settings (only
    ``epochs`` may be raised) and state; a new run refuses to overwrite an existing checkpoint.

    ``config`` is a dataclass (``TrainConfig``) with ``epochs`` and ``out``; raises ``InputError`` with the fix.
    """
    import dataclasses

    if resume:
        if not ckpt_path.exists():
            raise InputError(f"nothing to resume: {ckpt_path} does not exist; drop --resume to start a new run")
        state = load(ckpt_path)
        saved = type(config)(**state["config"])
        return dataclasses.replace(saved, epochs=max(config.epochs, saved.epochs), out=str(ckpt_path.parent)), state
    if ckpt_path.exists():
        raise InputError(f"{ckpt_path} exists; pass --resume to continue that run, or choose another --out")
    return config, None
