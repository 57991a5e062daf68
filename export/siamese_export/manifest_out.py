"""Writing ``manifest.json``: the one place the export serialises a bundle's manifest and provenance.

``bundle_manifest`` composes the ``Manifest`` from what the pipeline measured (one encoder: the variants
carry files and results; two branches: results at the top, files per branch). Its serialisation is the
sdk's (``siamese_sdk.format.manifest``: ``Manifest.to_dict`` and ``write_manifest``): the
reader of a bundle defines the format.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from siamese_sdk import __version__ as sdk_version
from siamese_sdk.eval.measure import VariantMeasurement
from siamese_sdk.format.compatibility import Compatibility
from siamese_sdk.format.manifest import HEADS, Branch, Manifest, Profile, Variant, sha256_file

from .onnx.graphs import OPSET

if TYPE_CHECKING:
    from .sources.base import Source

def bundle_manifest(
    source: Source,
    files: dict[str, dict[str | None, Variant]],
    results: dict[str, VariantMeasurement],
    default: str,
    validation: dict,
    provenance: dict,
    notes: list[str],
    profiles: dict[str, Profile] | None = None,
    compatibility: Compatibility | None = None,
) -> Manifest:
    """The manifest of ``source``'s bundle.

    ``files``: variant -> encoder (None or the branch) -> its ``Variant`` (file, quantization, batch, and per
    branch metrics); ``results``: variant -> its measurement on the validation pairs (metrics, thresholds and their
    support, ``siamese_sdk.eval.measure``); a variant not measured yet gets empty ones; ``compatibility``: the old model's entry
    (``compatibility.measure``), its map graph listed among the files.
    """
    empty = VariantMeasurement({}, {}, {}, np.empty(0))
    results = {n: results.get(n, empty) for n in files}
    listed = [v.file for enc in source.encoders for v in (files[n][enc] for n in files)]
    if list(source.encoders) == [None]:
        variants = {
            n: Variant(
                file=f[None].file,
                quantization=f[None].quantization,
                thresholds=results[n].thresholds,
                metrics=results[n].metrics,
                batch=f[None].batch,
                support=results[n].support,
            )
            for n, f in files.items()
        }
        section: dict[str, Any] = source.manifest_input()
    else:
        variants = {
            n: Variant(file="", thresholds=results[n].thresholds, metrics=results[n].metrics, support=results[n].support)
            for n in files
        }
        branches = {b: Branch(part.input_spec, {n: files[n][b] for n in files}) for b, part in source.encoders.items()}
        section = {"input_name": "", "preprocess": None, "branches": branches}
    names = [*listed, *HEADS.values(), *source.extra_files()]
    if compatibility is not None and compatibility.map is not None:
        names.append(compatibility.map.file)
    return Manifest(
        embedding_dim=source.dim,
        metric=source.metric,
        normalized=source.normalized,
        variants=variants,
        heads=dict(HEADS),
        files=dict.fromkeys(names, ""),
        default_variant=default,
        validation=validation,
        provenance=provenance,
        notes=tuple(notes),
        profiles=dict(profiles or {}),
        compatibility=compatibility,
        **section,
    )


def member(ckpt: dict, sha256: str) -> dict:
    """What ``provenance.ensemble`` records of one member."""
    return {"arch": ckpt["model"]["arch"], "epochs": ckpt.get("epoch"), "checkpoint_sha256": sha256}


def provenance(ckpt: dict, ckpt_path: Path) -> dict:
    """The manifest's ``provenance``: versions, opset, what was trained and the checkpoint's sha256."""
    last = ckpt["history"][-1] if ckpt.get("history") else {}
    return {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "siamese_sdk": sdk_version,
        "torch": str(torch.__version__),
        "onnx": onnx.__version__,
        "onnxruntime": str(ort.__version__),
        "opset": OPSET,
        "arch": ckpt["model"]["arch"],
        "loss": ckpt["config"].get("loss"),
        "epochs": ckpt.get("epoch"),
        "checkpoint_sha256": sha256_file(ckpt_path),
        "train_data": ckpt["data"]["root"],
        "train_final": {k: v for k, v in last.items() if isinstance(v, (int, float))},
    }
