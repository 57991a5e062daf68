"""The export: checkpoint -> parity-checked fp32 ONNX -> gated variants per profile -> thresholds -> bundle.

Every variant's thresholds and metrics are measured through ``siamese_sdk.load`` on the bundle being
built, i.e. the exact runtime path a deployed app uses, on all pairs of the validation classes (never
seen in training), on the CPU provider (every variant runs there, so this machine can gate them all).

Profiles (``siamese_sdk.profiles.TARGETS``) decide which variants are built: cpu -> int8, cuda and
tensorrt -> fp16, openvino -> int8, coreml -> fp16-fixed, qnn -> w8a16-fixed; fp32 always. Every derived
variant must keep its validation AUC within ``MAX_AUC_DROP`` of fp32 or it is not shipped (its profile
then runs fp32, with a note); int8 must also not be slower than fp32 on this CPU to be the cpu choice.
Each derived variant also records the cosine similarity of its embeddings to fp32's.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from siamese_sdk import __version__ as sdk_version
from siamese_sdk import load as sdk_load
from siamese_sdk import metrics
from siamese_sdk.atomic import atomic_directory, write_text_atomic
from siamese_sdk.bundle import HEADS, MANIFEST, Manifest, Preprocess, Profile, Variant, sha256_file
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.imagefolder import ImageFolder
from siamese_sdk.preprocess import find_images, to_batch
from siamese_sdk.profiles import TARGETS, variants_for
from siamese_trainer import checkpoint
from siamese_trainer.backbones import BackboneError
from siamese_trainer.data import EMBEDDED, resolve_root
from siamese_trainer.encoders import Encoder
from siamese_trainer.heads import LearnedHead
from siamese_trainer.table_train import checkpoint_validation, training_images

from .ensemble import Ensemble, check_members
from .fp16 import convert_fp16
from .learned_head import HEAD_PARITY_MAX_ABS, build_learned_head, head_parity
from .onnx_graphs import INPUT_NAME, OPSET, build_head, bundle_metadata, export_encoder, fix_batch, set_metadata
from .quantize import quantize_encoder, quantize_w8a16
from .tta import SHIFTS, ShiftTTA

PARITY_MIN_COSINE = 0.9999
#: every derived variant (int8, fp16, fp16-fixed, w8a16-fixed) ships only within this validation AUC drop of fp32
MAX_AUC_DROP = 0.005
INT8_MAX_AUC_DROP = MAX_AUC_DROP
#: int8 must be at least this fast relative to fp32 (1.0 = not slower; a 3 % allowance absorbs timer noise)
INT8_MIN_SPEEDUP = 0.97


@dataclass
class ExportOptions:
    """Knobs of ``export_bundle``; defaults are what ``siamese-export`` uses."""

    calibration: Path | None = None
    validation: Path | None = None
    int8: bool = True
    calibration_images: int = 256
    max_validation_images: int = 2000
    seed: int = 0
    log: Callable[[str], None] = field(default=print)
    #: deployment targets (``siamese_sdk.profiles.TARGETS``) whose variants to build and record
    profiles: tuple[str, ...] = ("cpu",)
    #: batch size of the static-shape variants (coreml, qnn)
    fixed_batch: int = 1
    #: test-time augmentation baked into the encoder graph (``tta.SHIFTS``: none, shift5, shift9)
    tta: str = "none"
    #: further checkpoints joined with the first into one ensemble encoder (``ensemble.py``)
    members: tuple[Path, ...] = ()


def export_bundle(checkpoint_path: str | Path, out: str | Path | None = None, options: ExportOptions | None = None) -> Path:
    """Export ``checkpoint_path`` to a bundle directory (default: ``bundle/`` beside the checkpoint).

    The bundle is built in a temp directory and renamed into place at the end: a failure or a kill leaves
    no bundle, or the complete previous one. Raises ``BundleError``/``InputError`` with the fix.
    """
    opts = options or ExportOptions()
    log = opts.log
    profiles = _check_profiles(opts.profiles)
    if not isinstance(opts.fixed_batch, int) or opts.fixed_batch < 1:
        raise InputError(f"fixed batch {opts.fixed_batch!r} invalid; pass --fixed-batch >= 1")
    if opts.tta not in SHIFTS:
        raise InputError(f"test-time augmentation {opts.tta!r} unknown; pass --tta {' or '.join(SHIFTS)}")
    ckpt_path = Path(checkpoint_path)
    ckpt = checkpoint.load(ckpt_path)
    out = Path(out) if out is not None else ckpt_path.parent / "bundle"
    if out.exists() and not (out / MANIFEST).exists():
        raise InputError(f"{out} exists and is not a bundle; choose another -o (an existing bundle would be replaced)")
    members = [(checkpoint.load(p), Path(p)) for p in opts.members]
    if members:
        check_members(ckpt, ckpt_path, members, opts.validation is not None)
    kind = checkpoint.kind_of(ckpt)
    if opts.tta != "none" and kind != "image":
        raise InputError(f"--tta applies to one-encoder image checkpoints; {ckpt_path} is a pseudo-Siamese or text run: drop --tta")
    if kind == "pseudo":
        from .pseudo import export_pseudo_bundle

        return export_pseudo_bundle(ckpt, ckpt_path, out, opts, profiles)
    if kind == "text":
        from .text_export import export_text_bundle

        return export_text_bundle(ckpt, ckpt_path, out, opts)
    encoder, preprocess, head = _rebuild(ckpt, ckpt_path)
    mcfg = ckpt["model"]
    if members:
        encoder = Ensemble([encoder, *(_rebuild(c, p)[0] for c, p in members)], unit_parts=mcfg["metric"] == "cosine")
        log(f"ensemble: {1 + len(members)} checkpoints, embeddings concatenated inside the encoder graph")
    if opts.tta != "none":
        encoder = ShiftTTA(encoder, opts.tta, bool(mcfg["normalize"]))
        log(f"test-time augmentation: {opts.tta} ({len(SHIFTS[opts.tta])} views per image, averaged inside the encoder graph)")
    encoder.eval()
    metric, dim = str(mcfg["metric"]), int(mcfg["embedding_dim"]) + sum(int(c["model"]["embedding_dim"]) for c, _ in members)

    rng = np.random.default_rng(opts.seed)
    if "layout" in ckpt["data"]:  # a CSV run (image pairs/triplets): its held-out rows, or --validation CSV
        table, _, val_paths, vi, vj, vsame, where = checkpoint_validation(ckpt, opts.validation, opts.seed)
        val_info = {"split": where, "layout": table.layout, "images": len(val_paths), "pairs": int(vsame.size)}
        log(f"validation: {where} from {table.path}")
    else:
        val_folder = _validation_folder(ckpt, opts)
        if len(val_folder) > opts.max_validation_images:
            keep = np.sort(rng.choice(len(val_folder), opts.max_validation_images, replace=False))
            val_folder = val_folder.take(keep)
        log(f"validation: {len(val_folder.classes)} unseen classes, {len(val_folder)} images from {val_folder.root}")
        val_paths, (vi, vj, vsame) = val_folder.paths, metrics.all_pairs(val_folder.labels)
        val_info = {"classes": len(val_folder.classes), "images": len(val_folder), "pairs": int(vsame.size)}
    val_images = to_batch(val_paths, preprocess)

    with atomic_directory(out) as tmp:
        log("[1/5] exporting the encoder to ONNX (fp32) and checking parity with torch")
        fp32_file = "encoder.fp32.onnx"
        export_encoder(encoder, preprocess.shape, tmp / fp32_file)
        parity = _parity(encoder, tmp / fp32_file, val_images[:256])
        if parity < PARITY_MIN_COSINE:
            raise BundleError(
                f"ONNX fp32 embeddings differ from torch (min cosine {parity:.6f} < {PARITY_MIN_COSINE}); report this with your checkpoint"
            )
        log(f"      parity: min cosine similarity ONNX vs torch = {parity:.7f}")

        heads = {kind: build_head(metric, kind, dim) if head is None else build_learned_head(head, kind, dim) for kind in HEADS}
        if head is not None:
            with torch.no_grad():
                head_emb = encoder(torch.from_numpy(val_images[:256])).numpy()
            head_err = head_parity(head, heads["pairwise"], heads["matrix"], head_emb)
            if head_err > HEAD_PARITY_MAX_ABS:
                raise BundleError(
                    f"ONNX learned head differs from torch (max |p| difference {head_err:.2e} > {HEAD_PARITY_MAX_ABS}); report this with your checkpoint"
                )
            log(f"      head parity: max |p(same)| difference ONNX vs torch = {head_err:.2e}")
        for kind, graph in heads.items():
            onnx.save(graph, str(tmp / f"head.{kind}.onnx"))
        variants = {"fp32": Variant(file=fp32_file)}
        notes: list[str] = []
        wanted = variants_for(profiles)
        log(f"[2/5] building the variants of profile(s) {', '.join(profiles)}: {', '.join(['fp32', *wanted])}")
        work = tmp / ".work"  # intermediate graphs; removed before the bundle is measured
        work.mkdir()
        calib: np.ndarray | None = None
        for name in wanted:
            if name == "int8" and not opts.int8:
                notes.append("int8 not built (--no-int8)")
                continue
            file = f"encoder.{name}.onnx"
            try:
                if name in ("int8", "w8a16-fixed") and calib is None:
                    calib = _calibration_images(ckpt, opts, preprocess, rng)
                if name == "int8":
                    log("      int8: static QDQ, per-channel, calibrating on training images")
                    variants[name] = Variant(
                        file=file, quantization=quantize_encoder(tmp / fp32_file, tmp / file, INPUT_NAME, calib)
                    )
                elif name == "fp16":
                    log("      fp16: float16 inside, float32 inputs/outputs")
                    variants[name] = Variant(file=file, quantization=convert_fp16(tmp / fp32_file, tmp / file))
                elif name == "fp16-fixed":
                    log(f"      fp16-fixed: fp16 with the batch fixed to {opts.fixed_batch} (CoreML)")
                    fix_batch(tmp / fp32_file, work / "fixed.onnx", opts.fixed_batch)
                    info = convert_fp16(work / "fixed.onnx", tmp / file)
                    variants[name] = Variant(file=file, quantization=info, batch=opts.fixed_batch)
                elif name == "w8a16-fixed":
                    log(f"      w8a16-fixed: uint16 activations, int8 weights, batch fixed to {opts.fixed_batch} (QNN)")
                    fix_batch(tmp / fp32_file, work / "fixed.onnx", opts.fixed_batch)
                    info = quantize_w8a16(work / "fixed.onnx", tmp / file, INPUT_NAME, calib, opts.fixed_batch)
                    variants[name] = Variant(file=file, quantization=info, batch=opts.fixed_batch)
                if name != "int8":
                    onnx.checker.check_model(str(tmp / file), full_check=True)
            except InputError:
                raise  # missing calibration data: the fix is the user's (--calibration DIR)
            except Exception as e:  # converters and quantisers raise untyped errors on graphs they cannot handle
                (tmp / file).unlink(missing_ok=True)
                variants.pop(name, None)
                what = "quantisation" if name in ("int8", "w8a16-fixed") else "conversion"
                notes.append(f"{name} not shipped: {what} failed ({type(e).__name__}: {str(e)[:120]})")
                log(f"      {notes[-1]}")
        shutil.rmtree(work)

        log("[3/5] measuring each variant through the SDK (CPU provider) on all validation pairs")
        results = {}
        embeddings: dict[str, np.ndarray] = {}
        for name in list(variants):
            _write_manifest(tmp, _manifest(variants, metric, dim, mcfg, preprocess, "fp32", {}, {}, []))
            model = sdk_load(tmp, variant=name, threads=None)
            emb = embeddings[name] = model.embed(val_images, batch_size=128)
            scores = model.distance_matrix(emb, emb)[vi, vj]
            m, t = metrics.summarize(scores, vsame, model.manifest.higher_is_closer)
            if name != "fp32":
                cos = _cosine(embeddings["fp32"], emb)
                m.update(cosine_vs_fp32_min=float(cos.min()), cosine_vs_fp32_mean=float(cos.mean()))
            results[name] = (m, t)
            variants[name] = Variant(
                file=variants[name].file,
                quantization=variants[name].quantization,
                thresholds=t,
                metrics=m,
                batch=variants[name].batch,
            )
            vs32 = f"  cosine vs fp32 min {m['cosine_vs_fp32_min']:.6f}" if name != "fp32" else ""
            log(f"      {name}: AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR1e-3 {m['tar_at_far_1e-3']:.4f}{vs32}")

        log(f"[4/5] gating: AUC drop <= {MAX_AUC_DROP} for every variant; int8 also not slower than fp32 on this CPU")
        for name in [n for n in variants if n != "fp32"]:
            drop = results["fp32"][0]["auc"] - results[name][0]["auc"]
            if drop > MAX_AUC_DROP:
                notes.append(f"{name} not shipped: validation AUC drop {drop:.4f} > {MAX_AUC_DROP}")
                log(f"      {notes[-1]}")
                (tmp / variants.pop(name).file).unlink()
            elif name != "int8":
                log(f"      {name} ships: AUC drop {drop:+.4f} (no speed gate: measured on CPU, built for {_targets_of(name)})")
        int8_on_cpu = False
        if "int8" in variants:
            drop = results["fp32"][0]["auc"] - results["int8"][0]["auc"]
            speedup = _speedup(tmp, variants, val_images)
            variants["int8"].metrics["speedup_vs_fp32_b64"] = speedup
            variants["fp32"].metrics["speedup_vs_fp32_b64"] = 1.0
            if speedup >= INT8_MIN_SPEEDUP:
                int8_on_cpu = True
                log(f"      int8 ships: AUC drop {drop:+.4f}, {speedup:.2f}x fp32 speed at batch 64")
            elif any(p != "cpu" and TARGETS[p].variant == "int8" for p in profiles):
                notes.append(
                    f"int8 not used on CPU: {speedup:.2f}x the speed of fp32 at batch 64 on this CPU (slower); kept for openvino"
                )
                log(f"      {notes[-1]}")
            else:
                notes.append(f"int8 not shipped: {speedup:.2f}x the speed of fp32 at batch 64 on this CPU (slower)")
                log(f"      {notes[-1]}; shipping fp32 only")
                (tmp / variants.pop("int8").file).unlink()
        chosen = _profiles(profiles, variants, int8_on_cpu)
        default = chosen["cpu"].variant if "cpu" in chosen else "fp32"

        log("[5/5] writing manifest and metadata")
        validation = {
            **val_info,
            **({"head_parity_max_abs": head_err} if head is not None else {}),
            "source": _data_ref(ckpt, opts),
            "parity_min_cosine": parity,
        }
        provenance = {**_provenance(ckpt, ckpt_path), "tta": opts.tta}
        if members:
            first = _member(ckpt, provenance["checkpoint_sha256"])
            provenance["ensemble"] = [first, *(_member(c, sha256_file(p)) for c, p in members)]
        for v in variants.values():
            fixed = {"fixed_batch": str(v.batch)} if v.batch else {}
            props = bundle_metadata(
                dim, metric, bool(mcfg["normalize"]), v.thresholds, input_name=INPUT_NAME, preprocess=_preprocess_dict(preprocess), **fixed
            )
            set_metadata(tmp / v.file, props)
        _write_manifest(tmp, _manifest(variants, metric, dim, mcfg, preprocess, default, validation, provenance, notes, chosen))
    log(f"bundle written: {out}")
    return out


def _rebuild(ckpt: dict, path: Path) -> tuple[Encoder, Preprocess, LearnedHead | None]:
    """A one-encoder image checkpoint's encoder, preprocessing and learned head (None for metric heads)."""
    try:
        return encoder_from(ckpt["model"], ckpt["state_dict"]), preprocess_from(ckpt["preprocess"]), _learned_head(ckpt)
    except BackboneError as e:  # a user backbone whose module is not importable here
        raise BundleError(f"{path}: {e}") from None
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise BundleError(
            f"{path} lacks or mismatches what export needs ({type(e).__name__}: {str(e)[:120]}); re-train with this version"
        ) from None


