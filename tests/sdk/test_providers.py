"""Providers: friendly names, checked options, presets (TensorRT cache and shapes), strictness, IOBinding.

GPU tests run only where onnxruntime has the CUDA / TensorRT provider and skip cleanly elsewhere.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import siamese_sdk
from siamese_sdk import InputError, ProviderError, SiameseError
from siamese_sdk import providers as P
from siamese_sdk.cachedir import user_cache_dir

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
HAS_TRT = "TensorrtExecutionProvider" in ort.get_available_providers()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu with a working CUDA device")
needs_trt = pytest.mark.skipif(not HAS_TRT, reason="needs onnxruntime-gpu with TensorRT")


def one_line(e: pytest.ExceptionInfo) -> str:
    assert isinstance(e.value, SiameseError) and "\n" not in str(e.value)
    return str(e.value)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Presets create cache folders: keep them out of the real user cache."""
    monkeypatch.setenv("SIAMESE_SDK_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def cpu_model(bundle):
    return siamese_sdk.load(bundle, variant="fp32")


# ---- names and options ----------------------------------------------------------------------------------
def test_friendly_names_map_and_unknown_or_missing_are_refused():
    assert P.resolve(None) == [("CPUExecutionProvider", {})]
    assert P.resolve("CPU") == [("CPUExecutionProvider", {})]
    assert P.resolve(["CPUExecutionProvider"]) == [("CPUExecutionProvider", {})]
    with pytest.raises(ProviderError) as e:
        P.resolve(["warp-drive"])
    assert "unknown" in one_line(e) and "cuda" in str(e.value)
    with pytest.raises(ProviderError, match="empty"):
        P.resolve([])
    with pytest.raises(ProviderError, match="spec .* invalid"):
        P.resolve([("cuda", "device_id=0")])
    if not HAS_CUDA:
        with pytest.raises(ProviderError) as e:
            P.resolve(["cuda"])
        assert "not available" in one_line(e) and "pip install siamese-sdk-gpu" in str(e.value)
    if "OpenVINOExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ProviderError, match="onnxruntime-openvino"):
            P.resolve(["openvino"])


def test_options_are_checked_and_converted_to_ort_strings():
    assert P.check_options("cuda", {"device_id": 1, "gpu_mem_limit": 2 << 30, "arena_extend_strategy": "kSameAsRequested"}) == {
        "device_id": "1",
        "gpu_mem_limit": str(2 << 30),
        "arena_extend_strategy": "kSameAsRequested",
    }
    assert P.check_options("cuda", {"cudnn_conv_algo_search": "HEURISTIC", "use_tf32": False}) == {
        "cudnn_conv_algo_search": "HEURISTIC",
        "use_tf32": "False",
    }
    # TensorRT's Python binding wants True/False; CoreML's options 1/0
    assert P.check_options("tensorrt", {"trt_fp16_enable": True, "trt_engine_cache_path": Path("/x")}) == {
        "trt_fp16_enable": "True",
        "trt_engine_cache_path": "/x",
    }
    assert P.check_options("coreml", {"RequireStaticInputShapes": True, "MLComputeUnits": "CPUAndNeuralEngine"}) == {
        "RequireStaticInputShapes": "1",
        "MLComputeUnits": "CPUAndNeuralEngine",
    }
    assert (
        P.check_options("qnn", {"enable_htp_fp16_precision": "true", "htp_performance_mode": "burst"})[
            "enable_htp_fp16_precision"
        ]
        == "1"
    )


@pytest.mark.parametrize(
    "provider, options, expect",
    [
        ("cuda", {"devce_id": 0}, "cuda option 'devce_id' unknown; allowed: arena_extend_strategy, cudnn_conv_algo_search"),
        ("cuda", {"device_id": -1}, "expected an integer >= 0"),
        ("cuda", {"device_id": True}, "expected an integer >= 0"),
        ("cuda", {"gpu_mem_limit": "2GB"}, "expected an integer >= 0"),
        ("cuda", {"arena_extend_strategy": "grow"}, "expected one of ['kNextPowerOfTwo', 'kSameAsRequested']"),
        ("cuda", {"cudnn_conv_algo_search": "fast"}, "expected one of ['EXHAUSTIVE', 'HEURISTIC', 'DEFAULT']"),
        ("tensorrt", {"trt_fp16_enable": "maybe"}, "expected True or False"),
        ("tensorrt", {"trt_fp32": 1}, "allowed: device_id, trt_builder_optimization_level"),
        ("coreml", {"MLComputeUnits": "GPU"}, "expected one of ['ALL', 'CPUAndNeuralEngine', 'CPUAndGPU', 'CPUOnly']"),
        ("cpu", {"threads": 2}, "cpu option 'threads' unknown; allowed: none"),
    ],
)
def test_bad_options_name_the_allowed_keys_or_values(provider, options, expect):
    with pytest.raises(ProviderError) as e:
        P.check_options(provider, options)
    assert expect in one_line(e)


def test_friendly_options_are_checked_through_load_but_ort_names_pass_unchecked(bundle):
    with pytest.raises(ProviderError, match="cpu option 'arena' unknown"):
        siamese_sdk.load(bundle, providers=[("cpu", {"arena": "1"})])
    # ONNX Runtime's own name: options go to ORT as given (the escape hatch for keys not listed here)
    assert P.resolve([("CPUExecutionProvider", {"anything": 1})]) == [("CPUExecutionProvider", {"anything": 1})]


def test_cuda_helper_builds_a_checked_spec():
    assert P.cuda(1, gpu_mem_limit=1 << 30, arena_extend_strategy="kSameAsRequested", cudnn_conv_algo_search="HEURISTIC") == (
        "cuda",
        {
            "device_id": "1",
            "gpu_mem_limit": str(1 << 30),
            "arena_extend_strategy": "kSameAsRequested",
            "cudnn_conv_algo_search": "HEURISTIC",
        },
    )
    with pytest.raises(ProviderError, match="arena_extend_strategy"):
        P.cuda(arena_extend_strategy="huge")


# ---- presets ----------------------------------------------------------------------------------------------------
def ctx(**kw) -> P.SessionContext:
    base = dict(fingerprint="abcdef0123456789", variant="fp16", input_name="images", input_chw=(1, 28, 28))
    return P.SessionContext(**{**base, **kw})


def test_tensorrt_preset_flags_cache_and_shape_profile(tmp_path):
    t = P.tensorrt_preset(ctx(batch_sizes=(1, 8, 32)))
    assert t["trt_fp16_enable"] == "True" and t["trt_int8_enable"] == "False"
    assert t["trt_engine_cache_enable"] == "True" and t["trt_timing_cache_enable"] == "True"
    assert (t["trt_profile_min_shapes"], t["trt_profile_opt_shapes"], t["trt_profile_max_shapes"]) == (
        "images:1x1x28x28",
        "images:32x1x28x28",
        "images:32x1x28x28",
    )
    cache = Path(t["trt_engine_cache_path"])
    assert cache.is_dir() and cache.is_relative_to(tmp_path / "cache") and "abcdef0123456789" in cache.parts
    assert cache.name.endswith("-b1-32") and f"ort{ort.__version__}" in cache.name
    assert P.check_options("tensorrt", t) == t  # everything the preset sets is a valid, checked option

    assert P.tensorrt_preset(ctx(variant="int8"))["trt_int8_enable"] == "True"
    assert P.tensorrt_preset(ctx(variant="fp32"))["trt_fp16_enable"] == "False"
    fixed = P.tensorrt_preset(ctx(variant="fp16-fixed", fixed_batch=1))
    assert "trt_profile_min_shapes" not in fixed and fixed["trt_fp16_enable"] == "True"
    assert fixed["trt_engine_cache_path"] != t["trt_engine_cache_path"]


def test_presets_never_override_the_callers_options():
    requested = [("TensorrtExecutionProvider", {"trt_fp16_enable": "False"}), ("CUDAExecutionProvider", {"device_id": "1"})]
    out = dict(P.apply_presets(requested, ctx()))
    assert out["TensorrtExecutionProvider"]["trt_fp16_enable"] == "False"
    assert out["TensorrtExecutionProvider"]["trt_engine_cache_enable"] == "True"
    assert out["CUDAExecutionProvider"] == {"device_id": "1"}
    assert dict(P.apply_presets([("CoreMLExecutionProvider", {})], ctx()))["CoreMLExecutionProvider"] == {
        "ModelFormat": "MLProgram"
    }
    qnn = dict(P.apply_presets([("QNNExecutionProvider", {})], ctx()))["QNNExecutionProvider"]
    assert qnn["backend_path"] in ("libQnnHtp.so", "QnnHtp.dll")
    qnn = dict(P.apply_presets([("QNNExecutionProvider", {"backend_type": "htp"})], ctx()))["QNNExecutionProvider"]
    assert qnn == {"backend_type": "htp"}
    ov = dict(P.apply_presets([("OpenVINOExecutionProvider", {"device_type": "NPU"})], ctx()))["OpenVINOExecutionProvider"]
    assert ov["device_type"] == "NPU" and "abcdef0123456789" in ov["cache_dir"]
    assert P.apply_presets([("CPUExecutionProvider", {})], ctx()) == [("CPUExecutionProvider", {})]


def test_user_cache_dir_follows_the_platform_never_the_temp_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("SIAMESE_SDK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert user_cache_dir("tensorrt", create=False) == tmp_path / "xdg" / "siamese-sdk" / "tensorrt"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert user_cache_dir(create=False) == Path.home() / "Library" / "Caches" / "siamese-sdk"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert user_cache_dir(create=False) == tmp_path / "local" / "siamese-sdk" / "Cache"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert not user_cache_dir(create=False).is_relative_to(tempfile.gettempdir())


# ---- load: batch sizes, device, strictness -------------------------------------------------------------------
def test_batch_sizes_are_validated(bundle):
    m = siamese_sdk.load(bundle, batch_sizes=[64, 1, 8])
    assert m.batch_sizes == (1, 8, 64) and m._max_run is None  # only TensorRT (or a fixed batch) caps a run
    for bad in ([], [0], [1, "8"], [True]):
        with pytest.raises(InputError, match="batch_sizes"):
            siamese_sdk.load(bundle, batch_sizes=bad)


def test_no_silent_fallback_is_reported_with_the_doctor_hint():
    with pytest.raises(ProviderError) as e:
        P.check_no_fallback([("CUDAExecutionProvider", {})], ["CPUExecutionProvider"])
    assert "siamese doctor" in one_line(e)


def test_a_provider_that_cannot_open_the_model_is_a_provider_error_not_a_bad_bundle(bundle, monkeypatch):
    if "AzureExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs a second provider in this build")
    real = ort.InferenceSession

    def refusing(path, sess_options=None, providers=None):  # what a provider with a bad option or driver does
        if any((p if isinstance(p, str) else p[0]) != "CPUExecutionProvider" for p in providers or []):
            raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : provider initialisation failed\nmore detail")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", refusing)
    with pytest.raises(ProviderError) as e:
        siamese_sdk.load(bundle, providers=["AzureExecutionProvider"])
    assert "AzureExecutionProvider could not open encoder." in one_line(e) and "siamese doctor" in str(e.value)


