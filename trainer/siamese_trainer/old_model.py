"""The older model a run stays compatible with (``--compatible-with OLD``) or learns a map from (``--map-from OLD``).

``OLD`` may be:

- a checkpoint (``model.pt`` / ``best.pt``) or a run folder (its ``best.pt``, else ``model.pt``): the old encoder
  runs in torch, frozen, in eval mode;
- a bundle folder (``manifest.json``): the old encoder's fp32 graph runs through the SDK (ONNX Runtime, CPU), so an
  old model from elsewhere needs no checkpoint. Its gradient is never needed (it is frozen), so nothing is lost.

Either way the old encoder sees the same (augmented) batch as the new one. When the old input differs from the new
(size, channels, mean/std) the batch is converted: un-normalised, resized (bilinear, antialiased), grey <-> RGB,
normalised with the old mean/std; a difference in ``resize`` mode (stretch / letterbox / crop) is not reproduced.

The old model's embedding size, metric and normalisation carry over to the run (``carry_over``): a flag given
with another value is a one-line ``InputError``; so does an old checkpoint's ``--loss`` unless one is given. The run's checkpoint records ``entry()`` as ``compatibility``
(or inside ``map``); the export reads it to find the old bundle whose fingerprint the new bundle declares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import MANIFEST, Preprocess
from siamese_sdk.format.pixels import to_batch

from . import checkpoint

#: the ``TrainConfig`` fields an old model dictates, and the flag of each
CARRIED = {"embedding_dim": "--embedding-dim", "metric": "--metric", "normalize": "--normalize/--no-normalize"}


class OldEncoder:
    """A frozen old encoder: ``embed(x)`` for a batch in the new run's preprocessing, ``embed_files`` for image files."""

    def __init__(self, source: str | Path, flag: str = "--compatible-with"):
        path = Path(source)
        self.source, self.bundle = str(path), ""
        #: the old run's ``--loss`` (a checkpoint's; None for a bundle): the new run takes it unless ``--loss`` is given
        self.loss: str | None = None
        if (path / MANIFEST).is_file():
            from siamese_sdk import load

            self.model = load(path, variant="fp32", threads=1)
            m = self.model.manifest
            if m.branches or m.input_kind != "image":
                raise InputError(f"{flag} {path} is a {m.input_kind} bundle; only one-encoder image bundles are supported")
            self.bundle, self.encoder = str(path), None
            self.dim, self.metric, self.normalize = m.embedding_dim, m.metric, bool(m.normalized)
            self.pre: Preprocess = m.preprocess  # type: ignore[assignment]
        else:
            ckpt_path = checkpoint.run_checkpoint(path, flag)
            ckpt = checkpoint.load(ckpt_path)
            if checkpoint.kind_of(ckpt) != "image":
                raise InputError(f"{flag} {ckpt_path} is a {checkpoint.kind_of(ckpt)} run; only one-encoder image runs are supported")
            self.source = str(ckpt_path)
            self.encoder = checkpoint.build_encoder(ckpt["model"], ckpt["state_dict"]).requires_grad_(False).eval()
            mdl = ckpt["model"]
            self.dim, self.metric, self.normalize = int(mdl["embedding_dim"]), str(mdl["metric"]), bool(mdl["normalize"])
            self.pre = Preprocess.from_dict(ckpt["preprocess"])
            self.loss = ckpt.get("config", {}).get("loss")
            beside = ckpt_path.parent / "bundle"
            self.bundle = str(beside) if (beside / MANIFEST).is_file() else ""
        #: where the old torch encoder's weights are (``embed`` moves them to the batch's device once)
        self.device = torch.device("cpu")
        if self.metric == "learned":
            raise InputError(f"{flag} {path} scores with a learned head; compatibility needs a metric (euclidean or cosine) model")

    def entry(self) -> dict[str, Any]:
        """What the checkpoint records of the old model: its source, the bundle (if known), size, metric."""
        return {"source": self.source, "bundle": self.bundle, "embedding_dim": self.dim, "metric": self.metric, "normalize": self.normalize}

    @torch.no_grad()
    def embed(self, x: torch.Tensor, pre: Preprocess) -> torch.Tensor:
        """``x (B, C, H, W)`` preprocessed as ``pre`` (the new run's) -> ``(B, D_old)`` old embeddings."""
        x = convert(x, pre, self.pre)
        if self.encoder is None:
            return torch.from_numpy(self.model.embed(x.cpu().numpy().astype(np.float32), batch_size=x.shape[0])).to(x.device)
        if x.device != self.device:  # moved once, not walked every training step
            self.encoder.to(x.device)
            self.device = x.device
        return self.encoder(x)

    def embed_files(self, paths: list[str], batch: int = 256) -> np.ndarray:
        """``(N, D_old) float32`` old embeddings of image files, preprocessed as the old model's (no augmentation)."""
        out = []
        for c in range(0, len(paths), batch):
            x = to_batch(paths[c : c + batch], self.pre)
            out.append(self.model.embed(x, batch_size=len(x)) if self.encoder is None else self.embed(torch.from_numpy(x), self.pre).numpy())
        return np.concatenate(out).astype(np.float32)


def convert(x: torch.Tensor, src: Preprocess, dst: Preprocess) -> torch.Tensor:
    """A batch preprocessed as ``src`` -> as ``dst`` (size, channels, mean/std); ``x`` itself when they agree."""
    if (src.shape, src.mean, src.std) == (dst.shape, dst.mean, dst.std):
        return x
    t = lambda v: torch.tensor(v, dtype=x.dtype, device=x.device)[None, :, None, None]  # noqa: E731
    x = x * t(src.std) + t(src.mean)  # [0, 1] pixels
    if src.channels != dst.channels:
        x = x.mean(1, keepdim=True) if dst.channels == 1 else x.repeat(1, 3, 1, 1)
    if tuple(x.shape[2:]) != tuple(dst.size):
        x = F.interpolate(x, size=tuple(dst.size), mode="bilinear", antialias=True, align_corners=False)
    return (x - t(dst.mean)) / t(dst.std)


def carry_over(config: Any, old: OldEncoder, given: Collection[str] | None, flag: str) -> Any:
    """``config`` (a ``TrainConfig``) with the old model's embedding size, metric and normalisation; ``InputError``
    in one line when one was given (``given``; None: any value other than the default) with another value."""
    from .config import FIELD_DEFAULTS

    wanted = {"embedding_dim": old.dim, "metric": old.metric, "normalize": old.normalize}
    for name, value in wanted.items():
        have = getattr(config, name)
        typed = name in given if given is not None else have != FIELD_DEFAULTS[name]
        if typed and have is not None and have != value and flag == "--compatible-with":
            raise InputError(
                f"{CARRIED[name]} {have} differs from the old model's {value} ({old.source}); a compatible model keeps "
                f"the old embedding size, metric and normalisation: drop the flag"
            )
    if flag == "--compatible-with":
        loss_typed = "loss" in given if given is not None else config.loss != FIELD_DEFAULTS["loss"]
        return dataclasses.replace(config, **wanted, **({"loss": old.loss} if old.loss and not loss_typed else {}))
    return config