def preprocess_from(d: dict) -> Preprocess:
    """A checkpoint's ``preprocess`` entry as ``Preprocess``."""
    return Preprocess(
        size=tuple(d["size"]),
        channels=int(d["channels"]),
        resample=d["resample"],
        scale=float(d["scale"]),
        mean=tuple(d["mean"]),
        std=tuple(d["std"]),
    )


def encoder_from(mcfg: dict, state_dict: dict) -> Encoder:
    """Rebuild a trained encoder (eval mode) from a checkpoint's ``model`` entry and weights."""
    return checkpoint.build_encoder(mcfg, state_dict)


def _learned_head(ckpt: dict) -> LearnedHead | None:
    """The trained head of a ``--head learned`` checkpoint (None for the metric heads)."""
    if ckpt["model"]["metric"] != "learned":
        return None
    head = LearnedHead(int(ckpt["model"]["embedding_dim"]))
    head.load_state_dict(ckpt["head_state_dict"])
    return head.eval()


def _check_profiles(profiles: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(p.strip().lower() for p in profiles if p.strip())) or ("cpu",)
    unknown = [p for p in names if p not in TARGETS]
    if unknown:
        raise InputError(f"profile(s) {unknown} unknown; expected any of {list(TARGETS)} (repeat --profile or give a comma list)")
    return names


