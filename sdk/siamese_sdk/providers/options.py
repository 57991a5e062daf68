"""The provider option schema: options given with a friendly name are checked and converted to ORT's strings.

Options given with a friendly name (``("cuda", {"device_id": 1})``) are checked against ``OPTION_SPECS``
and converted to the strings ONNX Runtime parses; with ONNX Runtime's own name
(``("CUDAExecutionProvider", {...})``) they pass through unchecked, for options not listed here.
"""

from __future__ import annotations

from typing import Any

from ..errors import ProviderError

# kinds: "int" (>= 0), "bool" (ORT parses True/False), "flag" (CoreML/QNN parse 1/0), "str", or a tuple of choices
_CUDA_COMMON: dict[str, Any] = {
    "device_id": "int",
    "gpu_mem_limit": "int",
    "arena_extend_strategy": ("kNextPowerOfTwo", "kSameAsRequested"),
}
#: friendly provider -> allowed option keys and their kinds.
OPTION_SPECS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "cuda": {
        **_CUDA_COMMON,
        "cudnn_conv_algo_search": ("EXHAUSTIVE", "HEURISTIC", "DEFAULT"),
        "cudnn_conv_use_max_workspace": "bool",
        "do_copy_in_default_stream": "bool",
        "use_tf32": "bool",
    },
    "tensorrt": {
        "device_id": "int",
        "trt_fp16_enable": "bool",
        "trt_int8_enable": "bool",
        "trt_engine_cache_enable": "bool",
        "trt_engine_cache_path": "str",
        "trt_timing_cache_enable": "bool",
        "trt_timing_cache_path": "str",
        "trt_max_workspace_size": "int",
        "trt_builder_optimization_level": ("0", "1", "2", "3", "4", "5"),
        "trt_profile_min_shapes": "str",
        "trt_profile_opt_shapes": "str",
        "trt_profile_max_shapes": "str",
        "trt_dla_enable": "bool",
        "trt_dla_core": "int",
    },
    "openvino": {
        "device_type": "str",
        "precision": ("FP32", "FP16", "ACCURACY"),
        "num_of_threads": "int",
        "num_streams": "int",
        "cache_dir": "str",
    },
    "coreml": {
        "ModelFormat": ("MLProgram", "NeuralNetwork"),
        "MLComputeUnits": ("ALL", "CPUAndNeuralEngine", "CPUAndGPU", "CPUOnly"),
        "RequireStaticInputShapes": "flag",
        "EnableOnSubgraphs": "flag",
        "SpecializationStrategy": ("Default", "FastPrediction"),
        "AllowLowPrecisionAccumulationOnGPU": "flag",
    },
    "qnn": {
        "backend_path": "str",
        "backend_type": ("htp", "cpu", "gpu", "saver"),
        "device_id": "int",
        "htp_performance_mode": (
            "burst",
            "balanced",
            "default",
            "high_performance",
            "high_power_saver",
            "low_balanced",
            "low_power_saver",
            "power_saver",
            "sustained_high_performance",
        ),
        "htp_graph_finalization_optimization_mode": ("0", "1", "2", "3"),
        "soc_model": "str",
        "htp_arch": "str",
        "enable_htp_fp16_precision": "flag",
        "profiling_level": ("off", "basic", "detailed"),
    },
    "directml": {"device_id": "int"},
    "rocm": dict(_CUDA_COMMON),
}

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def check_options(provider: str, options: dict[str, Any]) -> dict[str, str]:
    """Check ``options`` of friendly ``provider`` against ``OPTION_SPECS``; return them as ORT's strings.

    Raises ``ProviderError`` in one line naming the allowed keys (unknown key) or the expected value.
    """
    spec = OPTION_SPECS.get(provider, {})
    out: dict[str, str] = {}
    for key, value in options.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise ProviderError(
                f"{provider} option {key!r} unknown; allowed: {allowed} (or pass ONNX Runtime's full provider name to give options unchecked)"
            )
        out[key] = _convert(provider, key, value, spec[key])
    return out


def _convert(provider: str, key: str, value: Any, kind: Any) -> str:
    where = f"{provider} option {key}={value!r}"
    if kind in ("bool", "flag"):
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE + _FALSE:
            on = value if isinstance(value, bool) else text in _TRUE
            return ("True" if on else "False") if kind == "bool" else ("1" if on else "0")
        raise ProviderError(f"{where} invalid; expected True or False")
    if kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
            raise ProviderError(f"{where} invalid; expected an integer >= 0")
        if int(value) < 0:
            raise ProviderError(f"{where} invalid; expected an integer >= 0")
        return str(int(value))
    if kind == "str":
        if not isinstance(value, (str, bytes)) and not hasattr(value, "__fspath__"):
            raise ProviderError(f"{where} invalid; expected a string")
        return str(value if not hasattr(value, "__fspath__") else value.__fspath__())
    choices = tuple(kind)
    if str(value) not in choices:
        raise ProviderError(f"{where} invalid; expected one of {list(choices)}")
    return str(value)


def cuda(
    device_id: int = 0,
    gpu_mem_limit: int | None = None,
    arena_extend_strategy: str | None = None,
    cudnn_conv_algo_search: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A checked CUDA provider spec for ``load(providers=[...])``.

    Args:
        device_id: GPU index (``nvidia-smi`` order unless ``CUDA_VISIBLE_DEVICES`` remaps it).
        gpu_mem_limit: cap of the memory arena in bytes (None: no cap).
        arena_extend_strategy: ``"kNextPowerOfTwo"`` (ORT default, fewer allocations) or
            ``"kSameAsRequested"`` (tighter memory, for a shared GPU).
        cudnn_conv_algo_search: ``"EXHAUSTIVE"`` (ORT default: benchmark once, fastest), ``"HEURISTIC"``
            (faster session start) or ``"DEFAULT"``.
    """
    opts: dict[str, Any] = {"device_id": device_id}
    for k, v in (
        ("gpu_mem_limit", gpu_mem_limit),
        ("arena_extend_strategy", arena_extend_strategy),
        ("cudnn_conv_algo_search", cudnn_conv_algo_search),
    ):
        if v is not None:
            opts[k] = v
    return ("cuda", check_options("cuda", opts))
