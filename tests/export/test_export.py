"""siamese-export: parity, thresholds measured through the SDK, atomic bundles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import InputError
from siamese_sdk.eval import metrics
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.tools.imagefolder import ImageFolder

pytest.importorskip("torch")
from siamese_export.gates import INT8_MAX_AUC_DROP  # noqa: E402
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402


def test_manifest_records_gates_and_provenance(bundle, trained_run):
    m = read_manifest(bundle)
    assert m.validation["parity_min_cosine"] >= 0.9999
    assert m.provenance["arch"] == "convnet4" and m.provenance["opset"] == 18 and m.provenance["checkpoint_sha256"]
    if "int8" in m.variants:
        assert m.default_variant == "int8"
        q = m.variants["int8"].quantization
        assert q["format"] == "QDQ" and q["per_channel"] is True
        assert m.variants["fp32"].metrics["auc"] - m.variants["int8"].metrics["auc"] <= INT8_MAX_AUC_DROP
    else:
        assert any("int8 not shipped" in n for n in m.notes)


def test_thresholds_reproduce_from_the_sdk(bundle, tiny_data, trained_run):
    """Recompute each variant's metrics from scratch with the SDK on the validation classes."""
    import json

    split = json.loads((trained_run / "split.json").read_text())
    folder = ImageFolder.scan(tiny_data, classes=split["val"])
    for variant in read_manifest(bundle).variants:
        model = siamese_sdk.load(bundle, variant=variant)
        e = model.embed(folder.paths)
        i, j, same = metrics.all_pairs(folder.labels)
        got, thresholds = metrics.summarize(model.distance_matrix(e, e)[i, j], same)
        stored = model.manifest.variants[variant]
        assert got["auc"] == pytest.approx(stored.metrics["auc"], abs=1e-6)
        for k, t in thresholds.items():
            assert t == pytest.approx(stored.thresholds[k], abs=1e-5)