def _targets_of(variant: str) -> str:
    return ", ".join(t.name for t in TARGETS.values() if t.variant == variant)


def _profiles(profiles: tuple[str, ...], variants: dict[str, Variant], int8_on_cpu: bool) -> dict[str, Profile]:
    """The manifest's ``profiles``: each requested target's variant (fp32 when its own was not shipped).

    A bundle that ships int8 always records the ``cpu`` profile too, since whether int8 is the CPU choice
    (the speed gate) must be written down for ``variant="auto"``.
    """
    names = list(profiles) + (["cpu"] if "int8" in variants and "cpu" not in profiles else [])
    out = {}
    for name in names:
        target = TARGETS[name]
        usable = target.variant in variants and (name != "cpu" or int8_on_cpu)
        if usable:
            out[name] = Profile(variant=target.variant, providers=target.providers, notes=target.notes)
        else:
            why = "slower than fp32 on the exporting CPU" if name == "cpu" and "int8" in variants else "not shipped, see notes"
            out[name] = Profile(variant="fp32", providers=target.providers, notes=f"fp32: {target.variant} {why}")
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` embedding arrays: ``(N,) float64``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1) + 1e-12)


def _validation_folder(ckpt: dict, opts: ExportOptions) -> ImageFolder:
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


def _calibration_images(ckpt: dict, opts: ExportOptions, preprocess: Preprocess, rng: np.random.Generator) -> np.ndarray:
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


@torch.no_grad()
def _parity(encoder: torch.nn.Module, onnx_path: Path, images: np.ndarray) -> float:
    ref = encoder(torch.from_numpy(images)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: images})[0]
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
    return float(cos.min())


def _speedup(tmp: Path, variants: dict[str, Variant], images: np.ndarray | dict[str, np.ndarray], rounds: int = 7) -> float:
    """fp32 time / int8 time for one batch of 64, interleaved rounds, medians (robust to a noisy CPU).

    ``images``: image inputs (resized to a batch of 64), or a ready feed of 64 items (token inputs).
    """
    feed = images if isinstance(images, dict) else {INPUT_NAME: np.ascontiguousarray(np.resize(images, (64, *images.shape[1:])))}
    sessions = {
        n: ort.InferenceSession(
            str(tmp / variants[n].file), providers=["CPUExecutionProvider"], disabled_optimizers=variants[n].disabled_optimizers
        )
        for n in ("fp32", "int8")
    }
    times: dict[str, list[float]] = {n: [] for n in sessions}
    for s in sessions.values():
        s.run(None, feed)  # warm-up
    reps = 3
    for _ in range(rounds):
        for n, s in sessions.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                s.run(None, feed)
            times[n].append(time.perf_counter() - t0)
    return float(np.median(times["fp32"]) / np.median(times["int8"]))


def _preprocess_dict(p: Preprocess) -> dict:
    return {
        "size": list(p.size),
        "channels": p.channels,
        "resample": p.resample,
        "scale": p.scale,
        "mean": list(p.mean),
        "std": list(p.std),
    }


def _manifest(
    variants: dict[str, Variant],
    metric: str,
    dim: int,
    mcfg: dict,
    preprocess: Preprocess,
    default: str,
    validation: dict,
    provenance: dict,
    notes: list[str],
    profiles: dict[str, Profile] | None = None,
) -> Manifest:
    return Manifest(
        embedding_dim=dim,
        metric=metric,
        normalized=bool(mcfg["normalize"]),
        input_name=INPUT_NAME,
        preprocess=preprocess,
        variants=dict(variants),
        heads={"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"},
        files={n: "" for n in [v.file for v in variants.values()] + ["head.pairwise.onnx", "head.matrix.onnx"]},
        default_variant=default,
        validation=validation,
        provenance=provenance,
        notes=tuple(notes),
        profiles=dict(profiles or {}),
    )


def _write_manifest(root: Path, manifest: Manifest) -> None:
    """Hash the files the manifest lists and write ``manifest.json`` atomically."""
    files = {name: sha256_file(root / name) for name in manifest.files}
    d = manifest.to_dict()
    d["files"] = files
    write_text_atomic(root / MANIFEST, json.dumps(d, indent=2, allow_nan=False) + "\n")


def _data_ref(ckpt: dict, opts: ExportOptions) -> str:
    if opts.validation is not None:
        return str(opts.validation)
    root = ckpt["data"]["root"]
    return root if root == EMBEDDED else str(Path(root))


def _member(ckpt: dict, sha256: str) -> dict:
    """What ``provenance.ensemble`` records of one member."""
    return {"arch": ckpt["model"]["arch"], "epochs": ckpt.get("epoch"), "checkpoint_sha256": sha256}


def _provenance(ckpt: dict, ckpt_path: Path) -> dict:
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
