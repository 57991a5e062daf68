"""Export of a pseudo-Siamese checkpoint: one encoder ONNX per branch per variant, ``format_version`` 2.

Per branch (``a``, ``b``): ``encoder.<branch>.fp32.onnx`` with the parity gate against torch on that
branch's validation images, and ``encoder.<branch>.int8.onnx`` (static QDQ, calibrated on that branch's
training images). A variant is measured with both branches running it, on all **cross-branch** pairs of
the validation classes (branch a's images against branch b's): its thresholds and metrics are the
bundle's, and it ships only if the AUC drops by at most ``MAX_AUC_DROP`` against fp32; int8 is the cpu
choice only if it is not slower than fp32 on either branch. Only the ``cpu`` profile is built for these
bundles; a learned head is not supported with two branches yet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from siamese_sdk import load as sdk_load
from siamese_sdk import metrics
from siamese_sdk.atomic import atomic_directory
from siamese_sdk.branches import BRANCHES, Branch
from siamese_sdk.bundle import HEADS, Manifest, Variant
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.inputs import ImageInput
from siamese_sdk.preprocess import to_batch
from siamese_trainer.backbones import BackboneError

from . import exporter as ex
from .onnx_graphs import INPUT_NAME, build_head, bundle_metadata, export_encoder, set_metadata
from .quantize import quantize_encoder


def _branch_ckpt(ckpt: dict, name: str) -> dict:
    """The checkpoint as seen by one branch: its model, preprocessing, weights and data root."""
    if name == "a":
        return ckpt
    b = ckpt["branches"][name]
    return {**ckpt, "model": b["model"], "preprocess": b["preprocess"], "state_dict": b["state_dict"],
            "data": {**ckpt["data"], "root": b["data_root"]}}  # fmt: skip


def export_pseudo_bundle(ckpt: dict, ckpt_path: Path, out: Path, opts: ex.ExportOptions, profiles: tuple[str, ...]) -> Path:
    """Write the two-branch bundle of ``ckpt`` to ``out`` (see the module docstring); returns ``out``."""
    log = opts.log
    if tuple(profiles) != ("cpu",):
        raise InputError(f"pseudo-Siamese bundles are built for --profile cpu only for now, got {list(profiles)}; drop --profile")
    if opts.calibration is not None or opts.validation is not None:
        raise InputError("pseudo-Siamese export reads both branches' folders from the checkpoint; drop --calibration/--validation")
    rng = np.random.default_rng(opts.seed)
    parts: dict[str, dict] = {}
    try:
        for name in BRANCHES:
            bc = _branch_ckpt(ckpt, name)
            folder = ex._validation_folder(bc, opts)
            if len(folder) > opts.max_validation_images:
                folder = folder.take(np.sort(rng.choice(len(folder), opts.max_validation_images, replace=False)))
            pre = ex.preprocess_from(bc["preprocess"])
            parts[name] = {"ckpt": bc, "pre": pre, "encoder": ex.encoder_from(bc["model"], bc["state_dict"]), "folder": folder}
    except BackboneError as e:
        raise BundleError(f"{ckpt_path}: {e}") from None
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        raise BundleError(f"{ckpt_path} lacks or mismatches what export needs ({type(e).__name__}: {str(e)[:120]}); re-train") from None
    metric, dim, normalized = str(ckpt["model"]["metric"]), int(ckpt["model"]["embedding_dim"]), bool(ckpt["model"]["normalize"])
    if metric not in ("euclidean", "cosine"):
        raise BundleError(f"{ckpt_path}: pseudo-Siamese bundles take the euclidean or cosine head, not {metric!r}")
    if parts["a"]["folder"].classes != parts["b"]["folder"].classes:
        raise InputError("branch a and b validation folders hold different classes; both need every validation class")
    for name, part in parts.items():
        part["images"] = to_batch(part["folder"].paths, part["pre"])
        log(f"validation branch {name}: {len(part['folder'].classes)} unseen classes, {len(part['folder'])} images from {part['folder'].root}")

    with atomic_directory(out) as tmp:
        log("[1/5] exporting each branch's encoder to ONNX (fp32) and checking parity with torch")
        files: dict[str, dict[str, Variant]] = {name: {} for name in BRANCHES}
        parity: dict[str, float] = {}
        for name, part in parts.items():
            file = f"encoder.{name}.fp32.onnx"
            export_encoder(part["encoder"], part["pre"].shape, tmp / file)
            parity[name] = ex._parity(part["encoder"], tmp / file, part["images"][:256])
            if parity[name] < ex.PARITY_MIN_COSINE:
                raise BundleError(f"branch {name}: ONNX fp32 embeddings differ from torch (min cosine {parity[name]:.6f}); report this")
            files[name]["fp32"] = Variant(file=file)
            log(f"      branch {name} parity: min cosine similarity ONNX vs torch = {parity[name]:.7f}")
        for kind in HEADS:
            onnx.save(build_head(metric, kind, dim), str(tmp / f"head.{kind}.onnx"))
        notes: list[str] = []
        if opts.int8:
            log("[2/5] int8 per branch: static QDQ, per-channel, calibrating on that branch's training images")
            try:
                for name, part in parts.items():
                    calib = ex._calibration_images(part["ckpt"], opts, part["pre"], rng)
                    file = f"encoder.{name}.int8.onnx"
                    q = quantize_encoder(tmp / files[name]["fp32"].file, tmp / file, INPUT_NAME, calib)
                    files[name]["int8"] = Variant(file=file, quantization=q)
            except InputError:
                raise
            except Exception as e:  # the quantiser raises untyped errors on graphs it cannot handle
                for name in BRANCHES:
                    if "int8" in files[name]:
                        (tmp / files[name].pop("int8").file).unlink(missing_ok=True)
                notes.append(f"int8 not shipped: quantisation failed ({type(e).__name__}: {str(e)[:120]})")
        else:
            notes.append("int8 not built (--no-int8)")
        names = [v for v in ("fp32", "int8") if all(v in files[b] for b in BRANCHES)]

        def manifest(variants: dict[str, Variant], default: str, validation: dict, provenance: dict, profs: dict) -> Manifest:
            branches = {
                b: Branch(ImageInput(INPUT_NAME, parts[b]["pre"]), {v: files[b][v] for v in variants}) for b in BRANCHES
            }
            listed = [f.file for b in BRANCHES for v, f in files[b].items() if v in variants] + [f"head.{k}.onnx" for k in HEADS]
            return Manifest(
                embedding_dim=dim, metric=metric, normalized=normalized, input_name="", preprocess=None, variants=variants,
                heads={k: f"head.{k}.onnx" for k in HEADS}, files=dict.fromkeys(listed, ""), default_variant=default,
                validation=validation, provenance=provenance, notes=tuple(notes), profiles=profs, branches=branches,
            )  # fmt: skip

        log("[3/5] measuring each variant through the SDK on all cross-branch validation pairs (a x b)")
        variants = {v: Variant(file="") for v in names}
        la, lb = parts["a"]["folder"].labels, parts["b"]["folder"].labels
        same = (la[:, None] == lb[None, :]).ravel()
        embs: dict[str, dict[str, np.ndarray]] = {}
        results: dict[str, dict] = {}
        for v in names:
            ex._write_manifest(tmp, manifest({k: variants[k] for k in names}, "fp32", {}, {}, {}))
            model = sdk_load(tmp, variant=v, threads=None)
            embs[v] = {b: model.embed(parts[b]["images"], batch_size=128, branch=b) for b in BRANCHES}
            m, t = metrics.summarize(model.distance_matrix(embs[v]["a"], embs[v]["b"]).ravel(), same, model.manifest.higher_is_closer)
            if v != "fp32":
                for b in BRANCHES:
                    cos = ex._cosine(embs["fp32"][b], embs[v][b])
                    files[b][v] = Variant(files[b][v].file, files[b][v].quantization,
                                          metrics={"cosine_vs_fp32_min": float(cos.min()), "cosine_vs_fp32_mean": float(cos.mean())})  # fmt: skip
                m.update(cosine_vs_fp32_min=min(files[b][v].metrics["cosine_vs_fp32_min"] for b in BRANCHES))
            variants[v] = Variant(file="", thresholds=t, metrics=m)
            results[v] = m
            log(f"      {v}: cross-branch AUC {m['auc']:.4f}  EER {m['eer']:.4f}  TAR@FAR1e-3 {m['tar_at_far_1e-3']:.4f}")

        log(f"[4/5] gating: AUC drop <= {ex.MAX_AUC_DROP}; int8 also not slower than fp32 on either branch")
        int8_on_cpu = False
        if "int8" in variants:
            drop = results["fp32"]["auc"] - results["int8"]["auc"]
            speed = {b: ex._speedup(tmp, files[b], parts[b]["images"]) for b in BRANCHES}
            for b in BRANCHES:
                files[b]["int8"].metrics["speedup_vs_fp32_b64"] = speed[b]
            variants["int8"].metrics["speedup_vs_fp32_b64"] = min(speed.values())
            variants["fp32"].metrics["speedup_vs_fp32_b64"] = 1.0
            why = ""
            if drop > ex.MAX_AUC_DROP:
                why = f"validation AUC drop {drop:.4f} > {ex.MAX_AUC_DROP}"
            elif min(speed.values()) < ex.INT8_MIN_SPEEDUP:
                why = "slower than fp32 on this CPU (" + ", ".join(f"{b} {s:.2f}x" for b, s in speed.items()) + ")"
            if why:
                notes.append(f"int8 not shipped: {why}")
                log(f"      {notes[-1]}")
                variants.pop("int8")
                for b in BRANCHES:
                    (tmp / files[b].pop("int8").file).unlink()
            else:
                int8_on_cpu = True
                log(f"      int8 ships: AUC drop {drop:+.4f}, " + ", ".join(f"branch {b} {s:.2f}x" for b, s in speed.items()) + " fp32 speed")
        chosen = ex._profiles(("cpu",), variants, int8_on_cpu)
        default = chosen["cpu"].variant

        log("[5/5] writing manifest and metadata")
        validation = {
            "classes": len(parts["a"]["folder"].classes),
            "images": {b: len(parts[b]["folder"]) for b in BRANCHES},
            "pairs": int(len(la) * len(lb)),
            "pairs_kind": "cross-branch (a x b)",
            "source": {b: ex._data_ref(parts[b]["ckpt"], opts) for b in BRANCHES},
            "parity_min_cosine": min(parity.values()),
            "parity_min_cosine_per_branch": parity,
        }
        provenance = {**ex._provenance(ckpt, ckpt_path), "arch_b": ckpt["branches"]["b"]["model"]["arch"]}
        for b in BRANCHES:
            for v, f in files[b].items():
                if v in variants:
                    props = bundle_metadata(
                        dim, metric, normalized, variants[v].thresholds,
                        branch=b, input_name=INPUT_NAME, preprocess=ex._preprocess_dict(parts[b]["pre"]),
                    )  # fmt: skip
                    set_metadata(tmp / f.file, props)
        ex._write_manifest(tmp, manifest(variants, default, validation, provenance, chosen))
    log(f"bundle written: {out}")
    return out
