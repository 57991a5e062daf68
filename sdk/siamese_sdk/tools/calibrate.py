"""``siamese calibrate``: recompute a bundle's thresholds on the user's own labelled folder (the deployment domain).

Every variant is loaded through the SDK (CPU provider), embeds the folder's images (at most ``MAX_IMAGES``, a
seeded choice), and is measured on all pairs (``siamese_sdk.eval.measure``, as the export measures): new
thresholds, metrics and their support. The bundle is copied into a temporary folder beside the destination, its
manifest re-hashed and the folder renamed into place (``siamese_sdk.atomic``): a failure leaves the old bundle.
The replaced calibration is appended to the manifest's ``calibration_history``.
"""

from __future__ import annotations

import datetime as _dt
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..eval import metrics, support
from ..eval.measure import measure_variant
from ..format.manifest import MANIFEST, Manifest, read_manifest, write_manifest
from ..format.unreadable import skipped_line
from ..security.signing import SIGNATURE
from .imagefolder import decode_folder, labelled_pairs

#: images embedded per variant at most (a seeded choice, as the export's validation)
MAX_IMAGES = 2000
#: the metrics a calibration replaces (the others, e.g. speed and cosine to fp32, are kept)
REPLACED = (
    "auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "pairs_genuine", "pairs_impostor",
    *(f"{k}_at_{op}" for op in metrics.DECISION_POINTS for k in ("accuracy", "accepted")),
)


def calibrate_bundle(
    bundle: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    drop_signature: bool = False,
    threshold_support: str = "warn",
    seed: int = 0,
    log: Callable[[str], None] = print,
    skip_unreadable: bool = False,
) -> Path:
    """Recalibrate ``bundle`` on the class folders of ``data``; writes ``out`` (default: in place), returns it.

    ``skip_unreadable``: leave images that cannot be decoded out (logged in one line) instead of raising
    ``UnreadableImagesError`` naming them all.

    Raises ``InputError`` for a signed bundle without ``drop_signature``, a folder that cannot form genuine and
    impostor pairs, a two-branch or text bundle, or (``threshold_support="refuse"``) too small a folder.
    """
    from ..runtime.model import load  # (the runtime: off the import path of the CLI's help)

    bundle, data = Path(bundle), Path(data)
    dest = Path(out) if out is not None else bundle
    support.check_mode(threshold_support)
    manifest = read_manifest(bundle)
    signed = (bundle / SIGNATURE).is_file()
    if signed and not drop_signature:
        raise InputError(
            f"{bundle} is signed and new thresholds change its manifest, so the signature would no longer match; "
            "pass --drop-signature, then re-sign with siamese sign"
        )
    if manifest.branches or manifest.input_kind != "image":
        raise InputError(f"siamese calibrate reads image class folders; {bundle} is a {manifest.input_kind} or two-branch bundle")
    if dest != bundle and dest.exists() and not (dest / MANIFEST).exists():
        raise InputError(f"{dest} exists and is not a bundle; choose another -o (an existing bundle would be replaced)")
    folder, x, skipped = decode_folder(labelled_pairs(data, MAX_IMAGES, seed), manifest.preprocess, skip_unreadable)
    if skipped:
        log(skipped_line(skipped, len(folder) + len(skipped)))
    i, j, same = metrics.all_pairs(folder.labels)
    classes = (folder.labels[i], folder.labels[j])
    log(f"calibrating on {len(folder.classes)} classes, {len(folder)} images, {same.size} pairs from {data}")
    fix = f"label more identities (class folders) in {data}"
    support.check(support.shortfalls(same, classes), threshold_support, f"{data} is", fix, log)  # before any embedding
    variants = {}
    # x: decoded once (decode_folder), for every variant

    def score(model: Any, emb: dict) -> Any:  # all pairs i < j of the folder
        return model.distance_matrix(emb[None], emb[None])[i, j]

    for name, v in manifest.variants.items():
        r = measure_variant(load(bundle, variant=name, providers="cpu", threads=None), {None: x}, score, same, classes)
        kept = {k: x for k, x in v.metrics.items() if k not in REPLACED}
        variants[name] = replace(v, thresholds=r.thresholds, metrics={**r.metrics, **kept}, support=r.support)
        log(f"      {name}: AUC {r.auc:.4f}  EER {r.eer:.4f}  thresholds " + " / ".join(f"{x:.4f}" for x in r.thresholds.values()))
    new = replace(
        manifest,
        variants=variants,
        validation={
            "classes": len(folder.classes),
            "images": len(folder),
            "pairs": int(same.size),
            "source": str(data),
            "calibrated_utc": _now(),
        },
        calibration_history=(*manifest.calibration_history, _history(manifest)),
    )
    _write(bundle, dest, new)
    log(f"bundle written: {dest}" + (" (signature dropped: re-sign with siamese sign)" if signed else ""))
    return dest


def _history(m: Manifest) -> dict[str, Any]:
    """What the manifest's ``calibration_history`` keeps of the calibration being replaced."""
    return {
        "what": "thresholds",
        "when": m.validation.get("calibrated_utc") or m.provenance.get("created_utc"),
        "replaced_utc": _now(),
        "data": m.validation.get("source"),
        "identities": m.validation.get("classes"),
        "pairs": m.validation.get("pairs"),
        "validation": dict(m.validation),
        "thresholds": {n: dict(v.thresholds) for n, v in m.variants.items()},
        "metrics": {n: {k: x for k, x in v.metrics.items() if k in REPLACED} for n, v in m.variants.items()},
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write(bundle: Path, dest: Path, manifest: Manifest) -> None:
    """Copy the bundle's files and the new manifest (re-hashed) to ``dest`` atomically; the signature is not copied."""
    from ..atomic import atomic_directory

    with atomic_directory(dest) as tmp:
        for name in manifest.files:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle / name, tmp / name)
        write_manifest(tmp, manifest)
