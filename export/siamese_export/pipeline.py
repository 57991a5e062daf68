"""The export, for every model kind: checkpoint -> parity-checked fp32 ONNX -> gated variants -> thresholds -> bundle.

Five stages, the same for every kind; what differs per kind (rebuilding encoders, the inputs, the
validation pairs, the manifest's input section) is a ``sources.Source``:

1. export each encoder to ONNX fp32 and check parity with torch (min cosine >= ``PARITY_MIN_COSINE``),
   then the heads;
2. build the variants the profiles need (``variants.VARIANTS``);
3. measure every variant through ``siamese_sdk.load`` on the bundle being built (the exact runtime path a
   deployed app uses), CPU provider, on the validation pairs (classes never seen in training): thresholds,
   metrics, cosine to fp32;
4. gate (``gates``): AUC drop, int8 speed, the profile each target gets;
5. write the ONNX metadata and ``manifest.json`` (``manifest_out``); for ``--profile mobile``, the ORT-format
   copies and their manifest entry (``ort_format``).

The bundle is built in a temp directory and renamed into place at the end: a failure or a kill leaves no
bundle, or the complete previous one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from siamese_sdk import load as sdk_load
from siamese_sdk.atomic import atomic_directory
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.eval import support
from siamese_sdk.eval.measure import VariantMeasurement, measure_variant
from siamese_sdk.format.manifest import MANIFEST, Variant, write_manifest
from siamese_sdk.profiles import TARGETS
from siamese_sdk.security.signing import SIGNATURE
from siamese_trainer import checkpoint

from . import compatibility, gates
from .manifest_out import bundle_manifest
from .onnx.graphs import bundle_metadata, set_metadata
from .operating_point import default_operating_point
from .operating_point import describe as describe_operating_point
from .options import ExportOptions
from .ort_format import add_ort_files
from .sources import SOURCES, Source
from .sources.base import cosine
from .variants import VARIANTS, build_variants
from .wrappers.ensemble import check_members

PARITY_MIN_COSINE = 0.9999


def export_bundle(checkpoint_path: str | Path, out: str | Path | None = None, options: ExportOptions | None = None) -> Path:
    """Export ``checkpoint_path`` to a bundle directory (default: ``bundle/`` beside the checkpoint).

    Raises ``BundleError``/``InputError`` with the fix; on failure the previous bundle (if any) is untouched.
    """
    opts = options or ExportOptions()
    profiles = gates.check_profiles(opts.profiles)
    opts.check()
    ckpt_path = checkpoint_of(Path(checkpoint_path), opts.log)
    ckpt = checkpoint.load(ckpt_path)
    out = Path(out) if out is not None else ckpt_path.parent / "bundle"
    if out.exists() and not (out / MANIFEST).exists():
        raise InputError(f"{out} exists and is not a bundle; choose another -o (an existing bundle would be replaced)")
    member_paths = [checkpoint_of(Path(p), opts.log) for p in opts.members]  # run folders too, as the first
    members = [(checkpoint.load(p), p) for p in member_paths]
    if members:
        check_members(ckpt, ckpt_path, members, opts.validation is not None)
    kind = checkpoint.kind_of(ckpt)
    if opts.tta not in ("none", "auto") and kind != "image":
        raise InputError(
            f"--tta applies to one-encoder image checkpoints; {ckpt_path} is a pseudo-Siamese or text run: drop --tta"
        )
    source = SOURCES[kind](ckpt, ckpt_path, opts, profiles, members)
    return run(source, out, opts, profiles)


def checkpoint_of(path: Path, log: Callable[[str], None]) -> Path:
    """What a path exports: a run folder its ``best.pt`` (the best validation epoch; ``model.pt`` when there is
    none); a ``model.pt`` itself, with a note when a ``best.pt`` lies beside it."""
    best, last = path / "best.pt", path / "model.pt"
    if path.is_dir() and (best.is_file() or last.is_file()):
        chosen = best if best.is_file() else last
        log(f"exporting {chosen} (epoch {checkpoint.load(chosen).get('epoch')}) from run folder {path}")
        return chosen
    if path.is_dir():
        raise BundleError(f"{path} {_folder_holds(path)}")
    best = path.parent / "best.pt"
    if path.name == "model.pt" and best.is_file():
        epochs = checkpoint.load(path).get("epoch"), checkpoint.load(best).get("epoch")
        log(
            f"note: {path} is the last epoch ({epochs[0]}); {best} holds the best validation epoch ({epochs[1]}): "
            f"pass {path.parent} or {best} to export that one"
        )
    return path


#: files a siamese-train run folder holds besides its checkpoints
RUN_FILES = ("split.json", "metrics.json", "train.lock")


def _folder_holds(path: Path) -> str:
    """What a folder without ``best.pt`` / ``model.pt`` holds, the files looked for, and what to pass instead."""
    from siamese_sdk.tools.files import walk

    looked = f"siamese-export looked for {path / 'best.pt'} and {path / 'model.pt'}"
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return f"is an empty folder ({looked}); pass the folder siamese-train --out wrote, e.g. siamese-export runs/demo"
    if MANIFEST in names:
        return f"is a bundle folder (it holds {MANIFEST}), already exported ({looked}); use it (siamese info {path}) or pass the run folder it came from"
    if any(n in names for n in RUN_FILES):
        return (
            f"is a run folder without a checkpoint ({looked}; it holds {', '.join(names[:5])}): the run ended before its "
            "first epoch; rerun the siamese-train command that wrote it (or pass another run folder)"
        )
    image = next(walk(path), None)
    if image is not None:
        return f"is an image folder (e.g. {image}), not a training run ({looked}); train on it first: siamese-train --data {path} --out runs/NAME, then siamese-export runs/NAME"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"holds no checkpoint ({looked}; it holds {shown}); pass a siamese-train run folder or its best.pt"


def run(source: Source, out: Path, opts: ExportOptions, profiles: tuple[str, ...]) -> Path:
    """The five stages on ``source``, written atomically to ``out``; returns ``out``."""
    log = opts.log
    parts = source.encoders
    if source.csv_layout == "labelled":
        fix = "pass --validation CSV with more classes unseen in training (a labelled CSV like the training data)"
    elif source.csv_layout:
        fix = f"pass --validation CSV with more rows (a {source.csv_layout} CSV like the training data)"
    else:
        fix = "pass --validation DIR with more identities (class folders unseen in training), or calibrate on your own data with siamese calibrate"
    support.check(support.shortfalls(source.same, source.pair_classes), opts.threshold_support, "validation set", fix, log)  # before any work
    if opts.compatible_with is not None and source.paths is None:
        raise InputError(
            f"--compatible-with applies to image-folder checkpoints (a CSV, text or two-branch run has no images to compare); drop --compatible-with {opts.compatible_with}"
        )
    with atomic_directory(out) as tmp:
        parity = _export_encoders(source, tmp, log)
        notes: list[str] = list(source.notes)
        encoders = {enc: tmp / _file(enc, "fp32") for enc in parts}
        calibration = {enc: part.calibration_images for enc, part in parts.items()}
        files = build_variants(source.variant_rows, encoders, calibration, tmp, opts, profiles, notes)
        results = _measure(source, tmp, files, log)
        compat = compatibility.measure(
            source.ckpt, tmp, source.paths, (source.vi, source.vj, source.same), results["fp32"].embeddings[None],
            opts.compatible_with, notes, log,
        ) if source.paths is not None else None

        def drop(name: str) -> None:
            for v in files.pop(name).values():
                (tmp / v.file).unlink()

        by_encoder = {enc: {n: f[enc] for n, f in files.items()} for enc in parts}
        speed_gated = {n for n in files if n != "fp32" and VARIANTS[source.variant_rows[n]].speed_gate}
        top = {n: r.metrics for n, r in results.items()}
        feeds = {enc: part.feed for enc, part in parts.items()}
        slow = gates.apply_gates(tmp, profiles, top, by_encoder, feeds, speed_gated, drop, notes, log)
        results = {n: results[n] for n in files}
        chosen = gates.choose_profiles(profiles, list(files), slow)
        default = chosen["cpu"].variant if "cpu" in chosen else "fp32"
        op = default_operating_point(source.same, source.csv_layout)
        log(describe_operating_point(op, results[default].metrics, source.same))

        log("[5/5] writing manifest and metadata")
        for enc, part in parts.items():
            for name, v in files.items():
                fixed = {"fixed_batch": str(v[enc].batch)} if v[enc].batch else {}
                props = bundle_metadata(source.dim, source.metric, source.normalized, results[name].thresholds, **part.metadata, **fixed)
                set_metadata(tmp / v[enc].file, props)
        manifest = bundle_manifest(
            source, files, results, default, source.validation(parity), source.provenance(), notes, chosen,
            compatibility=compat, operating_point=op,
        )
        write_manifest(tmp, manifest)
        if any(TARGETS[p].ort for p in profiles):
            add_ort_files(tmp, manifest, log)
        if opts.sign is not None:
            from siamese_sdk.security import sign_bundle

            sign_bundle(tmp, opts.sign, passphrase=opts.sign_passphrase)
            log(f"signed: {SIGNATURE} by {opts.sign}")
    log(f"bundle written: {out}")
    return out


def _export_encoders(source: Source, root: Path, log: Callable[[str], None]) -> dict[str | None, float]:
    """Stage 1: every encoder to ``root`` as ONNX fp32, parity-gated against torch, then the heads; returns the parities."""
    log(f"[1/5] {source.export_log}")
    parity: dict[str | None, float] = {}
    for enc, part in source.encoders.items():
        path = root / _file(enc, "fp32")
        part.export(path)
        p, detail = part.parity(path)
        parity[enc] = p
        if p < PARITY_MIN_COSINE:
            where = f"branch {enc}: " if enc else ""
            raise BundleError(
                f"{where}ONNX fp32 embeddings differ from torch (min cosine {p:.6f} < {PARITY_MIN_COSINE}); report this with your checkpoint"
            )
        label = f"branch {enc} " if enc else ""
        log(f"      {label}parity: min cosine similarity ONNX vs torch = {p:.7f}{detail}")
    source.write_heads(root)
    return parity


def _measure(
    source: Source, root: Path, files: dict[str, dict[str | None, Variant]], log: Callable[[str], None]
) -> dict[str, VariantMeasurement]:
    """Stage 3: each variant loaded through the SDK from ``root``, measured on the validation pairs
    (``siamese_sdk.eval.measure``); a derived variant's metrics gain its cosine to fp32 (the worst encoder's; per
    encoder in ``files``' variants).

    The SDK loads a bundle from its folder, so a manifest listing every file (thresholds and metrics still empty)
    is written first; stage 5 replaces it.
    """
    log(f"[3/5] measuring each variant through the SDK (CPU provider) on {source.pairs_log}")
    parts = source.encoders
    write_manifest(root, bundle_manifest(source, files, {}, "fp32", {}, {}, []))
    inputs = {enc: part.inputs for enc, part in parts.items()}
    results: dict[str, VariantMeasurement] = {}
    for name in list(files):
        r = results[name] = measure_variant(
            sdk_load(root, variant=name, threads=None), inputs, source.scores, source.same, source.pair_classes
        )
        m = r.metrics
        if name != "fp32":
            for enc, e in r.embeddings.items():
                c = cosine(results["fp32"].embeddings[enc], e)
                files[name][enc].metrics.update(cosine_vs_fp32_min=float(c.min()), cosine_vs_fp32_mean=float(c.mean()))
            per = [files[name][enc].metrics for enc in parts]
            m["cosine_vs_fp32_min"] = min(p["cosine_vs_fp32_min"] for p in per)
            if len(per) == 1:  # one encoder: its mean too (two-branch bundles keep the means per branch)
                m["cosine_vs_fp32_mean"] = per[0]["cosine_vs_fp32_mean"]
        vs32 = f"  cosine vs fp32 min {m['cosine_vs_fp32_min']:.6f}" if name != "fp32" else ""
        log(
            f"      {name}: {source.auc_label}AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR1e-3 {m['tar_at_far_1e-3']:.4f}{vs32}"
        )
    return results


def _file(encoder: str | None, variant: str) -> str:
    """``encoder.<variant>.onnx``, or ``encoder.<branch>.<variant>.onnx`` for a branch."""
    return f"encoder.{encoder}.{variant}.onnx" if encoder else f"encoder.{variant}.onnx"