def test_broken_mix_message_has_the_exact_fix(tmp_path, monkeypatch):
    dist = tmp_path / "onnxruntime_gpu-1.99.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.99.0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(ProviderError) as e:
        P.import_onnxruntime()
    assert "Fix: pip uninstall -y siamese-sdk onnxruntime onnxruntime-gpu && pip install siamese-sdk-gpu" in one_line(e)


def test_broken_mix_is_reported_at_import_in_one_line(tmp_path):
    import subprocess

    dist = tmp_path / "onnxruntime_gpu-1.99.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.99.0\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", "import siamese_sdk"], capture_output=True, text=True, env=env)
    assert out.returncode == 0
    warning = [line for line in out.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warning) == 1 and "conflicting onnxruntime builds" in warning[0] and "Fix: pip uninstall -y" in warning[0]
    clean = subprocess.run([sys.executable, "-c", "import siamese_sdk"], capture_output=True, text=True)
    assert clean.returncode == 0 and "RuntimeWarning" not in clean.stderr


def test_without_any_onnxruntime_build_import_works_and_load_names_the_extras(bundle):
    import subprocess

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'onnxruntime': raise ImportError('No module named onnxruntime')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import siamese_sdk\n"
        "try:\n"
        f"    siamese_sdk.load({str(bundle)!r})\n"
        "except siamese_sdk.ExtraMissingError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "pip install siamese-sdk (CPU" in out.stdout and "siamese-sdk-gpu (CUDA, TensorRT)" in out.stdout


# ---- IOBinding (embed_device) on the CPU provider --------------------------------------------------------------
def test_embed_device_on_cpu_matches_embed(cpu_model, tiny_data):
    x = cpu_model.preprocess(sorted(tiny_data.rglob("*.png"))[:5])
    ref = cpu_model.embed(x)
    assert cpu_model.device == ("cpu", 0)
    out = cpu_model.embed_device(x)  # numpy in
    assert isinstance(out, ort.OrtValue) and out.device_name() == "cpu" and list(out.shape()) == [5, cpu_model.embedding_dim]
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(cpu_model.embed_device(ort.OrtValue.ortvalue_from_numpy(x, "cpu", 0)).numpy(), ref)
    np.testing.assert_array_equal(np.from_dlpack(out), ref)  # the output is a DLPack tensor too (torch: tests/e2e)


def test_embed_device_bad_inputs(cpu_model):
    with pytest.raises(InputError, match="expects float32"):
        cpu_model.embed_device(ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1, 28, 28), np.float64)))
    with pytest.raises(InputError, match=r"expects shape \(N, 1, 28, 28\)"):
        cpu_model.embed_device(ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 28, 28, 1), np.float32)))
    with pytest.raises(InputError, match="add the batch axis"):
        cpu_model.embed_device(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(InputError, match="NaN"):
        cpu_model.embed_device(np.full((1, 1, 28, 28), np.nan, np.float32))
    with pytest.raises(InputError, match="embed_device takes"):
        cpu_model.embed_device(["a.png"])

    class FakeCuda:  # a CUDA array (CuPy-like) handed to a CPU model
        __cuda_array_interface__ = {"shape": (1, 1, 28, 28), "typestr": "<f4", "data": (0, False), "version": 3}

    with pytest.raises(InputError, match="on a CUDA device but the encoder runs on CPUExecutionProvider"):
        cpu_model.embed_device(FakeCuda())


# ---- on a GPU ------------------------------------------------------------------------------------------------
@needs_cuda
def test_cuda_load_options_and_device_binding(bundle, tiny_data):
    m = siamese_sdk.load(
        bundle,
        providers=[
            P.cuda(0, gpu_mem_limit=1 << 30, arena_extend_strategy="kSameAsRequested", cudnn_conv_algo_search="HEURISTIC")
        ],
    )
    assert m.providers[0] == "CUDAExecutionProvider" and m.device == ("cuda", 0)
    assert m.variant == ("fp16" if "fp16" in m.manifest.variants else "fp32")
    x = m.preprocess(sorted(tiny_data.rglob("*.png"))[:4])
    ref = siamese_sdk.load(bundle, variant=m.variant).embed(x)
    on_gpu = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
    out = m.embed_device(on_gpu)
    assert out.device_name() == "cuda" and list(out.shape()) == [4, m.embedding_dim]
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-2)
    np.testing.assert_allclose(m.embed_device(x).numpy(), ref, atol=1e-2)  # numpy in, copied to the GPU once
    np.testing.assert_allclose(m.embed(x), ref, atol=1e-2)