def test_failure_leaves_previous_bundle_untouched(bundle, trained_run, tmp_path):
    out = tmp_path / "b"
    export_bundle(trained_run / "model.pt", out, ExportOptions(int8=False, log=lambda s: None))
    before = read_manifest(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no images"):
        export_bundle(trained_run / "model.pt", out, ExportOptions(calibration=empty, log=lambda s: None))
    assert read_manifest(out) == before  # hashes verified again: complete and unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "empty"]  # no temp dirs left behind


def test_no_int8_and_missing_training_data(trained_run, tmp_path):
    out = export_bundle(trained_run / "model.pt", tmp_path / "fp32only", ExportOptions(int8=False, log=lambda s: None))
    m = read_manifest(out)
    assert list(m.variants) == ["fp32"] and siamese_sdk.load(out).variant == "fp32"


@pytest.mark.slow
def test_kill_9_during_export_never_leaves_a_partial_bundle(trained_run, tmp_path):
    """SIGKILL at several points of an export: the bundle path is absent or a complete, verified bundle."""
    out = tmp_path / "bundle"
    for delay in (1.0, 2.5, 4.0):
        proc = subprocess.Popen(
            [sys.executable, "-m", "siamese_export.cli", str(trained_run / "model.pt"), "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if out.exists():
            read_manifest(out)  # raises if partial or mixed
    files = np.array([p.name for p in out.iterdir()]) if out.exists() else np.array([])
    assert all(not f.endswith(".tmp") for f in files)


def test_triplet_cosine_normalized_model_exports_int8(tiny_data, tmp_path):
    """L2-normalised encoders (triplet default) and the cosine head go through export and quantisation."""
    from siamese_trainer.train import TrainConfig, train

    run = tmp_path / "run"
    cfg = TrainConfig(
        data=str(tiny_data),
        out=str(run),
        loss="triplet",
        metric="cosine",
        epochs=1,
        p=4,
        k=4,
        batches_per_epoch=2,
        embedding_dim=8,
        val_fraction=0.34,
    )
    train(cfg, log=lambda s: None, progress=False)
    out = export_bundle(run / "model.pt", run / "bundle", ExportOptions(log=lambda s: None))
    m = read_manifest(out)
    assert m.metric == "cosine" and m.normalized
    assert not any("quantisation failed" in n for n in m.notes), m.notes
    model = siamese_sdk.load(out, variant="fp32")
    e = model.embed(sorted(tiny_data.rglob("*.png"))[:4])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    cos = 1.0 - (e[:2] * e[2:]).sum(1)
    np.testing.assert_allclose(model.distance(e[:2], e[2:]), cos, atol=1e-5)
    for op in ("eer", "far_1e-2", "far_1e-3"):
        assert 0.0 <= m.variants["fp32"].thresholds[op] <= 2.0


def test_int8_keeps_the_thin_stem_fp32_and_ships_no_stack_traces(bundle, tmp_path):
    import onnx
    from siamese_export.onnx.quantize import quantize_encoder

    fp32 = onnx.load(str(bundle / "encoder.fp32.onnx"))
    assert not any(n.metadata_props for n in fp32.graph.node), "exporter stack traces left in the shipped graph"
    stem = next(n for n in fp32.graph.node if n.op_type == "Conv")
    calib = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
    info = quantize_encoder(bundle / "encoder.fp32.onnx", tmp_path / "int8.onnx", "images", calib)
    assert info["fp32_nodes"] == [stem.name] and info["session"] == {"disabled_optimizers": ["QDQPropagationTransformer"]}
    int8 = onnx.load(str(tmp_path / "int8.onnx"))
    produced_by = {o: n.op_type for n in int8.graph.node for o in n.output}
    convs = [n for n in int8.graph.node if n.op_type == "Conv"]
    weight_sources = [produced_by.get(c.input[1], "initializer") for c in convs]
    assert weight_sources[0] == "initializer" and set(weight_sources[1:]) == {"DequantizeLinear"}
    # compacted: short value names, no value_info, no all-zero zero-points of constants
    assert not int8.graph.value_info and all(t.name.startswith("v") for t in int8.graph.initializer)
    consts = {t.name for t in int8.graph.initializer}
    bias_dq = [n for n in int8.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts and len(n.input) == 3]
    assert all(onnx.numpy_helper.to_array(next(t for t in int8.graph.initializer if t.name == n.input[2])).any() for n in bias_dq)
    # ... no default-valued attributes, unused opset domains or torch.export metadata on the inputs/outputs
    assert not any(a.name in ("group", "auto_pad", "dilations", "strides") for c in convs for a in c.attribute)
    assert {o.domain for o in int8.opset_import} <= {"", "ai.onnx"}
    assert not any(v.metadata_props for v in (*int8.graph.input, *int8.graph.output))
    assert read_manifest(bundle).variants["fp32"].disabled_optimizers == []


def test_int8_weight_bits_7_keep_the_integer_kernels_exact(bundle, tmp_path):
    """``weight_bits=7``: every quantised weight in [-64, 64], so two uint8 x int8 products never exceed the int16
    that x86 kernels without VNNI add them in (2 x 255 x 64 <= 32767); 8-bit weights do; recorded in the manifest."""
    import onnx
    from siamese_export.onnx.quantize import quantize_encoder

    calib = np.random.default_rng(0).standard_normal((16, 1, 28, 28)).astype(np.float32)
    peaks = {}
    for bits in (8, 7):
        info = quantize_encoder(bundle / "encoder.fp32.onnx", tmp_path / f"w{bits}.onnx", "images", calib, weight_bits=bits)
        assert info.get("weight_bits", 8) == bits and ("weight_bits" in info) == (bits == 7)  # 8: the key as before
        weights = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / f"w{bits}.onnx")).graph.initializer]
        peaks[bits] = max(int(np.abs(w.astype(np.int32)).max()) for w in weights if w.dtype == np.int8 and w.ndim == 4)
    assert peaks[7] <= 64 and 2 * 255 * peaks[7] <= 32767 < 2 * 255 * peaks[8]
    with pytest.raises(ValueError, match="int8 weight bits 6 invalid"):
        quantize_encoder(bundle / "encoder.fp32.onnx", tmp_path / "w6.onnx", "images", calib, weight_bits=6)


def test_compact_changes_bytes_not_results(bundle, tmp_path):
    """``quantize.compact`` on a real graph (the fp32 encoder: default attributes, torch.export metadata, long
    names): smaller file, bit-identical outputs."""
    import shutil

    import onnxruntime as ort
    from siamese_export.onnx.quantize import compact

    src = bundle / "encoder.fp32.onnx"
    small = shutil.copy(src, tmp_path / "compact.onnx")
    compact(small)
    assert small.stat().st_size < src.stat().st_size
    x = np.random.default_rng(0).standard_normal((5, 1, 28, 28)).astype(np.float32)
    out = [ort.InferenceSession(str(f), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0] for f in (src, small)]
    np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("kind", ["pairwise", "matrix"])
def test_heads_carry_only_the_constants_they_use(metric, kind):
    from siamese_export.onnx.graphs import build_head

    graph = build_head(metric, kind, 8).graph
    used = {i for n in graph.node for i in n.input}
    consts = [n.output[0] for n in graph.node if n.op_type == "Constant"]
    assert consts and all(c in used for c in consts), consts
