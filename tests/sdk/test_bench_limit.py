"""siamese bench --limit, --torch-mode and --openvino-python: the limit probe's graphs compute what they say, the
multiply-adds are the convolutions' own, shares lie in (0, 1], and competitors that cannot run are skipped."""

from __future__ import annotations

import json
import sys

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.runtime.encoder import cpu_run_items
from siamese_sdk.tools import bench, limit


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


def test_limit_and_skipped_competitors_in_the_json(bundle, tmp_path):
    out = tmp_path / "b.json"
    args = ["bench", str(bundle), "--runs", "5", "--batch", "1", "--threads", "1", "--limit", "--json", str(out)]
    args += ["--openvino-python", str(tmp_path / "no-such-python")]
    r = CliRunner().invoke(siamese, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(out.read_text())
    lim = rep["limit"]
    assert lim["int8_gop_s"] > 0 and lim["fp32_gop_s"] > 0 and lim["macs_per_item"] > 0
    assert all(set(layer["gop_s"]) == {"MatMulInteger", "QLinearMatMul", "MatMul"} for layer in lim["layers"])
    for name, v in rep["variants"].items():
        assert v["gop_s"] > 0 and v["share_of_limit"] > 0
        # int8 against the int8 GEMMs is a bound; fp32 is not for a 1-channel stem, where ONNX Runtime's NCHWc
        # direct convolution beats a plain MatMul at K = 9 (docs/results/cpu-limit.md)
        assert name != "int8" or v["share_of_limit"] <= 1
    assert "no-such-python" in rep["ort_openvino"]["skipped"]
    assert not any("openvino" in k for k in rep["ratios"])
    assert "share of limit" in r.output and "ort openvino | - | - | - | skipped" in r.output


def test_openvino_skipped_where_the_build_has_no_openvino(bundle):
    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has OpenVINO")
    rep, _ = bench.run(bundle, ["fp32"], threads=1, batches=(1,), runs=5, openvino_python=sys.executable)
    assert "no OpenVINOExecutionProvider" in rep["ort_openvino"]["skipped"]


def test_torch_competitors(bundle, trained_run):
    pytest.importorskip("torch")
    rep, _ = bench.run(
        bundle, ["fp32"], threads=1, batches=(1,), runs=5, torch_checkpoint=trained_run / "model.pt",
        torch_modes=("eager", "x86-int8"),
    )  # fmt: skip
    assert rep["torch_eager"]["throughput_b64_per_s"] > 0 and "torch_compile" not in rep
    x86 = rep["torch_x86_int8"]
    try:
        import torchao  # noqa: F401
    except ImportError:
        assert "torchao" in x86["skipped"] and "fp32_over_torch_x86_int8_throughput_b64" not in rep["ratios"]
    else:
        assert x86["throughput_b64_per_s"] > 0 and rep["ratios"]["fp32_over_torch_x86_int8_throughput_b64"] > 0
    assert "torch x86 int8" in bench.markdown(rep)


def test_bad_torch_mode(bundle):
    r = CliRunner().invoke(siamese, ["bench", str(bundle), "--torch-mode", "eager,jit"])
    assert r.exit_code == 1 and "--torch-mode" in r.output and "Traceback" not in r.output


def test_cpu_run_items():
    from siamese_sdk.format.inputs import ImageInput, Preprocess

    def spec(channels: int, px: int) -> ImageInput:
        return ImageInput("images", Preprocess(size=(px, px), channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels))

    cpu = ["CPUExecutionProvider"]
    assert cpu_run_items(spec(1, 28), cpu, None) == 8  # 8192 values // 784 = 10 -> 8
    assert cpu_run_items(spec(3, 105), cpu, None) is None  # bigger than half the budget: run as asked
    assert cpu_run_items(spec(1, 28), ["CUDAExecutionProvider", *cpu], None) is None
    assert cpu_run_items(spec(1, 28), cpu, 4) is None  # a fixed batch keeps its runs