@needs_cuda
def test_cuda_dlpack_input_stays_on_the_gpu(bundle, tiny_data):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    m = siamese_sdk.load(bundle, providers=["cuda"])
    x = m.preprocess(sorted(tiny_data.rglob("*.png"))[:4])
    t = torch.from_numpy(x).cuda()
    torch.cuda.synchronize()
    out = m.embed_device(t)
    assert out.device_name() == "cuda"
    np.testing.assert_allclose(torch.from_dlpack(out).cpu().numpy(), m.embed(x), atol=1e-2)


@needs_trt
def test_tensorrt_builds_and_caches_an_engine(bundle, tiny_data, tmp_path):
    m = siamese_sdk.load(bundle, providers=["tensorrt", "cuda"], batch_sizes=(1, 8))
    assert m.providers[0] == "TensorrtExecutionProvider" and m._max_run == 8
    e = m.embed(sorted(tiny_data.rglob("*.png"))[:20])  # runs in chunks of <= 8
    assert e.shape[0] == 20
    assert any((tmp_path / "cache" / "tensorrt").rglob("*.engine"))


@pytest.mark.parametrize(
    ("flavours", "builds", "target", "expected"),
    [
        # the installed siamese-sdk flavour depends on the other build: swap the flavour, or pip -U brings it back
        (
            ["siamese-sdk"],
            ["onnxruntime"],
            "onnxruntime-gpu",
            "pip uninstall -y siamese-sdk onnxruntime && pip install siamese-sdk-gpu",
        ),
        # the flavour already matches (siamese-sdk-gpu with a stray onnxruntime from another package)
        (
            ["siamese-sdk-gpu"],
            ["onnxruntime", "onnxruntime-gpu"],
            "onnxruntime-gpu",
            "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu",
        ),
        # no flavour installed (vendored code): only the builds
        ([], ["onnxruntime"], "onnxruntime-openvino", "pip uninstall -y onnxruntime && pip install onnxruntime-openvino"),
        ([], [], "onnxruntime", "pip install onnxruntime"),
    ],
)
def test_swap_command_keeps_one_build_and_its_flavour(monkeypatch, flavours, builds, target, expected):
    from siamese_sdk.providers import install

    monkeypatch.setattr(install, "installed_flavours", lambda: flavours)
    monkeypatch.setattr(install, "installed_ort_distributions", lambda: builds)
    assert P.swap_command(target) == expected


def test_every_flavour_names_a_known_build():
    assert set(P.FLAVOURS.values()) <= set(P.ORT_DISTRIBUTIONS)
    assert set(P.FLAVOURS.values()) >= {b for b in P.BUILD_OF_PROVIDER.values()}
