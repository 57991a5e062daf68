"""Pseudo-Siamese (two-branch) checkpoints: one image encoder per branch, ``format_version`` 2.

Per branch (``a``, ``b``): ``encoder.<branch>.<variant>.onnx``, parity-checked on that branch's validation
images and calibrated on its training images. A variant is measured with both branches running it, on all
**cross-branch** pairs of the validation classes (branch a's images against branch b's). Only the ``cpu``
profile is built for these bundles; a learned head is not supported with two branches yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.format.entries import BRANCHES
from siamese_sdk.format.inputs import ImageInput, Preprocess
from siamese_sdk.format.pixels import to_batch
from siamese_trainer import checkpoint

from ..manifest_out import provenance
from ..onnx.graphs import INPUT_NAME, export_encoder
from ..options import ExportOptions
from .base import Part, Source, image_parity, rebuild_errors
from .image import calibration_images, data_ref, subsample, validation_folder


def branch_ckpt(ckpt: dict, name: str) -> dict:
    """The checkpoint as seen by one branch: its model, preprocessing, weights and data root."""
    if name == "a":
        return ckpt
    b = ckpt["branches"][name]
    return {**ckpt, "model": b["model"], "preprocess": b["preprocess"], "state_dict": b["state_dict"],
            "data": {**ckpt["data"], "root": b["data_root"]}}  # fmt: skip


class TwoBranchSource(Source):
    """A pseudo-Siamese checkpoint: branches ``a`` and ``b``, each its own image encoder."""

    export_log = "exporting each branch's encoder to ONNX (fp32) and checking parity with torch"
    pairs_log = "all cross-branch validation pairs (a x b)"
    auc_label = "cross-branch "

    def __init__(
        self, ckpt: dict, ckpt_path: Path, opts: ExportOptions, profiles: tuple[str, ...], members: list[tuple[dict, Path]]
    ) -> None:
        if tuple(profiles) != ("cpu",):
            raise InputError(
                f"pseudo-Siamese bundles are built for --profile cpu only for now, got {list(profiles)}; drop --profile"
            )
        if opts.calibration is not None or opts.validation is not None:
            raise InputError(
                "pseudo-Siamese export reads both branches' folders from the checkpoint; drop --calibration/--validation"
            )
        self.ckpt, self.ckpt_path, self.opts = ckpt, ckpt_path, opts
        rng = np.random.default_rng(opts.seed)
        loaded = {}
        with rebuild_errors(ckpt_path):
            for name in BRANCHES:
                bc = branch_ckpt(ckpt, name)
                folder = subsample(validation_folder(bc, opts), opts, rng)
                loaded[name] = (
                    bc,
                    folder,
                    Preprocess.from_dict(bc["preprocess"]),
                    checkpoint.build_encoder(bc["model"], bc["state_dict"]),
                )
        self.metric, self.dim, self.normalized = (
            str(ckpt["model"]["metric"]),
            int(ckpt["model"]["embedding_dim"]),
            bool(ckpt["model"]["normalize"]),
        )
        if self.metric not in ("euclidean", "cosine"):
            raise BundleError(f"{ckpt_path}: pseudo-Siamese bundles take the euclidean or cosine head, not {self.metric!r}")
        if loaded["a"][1].classes != loaded["b"][1].classes:
            raise InputError("branch a and b validation folders hold different classes; both need every validation class")
        self.folders = {name: folder for name, (_, folder, _, _) in loaded.items()}
        self.encoders = {}
        for name, (bc, folder, pre, encoder) in loaded.items():
            images = to_batch(folder.paths, pre)
            opts.log(f"validation branch {name}: {len(folder.classes)} unseen classes, {len(folder)} images from {folder.root}")
            self.encoders[name] = self._part(name, bc, pre, encoder.eval(), images, rng)
        la, lb = self.folders["a"].labels, self.folders["b"].labels
        self.same = (la[:, None] == lb[None, :]).ravel()
        self.pair_classes = (np.repeat(la, lb.size), np.tile(lb, la.size))

    def _part(self, name: str, bc: dict, pre: Any, encoder: Any, images: np.ndarray, rng: np.random.Generator) -> Part:
        return Part(
            export=lambda path: export_encoder(encoder, pre.shape, path),
            parity=lambda path: (image_parity(encoder, path, images[:256]), ""),
            inputs=images,
            feed=images,
            calibration=lambda: calibration_images(bc, self.opts, pre, rng),
            metadata={"branch": name, "input_name": INPUT_NAME, "preprocess": pre.to_dict()},
            input_spec=ImageInput(INPUT_NAME, pre),
        )

    def scores(self, model: Any, embeddings: dict[str | None, np.ndarray]) -> np.ndarray:
        return model.distance_matrix(embeddings["a"], embeddings["b"]).ravel()

    def validation(self, parity: dict[str | None, float]) -> dict:
        return {
            "classes": len(self.folders["a"].classes),
            "images": {b: len(self.folders[b]) for b in BRANCHES},
            "pairs": int(len(self.folders["a"]) * len(self.folders["b"])),
            "pairs_kind": "cross-branch (a x b)",
            "source": {b: data_ref(branch_ckpt(self.ckpt, b), self.opts) for b in BRANCHES},
            "parity_min_cosine": min(parity.values()),
            "parity_min_cosine_per_branch": dict(parity),
        }

    def provenance(self) -> dict:
        return {**provenance(self.ckpt, self.ckpt_path), "arch_b": self.ckpt["branches"]["b"]["model"]["arch"]}
