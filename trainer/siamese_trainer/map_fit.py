"""``--map-from OLD``: after training, learn ``EmbeddingMap`` (old -> new embeddings) on the training images.

Both encoders embed the run's training images once (no augmentation; at most ``MAX_IMAGES``); the map is fitted
full-batch with AdamW for ``STEPS`` steps to the new embeddings: ``1 - cos`` for a cosine or unit-length run,
squared error otherwise. It is fitted for each checkpoint of the run (``model.pt``, ``best.pt``), whose new
encoders differ, and stored in it as ``map`` (``{"state_dict", "d_old", "d_new", "hidden", "unit_input",
"normalize", "old", "fit"}``); ``siamese-export`` writes it as the bundle's ``map.old_to_new.onnx``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from siamese_sdk.format.manifest import Preprocess
from siamese_sdk.format.pixels import to_batch
from siamese_sdk.tools.imagefolder import ImageFolder

from . import checkpoint
from .data.images import resolve_root
from .models.embedding_map import EmbeddingMap
from .old_model import OldEncoder

MAX_IMAGES = 4000
STEPS = 600
HIDDEN = 256


def fit_maps(out: Path, old: OldEncoder, log: Callable[[str], None], seed: int = 0) -> None:
    """Fit and store the map in each of ``out``'s checkpoints (``model.pt``, ``best.pt``)."""
    paths: list[str] | None = None
    old_emb: np.ndarray | None = None
    for name in ("model.pt", "best.pt"):
        path = out / name
        if not path.is_file():
            continue
        ckpt = checkpoint.load(path)
        if paths is None:
            folder = ImageFolder.scan(resolve_root(ckpt["data"]["root"]), classes=list(ckpt["data"]["train_classes"]))
            rng = np.random.default_rng(seed)
            take = np.sort(rng.choice(len(folder), min(len(folder), MAX_IMAGES), replace=False))
            paths = [str(folder.paths[int(i)]) for i in take]
            old_emb = old.embed_files(paths)
            x = to_batch(paths, Preprocess.from_dict(ckpt["preprocess"]))  # one run: the same images for both
        encoder = checkpoint.build_encoder(ckpt["model"], ckpt["state_dict"])
        with torch.no_grad():
            new_emb = torch.cat([encoder(torch.from_numpy(x[c : c + 256])) for c in range(0, len(x), 256)])
        unit = bool(ckpt["model"]["normalize"]) or ckpt["model"]["metric"] == "cosine"
        state, fit = fit_map(torch.from_numpy(old_emb), new_emb, old.metric == "cosine", unit, seed)  # type: ignore[arg-type]
        ckpt["map"] = {
            "state_dict": state,
            "d_old": int(old_emb.shape[1]),  # type: ignore[union-attr]
            "d_new": int(new_emb.shape[1]),
            "hidden": HIDDEN,
            "unit_input": old.metric == "cosine",
            "normalize": bool(ckpt["model"]["normalize"]),
            "old": old.entry(),
            "fit": fit,
        }
        checkpoint.save(path, ckpt)
        log(f"map old -> new fitted for {path} on {len(paths)} training images: {fit}")


def fit_map(old: torch.Tensor, new: torch.Tensor, unit_input: bool, unit: bool, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """``EmbeddingMap`` weights fitted to ``old (N, D_old) -> new (N, D_new)``, and the final fit (``loss``,
    ``cosine_mean``)."""
    torch.manual_seed(seed)
    m = EmbeddingMap(old.shape[1], new.shape[1], HIDDEN, unit_input, normalize=False)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    for _ in range(STEPS):
        y = m(old)
        loss = (1 - torch.nn.functional.cosine_similarity(y, new)).mean() if unit else (y - new).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        cos = torch.nn.functional.cosine_similarity(m(old), new).mean()
    return {k: v.detach().clone() for k, v in m.state_dict().items()}, {"loss": loss.item(), "cosine_mean": cos.item()}


def build_map(entry: dict[str, Any]) -> EmbeddingMap:
    """The fitted map of a checkpoint's ``map`` entry (eval mode), normalising when the new embeddings are unit length."""
    m = EmbeddingMap(int(entry["d_old"]), int(entry["d_new"]), int(entry["hidden"]), bool(entry["unit_input"]), bool(entry["normalize"]))
    m.load_state_dict(entry["state_dict"])
    return m.eval()
