"""``model.pt``: weights plus everything export needs, and the state to resume training.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file carrying pickled code is refused, never executed.

The keys are those of ``Checkpoint`` (its docstring says what each holds); ``make`` builds one for every
kind of run (image folder, CSV table, two-branch), ``save`` / ``load`` write and read it, ``kind_of`` tells
the kinds apart, ``build_encoder`` is the one rebuild of a trained encoder and ``start_run`` the one
new-run / resume decision.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import torch
from siamese_sdk import __version__ as sdk_version
from siamese_sdk.atomic import write_atomic
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.format.manifest import Preprocess

from .config import format_size

FORMAT = "siamese-checkpoint"
FORMAT_VERSION = 1


class ModelEntry(TypedDict, total=False):
    """``Checkpoint.model`` (and a branch's ``model``): what ``build_encoder`` needs, plus the bundle's metric.

    Image encoders: ``arch``, ``arch_kwargs``, ``in_channels``, ``embedding_dim``, ``input_size`` ``[H, W]``,
    ``normalize``, ``metric``. Text/dialog encoders add ``kind`` (``text`` | ``dialog``) and ``vocab_size``
    instead of ``in_channels`` / ``input_size``.
    """

    kind: str
    arch: str
    arch_kwargs: dict[str, Any]
    in_channels: int
    vocab_size: int
    embedding_dim: int
    input_size: list[int]
    normalize: bool
    metric: str


class Checkpoint(TypedDict, total=False):
    """A ``model.pt`` / ``best.pt`` as loaded (a plain dict on disk; ``weights_only`` safe).

    Keys: ``format`` (``"siamese-checkpoint"``), ``format_version``; ``model`` (``ModelEntry``);
    ``preprocess`` (``siamese_sdk.format.inputs.Preprocess`` fields; image runs); ``tokenizer`` (text/dialog runs);
    ``data`` (image folders: ``root``, ``train_classes``, ``val_classes``; CSV runs: ``root``, ``layout``,
    ``kind``, ``split``); ``branches`` (two-branch runs: ``{"b": {model, preprocess, data_root,
    state_dict}}``); ``config`` (the flat ``TrainConfig`` dict); ``state_dict`` (the encoder, branch a);
    ``head_state_dict`` (``--head learned``); ``optimizer``, ``scheduler`` (their ``state_dict``); ``epoch``
    (epochs completed); ``history`` (one row of metrics per epoch); ``versions`` (``versions()``).
    """

    format: str
    format_version: int
    model: ModelEntry
    preprocess: dict[str, Any]
    tokenizer: dict[str, Any]
    data: dict[str, Any]
    branches: dict[str, dict[str, Any]]
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    head_state_dict: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    epoch: int
    history: list[dict[str, float]]
    versions: dict[str, str]


def versions() -> dict[str, str]:
    """The package versions a checkpoint records."""
    return {"siamese_sdk": sdk_version, "torch": str(torch.__version__)}


def image_model_entry(config: Any, arch: str, channels: int, size: tuple[int, int], metric: str) -> ModelEntry:
    """The ``model`` entry of an image encoder of ``config`` (a ``TrainConfig``): ``size = (H, W)`` px, ``channels``."""
    return {
        "arch": arch,
        "arch_kwargs": config.arch_kwargs(arch),
        "in_channels": channels,
        "embedding_dim": config.embedding_dim,
        "input_size": [int(size[0]), int(size[1])],
        "normalize": bool(config.normalize),
        "metric": metric,
    }


def preprocess_entry(p: Preprocess) -> dict[str, Any]:
    """``Preprocess`` as the checkpoint stores it: the manifest's dict (``Preprocess.to_dict``)."""
    return p.to_dict()


def make(
    parts: dict[str, Any],
    config: Any,
    state_dict: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epoch: int,
    history: list[dict[str, float]],
) -> Checkpoint:
    """The one builder of a checkpoint: the kind's ``parts`` (``model``, ``data`` and any of ``preprocess``,
    ``tokenizer``, ``branches``, ``head_state_dict``), then the run's config, weights and training state."""
    head = parts.get("head_state_dict")
    body = {k: v for k, v in parts.items() if k != "head_state_dict"}
    return Checkpoint(  # type: ignore[typeddict-item]
        **body,
        config=asdict(config),
        state_dict=state_dict,
        **({"head_state_dict": head} if head is not None else {}),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        epoch=epoch,
        history=history,
        versions=versions(),
    )


def save(path: str | Path, payload: Checkpoint | dict[str, Any]) -> Path:
    """Write ``payload`` (format keys added) to ``path`` atomically."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return write_atomic(path, lambda p: torch.save(payload, p))


def load(path: str | Path) -> Checkpoint:
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
    return ckpt  # type: ignore[return-value]


def build_encoder(model: dict[str, Any], state_dict: dict[str, Any] | None = None) -> torch.nn.Module:
    """The one rebuild of a trained encoder (eval mode) from a checkpoint's ``model`` entry and weights.

    ``model`` is ``ckpt["model"]`` (or a branch's ``model`` entry); an image encoder unless its ``kind`` is
    ``text`` or ``dialog``. ``state_dict`` None leaves the fresh weights (for shape checks).
    """
    kind = model.get("kind", "image")
    if kind == "image":
        from .models.encoders import Encoder

        encoder: torch.nn.Module = Encoder(
            model["arch"],
            int(model["in_channels"]),
            int(model["embedding_dim"]),
            tuple(model["input_size"]),
            bool(model["normalize"]),
            **model.get("arch_kwargs", {}),
        )
    else:
        from .models.text_encoders import TextEncoder

        encoder = TextEncoder(
            kind, int(model["vocab_size"]), int(model["embedding_dim"]), bool(model["normalize"]), **model.get("arch_kwargs", {})
        )
    if state_dict is not None:
        encoder.load_state_dict(state_dict)
    return encoder.eval()


def kind_of(ckpt: Checkpoint | dict[str, Any]) -> str:
    """What a loaded checkpoint holds: ``pseudo`` (two branches), ``text`` (text or dialog encoder) or ``image``."""
    if "branches" in ckpt:
        return "pseudo"
    model = ckpt.get("model")
    return "text" if isinstance(model, dict) and model.get("kind", "image") != "image" else "image"


C = TypeVar("C")
#: flags a resumed run takes from the command line: they change how it runs, not what it learns
RESUME_APPLIES = ("epochs", "patience", "device", "threads", "workers")


def _flag(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"--{'' if value else 'no-'}{name.replace('_', '-')}"
    return f"--{name.replace('_', '-')} {_value(value)}"


def _value(value: Any) -> Any:
    """A flag's value as typed: a non-square size as ``H,W``."""
    return format_size(value) if isinstance(value, tuple) else value


def _same(name: str, given: Any, saved: Any) -> bool:
    if name in ("data", "data_b", "init"):  # a folder, CSV or checkpoint path, or None / embedded:... for the shipped set
        def norm(x: Any) -> str | None:
            return None if x is None or str(x).startswith("embedded:") else str(Path(x).resolve())

        return norm(given) == norm(saved)
    return bool(given == saved)


def start_run(
    config: C, ckpt_path: Path, resume: bool, given: Collection[str] | None = None
) -> tuple[C, dict[str, Any] | None]:
    """``(config, saved state)`` for a run writing ``ckpt_path``: a resumed run takes its saved settings and
    state; a new run refuses to overwrite an existing checkpoint.

    ``given``: the ``TrainConfig`` fields typed on the command line (None, from Python: only ``epochs`` may
    raise the saved plan). Of those, ``RESUME_APPLIES`` apply (``--epochs`` re-plans the cosine schedule to
    end there, and may not be fewer than the epochs done); any other that differs from the saved value is
    refused. ``config`` is a dataclass (``TrainConfig``) with ``epochs`` and ``out``; raises ``InputError`` with the fix.
    """
    import dataclasses

    if resume:
        if not ckpt_path.exists():
            raise InputError(f"nothing to resume: {ckpt_path} does not exist; drop --resume to start a new run")
        state = load(ckpt_path)
        saved = type(config)(**state["config"])
        out = str(ckpt_path.parent)
        if given is None:
            return dataclasses.replace(saved, epochs=max(config.epochs, saved.epochs), out=out), state
        differ = [
            f"{_flag(n, getattr(config, n))} (saved: {_value(getattr(saved, n))})"
            for n in sorted(set(given) - {"out", *RESUME_APPLIES})
            if not _same(n, getattr(config, n), getattr(saved, n))
        ]
        if differ:
            raise InputError(
                f"{', '.join(differ)}: a resumed run keeps the settings saved in {ckpt_path}; "
                "drop the flag to continue it, or train a new run with another --out"
            )
        done = int(state["epoch"])
        if "epochs" in given and config.epochs < done:
            raise InputError(
                f"--epochs {config.epochs} is fewer than the {done} epochs {ckpt_path} has completed; "
                f"pass --epochs {done} or more (best.pt keeps the best epoch so far)"
            )
        applied = {n: getattr(config, n) for n in RESUME_APPLIES if n in given}
        return dataclasses.replace(saved, out=out, **applied), state
    if ckpt_path.exists():
        raise InputError(f"{ckpt_path} exists; pass --resume to continue that run, or choose another --out")
    return config, None


def run_checkpoint(path: str | Path, flag: str) -> Path:
    """The checkpoint a flag such as ``--init`` names: a run folder's ``best.pt`` (else ``model.pt``), or the file
    itself; a one-line ``InputError`` naming ``flag`` otherwise."""
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "model.pt"):
            if (path / name).is_file():
                return path / name
        raise InputError(f"{flag} {path}: the folder holds no best.pt or model.pt; pass a run folder siamese-train wrote")
    if not path.exists():
        raise InputError(f"{flag} {path} not found; pass a run folder or its best.pt / model.pt")
    return path
