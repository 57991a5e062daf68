"""The research tools of ``benchmarks/cpu_limit.py``: the limit probe's graphs compute what they say, the
multiply-adds are the convolutions' own, shares lie in (0, 1], and competitors that cannot run are skipped."""

from __future__ import annotations

import sys

import competitors
import gemm_limit as limit
import numpy as np
import onnxruntime as ort
import pytest
from siamese_sdk import load
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.tools import bench
from siamese_sdk.tools.bench_report import ratios


@pytest.mark.parametrize("op", ["MatMulInteger", "QLinearMatMul", "MatMul"])
def test_probe_graphs_compute_the_gemm(op):
    k, n = 12, 5
    sess = ort.InferenceSession(limit.gemm_model(op, k, n, seed=3), providers=["CPUExecutionProvider"])
    b = np.random.default_rng(3)
    w = b.standard_normal((k, n)) if op == "MatMul" else b.integers(-127, 128, (k, n))
    a = np.random.default_rng(0).integers(0, 256, (7, k), dtype=np.uint8)
    y = sess.run(None, {"A": a.astype(np.float32) if op == "MatMul" else a})[0]
    assert y.shape == (7, n)
    if op == "MatMul":
        np.testing.assert_allclose(y, a.astype(np.float32) @ w.astype(np.float32), rtol=1e-4)
    elif op == "MatMulInteger":
        np.testing.assert_array_equal(y, (a.astype(np.int64) - 128) @ w)
    else:  # requantised: (a - 128) * 0.02 @ w * 0.01 / 0.5 + 128, saturated to uint8
        ref = np.clip(np.rint((a.astype(np.int64) - 128) @ w * (0.02 * 0.01 / 0.5)) + 128, 0, 255)
        assert np.abs(y.astype(np.int64) - ref).max() <= 1


def test_encoder_gemms_count_the_convolutions(bundle):
    m = read_manifest(bundle)
    gemms = limit.encoder_gemms(bundle / m.variants["fp32"].file, tuple(m.preprocess.shape), m.input_name)
    # the test bundle: convnet4 (1 -> 64 -> 64 -> 64 -> 64 channels, 3x3, 28 -> 14 -> 7 -> 3 px) and a 64 -> 16 linear
    assert [(g["op"], g["m"], g["k"], g["n"]) for g in gemms] == [
        ("Conv", 28 * 28, 9, 64),
        ("Conv", 14 * 14, 576, 64),
        ("Conv", 7 * 7, 576, 64),
        ("Conv", 3 * 3, 576, 64),
        ("Gemm", 1, 64, 16),
    ]
    assert sum(g["macs"] for g in gemms) == 28 * 28 * 9 * 64 + (196 + 49 + 9) * 576 * 64 + 64 * 16


def test_limit_probe_and_shares(bundle):
    m = read_manifest(bundle)
    gemms = limit.encoder_gemms(bundle / m.variants["fp32"].file, tuple(m.preprocess.shape), m.input_name)
    lim = limit.probe(gemms, 64, threads=1, runs=2)
    assert lim["int8_gop_s"] > 0 and lim["fp32_gop_s"] > 0 and lim["macs_per_item"] > 0
    assert all(set(layer["gop_s"]) == {"MatMulInteger", "QLinearMatMul", "MatMul"} for layer in lim["layers"])
    for name in m.variants:
        speed = bench.speed(load(bundle, variant=name, threads=1), [64], 5)["throughput_b64_per_s"]
        gop_s, share = limit.share(speed, lim["macs_per_item"], lim["int8_gop_s" if name == "int8" else "fp32_gop_s"])
        assert gop_s > 0 and share > 0
        # int8 against the int8 GEMMs is a bound; fp32 is not for a 1-channel stem, where ONNX Runtime's NCHWc
        # direct convolution beats a plain MatMul at K = 9 (docs/results/cpu-limit.md)
        assert name != "int8" or share <= 1


def test_openvino_skipped_without_an_interpreter(bundle, tmp_path):
    rep = competitors.openvino(bundle, ["fp32"], tmp_path / "no-such-python", 64, 5, 1)
    assert "no-such-python" in rep["skipped"]


def test_openvino_skipped_where_the_build_has_no_openvino(bundle):
    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has OpenVINO")
    rep = competitors.openvino(bundle, ["fp32"], sys.executable, 64, 5, 1)
    assert "no OpenVINOExecutionProvider" in rep["skipped"]


def test_torch_competitors(trained_run):
    pytest.importorskip("torch")
    ckpt = trained_run / "model.pt"
    eager = bench.torch_throughput(ckpt, 64, 5, 1, "eager")
    x86 = bench.torch_throughput(ckpt, 64, 5, 1, competitors.TORCH_MODES["torch_x86_int8"])
    assert eager["throughput_b64_per_s"] > 0
    try:
        import torchao  # noqa: F401
    except ImportError:
        assert "torchao" in x86["skipped"]
    else:
        assert x86["throughput_b64_per_s"] > 0
    rep = {"variants": {"fp32": {"throughput_b64_per_s": 100.0, "size_bytes": 1}}, "torch_eager": eager}
    assert ratios(rep)["fp32_over_torch_throughput_b64"] == pytest.approx(100.0 / eager["throughput_b64_per_s"])
