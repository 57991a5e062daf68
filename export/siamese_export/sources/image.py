"""One-encoder image checkpoints (class folders or image CSVs), with ensembles, ``--tta`` and the learned head.

Validation: all pairs of the checkpoint's validation classes (or ``--validation DIR``), or a CSV run's
held-out rows; calibration: the training images (or ``--calibration DIR``). Builds every profile's variants.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.eval import metrics
from siamese_sdk.format.manifest import HEADS, Preprocess, sha256_file
from siamese_sdk.format.pixels import to_batch
from siamese_sdk.tools.files import find_images
from siamese_sdk.tools.imagefolder import ImageFolder
from siamese_trainer import checkpoint
from siamese_trainer.data.images import EMBEDDED, resolve_root
from siamese_trainer.data.validation import checkpoint_validation, training_images
from siamese_trainer.models.heads import LearnedHead

from .. import compatibility
from ..manifest_out import member, provenance
from ..onnx.graphs import INPUT_NAME, export_encoder
from ..onnx.learned_head import HEAD_PARITY_MAX_ABS, build_learned_head, head_parity
from ..options import ExportOptions
from ..wrappers import tta
from ..wrappers.ensemble import Ensemble
from ..wrappers.tta import SHIFTS, ShiftTTA
from .base import Part, Source, image_parity, rebuild_errors


def learned_head(ckpt: dict) -> LearnedHead | None:
    """The trained head of a ``--head learned`` checkpoint (None for the metric heads)."""
    if ckpt["model"]["metric"] != "learned":
        return None
    head = LearnedHead(int(ckpt["model"]["embedding_dim"]))
    head.load_state_dict(ckpt["head_state_dict"])
    return head.eval()


def validation_folder(ckpt: dict, opts: ExportOptions) -> ImageFolder:
    """``--validation DIR``, else the checkpoint's validation classes; ``InputError`` if it cannot form pairs."""
    if opts.validation is not None:
        folder = ImageFolder.scan(opts.validation)
    else:
        root = resolve_root(ckpt["data"]["root"])
        if not root.is_dir():
            raise InputError(
                f"validation images not found at {root} (the checkpoint's data); pass --validation DIR with class folders unseen in training"
            )
        folder = ImageFolder.scan(root, classes=list(ckpt["data"]["val_classes"]))
    if len(folder.classes) < 2 or (folder.counts() >= 2).sum() < 1:
        raise InputError(
            f"validation data {folder.root} needs >= 2 classes and a class with >= 2 images to form genuine and impostor pairs"
        )
    return folder


def calibration_images(ckpt: dict, opts: ExportOptions, preprocess: Preprocess, rng: np.random.Generator) -> np.ndarray:
    """Up to ``opts.calibration_images`` preprocessed training images ``(N, C, H, W) float32`` (or ``--calibration``)."""
    if opts.calibration is not None:
        paths = find_images([opts.calibration])
    elif "layout" in ckpt["data"]:  # a CSV run: the images of its training rows
        paths = training_images(ckpt)
    else:
        root = resolve_root(ckpt["data"]["root"])
        if not root.is_dir():
            raise InputError(
                f"training images not found at {root} for int8 calibration; pass --calibration DIR (images like the training data) or --no-int8"
            )
        paths = ImageFolder.scan(root, classes=list(ckpt["data"]["train_classes"])).paths
    if len(paths) > opts.calibration_images:
        paths = [paths[i] for i in np.sort(rng.choice(len(paths), opts.calibration_images, replace=False))]
    return to_batch(paths, preprocess)


def data_ref(ckpt: dict, opts: ExportOptions) -> str:
    """The validation data the manifest names: ``--validation``, or the checkpoint's data root."""
    if opts.validation is not None:
        return str(opts.validation)
    root = ckpt["data"]["root"]
    return root if root == EMBEDDED else str(Path(root))


def subsample(folder: ImageFolder, opts: ExportOptions, rng: np.random.Generator) -> ImageFolder:
    """At most ``opts.max_validation_images`` of ``folder`` (a seeded random choice, in folder order)."""
    if len(folder) <= opts.max_validation_images:
        return folder
    return folder.take(np.sort(rng.choice(len(folder), opts.max_validation_images, replace=False)))


