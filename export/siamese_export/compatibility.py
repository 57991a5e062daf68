"""The compatibility stage: how a new bundle's embeddings meet an older bundle's, measured and gated.

For a checkpoint trained with ``siamese-train --compatible-with OLD`` (its ``compatibility`` entry) or
``--map-from OLD`` (its ``map``), on the export's validation pairs (classes unseen in training), fp32 both:

- ``old_old``: old query vs old template (the baseline: the deployed system today);
- ``new_old``: new query vs old template (both orders of every pair), what a not re-enrolled gallery serves;
- ``new_new``: new vs new; ``mapped_new``: new query vs old template through the map (``--map-from``).

The gate: the bundle is marked ``compatible`` (``Gallery.load(old, model=new)`` then accepts the old bundle's
galleries) only when ``new_old`` is at least as good as ``old_old`` in both AUC and EER; otherwise the figures
go into the notes and the log, and old galleries are refused (or converted with the map). The map itself is
written as ``map.old_to_new.onnx`` (``siamese_sdk.format.compatibility``), parity-checked against torch.

The old bundle: ``--compatible-with OLD_BUNDLE`` given to the export, else the one the run was trained against
(a bundle ``OLD``), else ``bundle/`` beside the old checkpoint (where ``siamese-export OLD_RUN`` writes it). A run
trained without an old model is measured too when the export is given ``--compatible-with`` (the gate decides).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from siamese_sdk import load as sdk_load
from siamese_sdk import metric as metric_mod
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.eval import metrics
from siamese_sdk.format.compatibility import MAP_FILE, Compatibility, MapGraph, OldModel
from siamese_sdk.format.manifest import MANIFEST
from siamese_sdk.format.pixels import to_batch
from siamese_trainer.map_fit import build_map

from .onnx.graphs import OUTPUT_NAME, export_module

#: the largest |difference| allowed between the ONNX map and torch on the validation embeddings
MAP_PARITY_MAX_ABS = 1e-4


def old_entry(ckpt: dict) -> dict[str, Any] | None:
    """The old model a checkpoint was trained against (``compatibility``, else its ``map``'s), or None."""
    return ckpt.get("compatibility") or (ckpt.get("map") or {}).get("old")


def old_bundle(ckpt: dict, given: Path | None) -> Path:
    """The old bundle to measure against (see the module docstring); ``InputError`` naming the fix."""
    entry = old_entry(ckpt) or {}
    if given is None and not entry:
        raise InputError("no old model to measure against; pass --compatible-with OLD_BUNDLE")
    path = Path(given) if given is not None else Path(entry["bundle"]) if entry.get("bundle") else None
    if path is None:
        guess = Path(entry.get("source", "OLD_RUN/model.pt")).parent / "bundle"
        if (guess / MANIFEST).is_file():
            return guess
        raise InputError(
            f"this run was trained against {entry.get('source')}, whose bundle is not at {guess}; export it "
            "(siamese-export OLD_RUN) or pass --compatible-with OLD_BUNDLE"
        )
    if not (path / MANIFEST).is_file():
        raise InputError(f"--compatible-with {path} is not a bundle (no {MANIFEST}); pass the old model's bundle folder")
    return path


def measure(
    ckpt: dict,
    root: Path,
    paths: list[str],
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    e_new: np.ndarray,
    given: Path | None,
    notes: list[str],
    log: Callable[[str], None],
) -> Compatibility | None:
    """Stage 3b on the bundle being built in ``root`` and the validation images ``paths`` with their ``pairs``
    ``(vi, vj, same)``, whose ``(N, D)`` fp32 embeddings by that bundle stage 3 measured (``e_new``): the
    ``compatibility`` entry (None for a run without an old model).
    Writes ``root/map.old_to_new.onnx`` for a ``--map-from`` run (after the new encoder is loaded)."""
    if old_entry(ckpt) is None and given is None:
        return None
    old_path = old_bundle(ckpt, given)
    old = sdk_load(old_path, variant="fp32", threads=None)
    new = sdk_load(root, variant="fp32", threads=None)
    om = old.manifest
    if om.metric != new.manifest.metric or ("map" not in ckpt and om.embedding_dim != new.embedding_dim):
        raise InputError(
            f"old bundle {old_path} makes {om.embedding_dim}-d {om.metric} embeddings, this run {new.embedding_dim}-d "
            f"{new.manifest.metric}; pass the bundle of the model it was trained against (--compatible-with)"
        )
    log(f"[3/5] compatibility with {old_path} (encoder {old.fingerprint}) on the same validation pairs, fp32")
    e_old = old.embed(to_batch(paths, om.preprocess), batch_size=128)  # type: ignore[arg-type]
    m = metric_mod.get(om.metric)
    vi, vj, same = pairs
    both = np.concatenate([same, same])

    def cross(q: np.ndarray, t: np.ndarray) -> np.ndarray:  # query (new) against template, both orders of each pair
        return np.concatenate([m.pairwise(q[vi], t[vj]), m.pairwise(q[vj], t[vi])])

    figs = {"old_old": _figures(m.pairwise(e_old[vi], e_old[vj]), same, m)}
    if e_old.shape[1] == e_new.shape[1]:  # (a --map-from run may change the embedding size)
        figs["new_old"] = _figures(cross(e_new, e_old), both, m)
    figs["new_new"] = _figures(m.pairwise(e_new[vi], e_new[vj]), same, m)
    graph = None
    if "map" in ckpt:
        graph = MapGraph(MAP_FILE, "old", OUTPUT_NAME)
        mapped = write_map(ckpt["map"], root / MAP_FILE, e_old if not m.normalized_inputs else _unit(e_old))
        figs["mapped_new"] = _figures(cross(e_new, mapped), both, m)
    oo, no = figs["old_old"], figs.get("new_old")
    ok = passes(figs)
    compat = Compatibility(_old_model(old, old_path), ok, figs, graph)
    for line in compat.figures().split(", "):
        log(f"      {line}")
    if no is not None and not ok:
        notes.append(
            f"not marked compatible with encoder {old.fingerprint}: new/old AUC {no['auc']:.4f} EER {no['eer']:.4f} is worse "
            f"than old/old AUC {oo['auc']:.4f} EER {oo['eer']:.4f}; its galleries are refused (re-enrol, or train longer)"
        )
        log(f"      {notes[-1]}")
    elif ok:
        log(f"      marked compatible: galleries of encoder {old.fingerprint} are searched as they are")
    return compat


def passes(figs: dict[str, dict[str, float]]) -> bool:
    """The gate: ``new_old`` at least as good as ``old_old`` in AUC (higher) and EER (lower); False without ``new_old``."""
    oo, no = figs["old_old"], figs.get("new_old")
    return no is not None and no["auc"] >= oo["auc"] and no["eer"] <= oo["eer"]


def write_map(entry: dict, path: Path, old_emb: np.ndarray) -> np.ndarray:
    """Export a checkpoint's ``map`` to ONNX at ``path``, parity-checked on ``old_emb (N, D_old)``; returns the
    ONNX map's ``(N, D_new)`` output."""
    module = build_map(entry)
    d_old = int(entry["d_old"])
    graph = export_module(module, (torch.zeros(2, d_old),), ["old"], {"x": {0: torch.export.Dim("batch", min=1)}})
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))
    x = np.ascontiguousarray(old_emb, dtype=np.float32)
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"old": x})[0]
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    err = float(np.abs(out - ref).max())
    if err > MAP_PARITY_MAX_ABS:
        raise BundleError(f"ONNX old -> new map differs from torch (max |difference| {err:.2e}); report this with your checkpoint")
    return out


def _figures(scores: np.ndarray, same: np.ndarray, m: Any) -> dict[str, float]:
    s, _ = metrics.summarize(scores, same, m.higher_is_closer)
    return {"auc": float(s["auc"]), "eer": float(s["eer"])}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _old_model(old: Any, path: Path) -> OldModel:
    om = old.manifest
    fps = {name: om.fingerprint(name) for name in om.variants}
    return OldModel(om.fingerprint(om.default_variant), fps, om.embedding_dim, om.metric, bool(om.normalized), str(path))