class ImageSource(Source):
    """A one-encoder image checkpoint, optionally with ensemble members and ``--tta``."""

    variant_rows = {"int8": "int8", "fp16": "fp16", "fp16-fixed": "fp16-fixed", "w8a16-fixed": "w8a16-fixed"}

    def __init__(
        self, ckpt: dict, ckpt_path: Path, opts: ExportOptions, profiles: tuple[str, ...], members: list[tuple[dict, Path]]
    ):
        log = self.log = opts.log
        self.ckpt, self.ckpt_path, self.opts, self.members = ckpt, ckpt_path, opts, members
        with rebuild_errors(ckpt_path):
            encoder, pre, self.head = (
                checkpoint.build_encoder(ckpt["model"], ckpt["state_dict"]),
                Preprocess.from_dict(ckpt["preprocess"]),
                learned_head(ckpt),
            )
        mcfg = ckpt["model"]
        if members:
            parts = [encoder]
            for c, p in members:
                with rebuild_errors(p):
                    parts.append(checkpoint.build_encoder(c["model"], c["state_dict"]))
            encoder = Ensemble(parts, unit_parts=mcfg["metric"] == "cosine")
            log(f"ensemble: {1 + len(members)} checkpoints, embeddings concatenated inside the encoder graph")
        self.encoder = encoder.eval()
        self.pre = pre
        self.metric, self.normalized = str(mcfg["metric"]), bool(mcfg["normalize"])
        self.dim = int(mcfg["embedding_dim"]) + sum(int(c["model"]["embedding_dim"]) for c, _ in members)
        rng = np.random.default_rng(opts.seed)
        if "layout" in ckpt["data"]:  # a CSV run (image pairs/triplets): its held-out rows, or --validation CSV
            table, _, paths, self.vi, self.vj, self.same, where = checkpoint_validation(ckpt, opts.validation, opts.seed)
            self.info = {"split": where, "layout": table.layout, "images": len(paths), "pairs": int(self.same.size)}
            self.csv_layout = table.layout
            log(f"validation: {where} from {table.path}")
        else:
            folder = subsample(validation_folder(ckpt, opts), opts, rng)
            log(f"validation: {len(folder.classes)} unseen classes, {len(folder)} images from {folder.root}")
            paths, (self.vi, self.vj, self.same) = folder.paths, metrics.all_pairs(folder.labels)
            self.pair_classes = (folder.labels[self.vi], folder.labels[self.vj])
            self.info = {"classes": len(folder.classes), "images": len(folder), "pairs": int(self.same.size)}
        #: the validation image files (the compatibility stage embeds them with the old bundle too); None: a CSV run
        self.paths: list[str] | None = None if "layout" in ckpt["data"] else [str(p) for p in paths]
        self.images = images = to_batch(paths, pre)
        self.tta, self.tta_eers = self._tta(opts, log)
        self.encoders = {
            None: Part(
                export=lambda path: export_encoder(self.encoder, pre.shape, path),
                parity=lambda path: (image_parity(self.encoder, path, images[:256]), ""),
                inputs=images,
                feed=images,
                calibration=lambda: calibration_images(ckpt, opts, pre, rng),
                metadata={"input_name": INPUT_NAME, "preprocess": pre.to_dict()},
            )
        }
        self.head_err: float | None = None

    def _tta(self, opts: ExportOptions, log: Callable[[str], None]) -> tuple[str, dict[str, float]]:
        """``--tta``: the mode given, or ``auto``'s gate on the validation pairs; wraps ``self.encoder`` in it."""
        mode, eers = opts.tta, {}
        if mode == "auto" and compatibility.old_entry(self.ckpt) is not None:
            mode = "none"  # the embedding the run was made compatible with (and its map fitted on) is the plain one
            self.notes = ("test-time augmentation none (--tta auto): a --compatible-with / --map-from run keeps the one view it was trained and mapped with",)
        elif mode == "auto":
            mode, eers, why = tta.gate(
                self.encoder, self.images, (self.vi, self.vj, self.same), self.pair_classes, self.metric, self.normalized, log
            )
            self.notes = (f"test-time augmentation {mode} (--tta auto): {why}",)
        if mode != "none":
            self.encoder = ShiftTTA(self.encoder, mode, self.normalized).eval()
            log(f"test-time augmentation: {mode} ({len(SHIFTS[mode])} views per image, averaged inside the encoder graph)")
        return mode, eers

    def scores(self, model: Any, embeddings: dict[str | None, np.ndarray]) -> np.ndarray:
        e = embeddings[None]
        return model.distance_matrix(e, e)[self.vi, self.vj]

    def write_heads(self, root: Path) -> None:
        if self.head is None:
            return super().write_heads(root)
        heads = {kind: build_learned_head(self.head, kind, self.dim) for kind in HEADS}
        with torch.no_grad():
            emb = self.encoder(torch.from_numpy(self.images[:256])).numpy()
        err = self.head_err = head_parity(self.head, heads["pairwise"], heads["matrix"], emb)
        if err > HEAD_PARITY_MAX_ABS:
            raise BundleError(
                f"ONNX learned head differs from torch (max |p| difference {err:.2e} > {HEAD_PARITY_MAX_ABS}); report this with your checkpoint"
            )
        self.log(f"      head parity: max |p(same)| difference ONNX vs torch = {err:.2e}")
        for kind, graph in heads.items():
            onnx.save(graph, str(root / HEADS[kind]))

    def manifest_input(self) -> dict[str, Any]:
        return {"input_name": INPUT_NAME, "preprocess": self.pre}

    def validation(self, parity: dict[str | None, float]) -> dict:
        return {
            **self.info,
            **({"head_parity_max_abs": self.head_err} if self.head is not None else {}),
            "source": data_ref(self.ckpt, self.opts),
            "parity_min_cosine": parity[None],
        }

    def provenance(self) -> dict:
        prov = {**provenance(self.ckpt, self.ckpt_path), "tta": self.tta}
        if self.tta_eers:
            prov["tta_validation_eer"] = {k: round(v, 6) for k, v in self.tta_eers.items()}
        if self.members:
            first = member(self.ckpt, prov["checkpoint_sha256"])
            prov["ensemble"] = [first, *(member(c, sha256_file(p)) for c, p in self.members)]
        return prov
