"""ONNX Runtime execution providers: friendly names, checked options, presets, strictness, install checks.

``onnxruntime``, ``onnxruntime-gpu`` (and the other ORT builds) all install the same Python module
``onnxruntime``; with two of them installed, whichever was installed last silently wins, file by file.
``check_install`` refuses that mix with the one-line fix. An extra can add a package but never remove a
base dependency, so siamese-sdk comes as one distribution per build, the same code (``FLAVOURS``, built by
``scripts/build_dist.py``, as fastembed / fastembed-gpu do): ``siamese-sdk`` needs ``onnxruntime``,
``siamese-sdk-gpu`` needs ``onnxruntime-gpu``, and so on. Install exactly one of them.

Options given with a friendly name (``("cuda", {"device_id": 1})``) are checked against ``OPTION_SPECS``
and converted to the strings ONNX Runtime parses; with ONNX Runtime's own name
(``("CUDAExecutionProvider", {...})``) they pass through unchecked, for options not listed here.
``apply_presets`` fills in what a bundle implies (TensorRT precision flags, engine cache and shape
profiles; CoreML's MLProgram format; QNN's HTP backend; OpenVINO's model cache); the caller's
options always win.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import ExtraMissingError, ProviderError

#: friendly name -> ONNX Runtime provider name.
ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "qnn": "QNNExecutionProvider",
    "directml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
}
#: PyPI distributions that each ship the ``onnxruntime`` module.
ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-openvino",
    "onnxruntime-directml",
    "onnxruntime-qnn",
    "onnxruntime-silicon",
    "onnxruntime-rocm",
    "onnxruntime-training",
)

ProviderSpec = str | tuple[str, dict[str, Any]]

#: ONNX Runtime provider -> the one PyPI build that has it (CoreML ships in the standard macOS wheel).
BUILD_OF_PROVIDER = {
    "CUDAExecutionProvider": "onnxruntime-gpu",
    "TensorrtExecutionProvider": "onnxruntime-gpu",
    "OpenVINOExecutionProvider": "onnxruntime-openvino",
    "QNNExecutionProvider": "onnxruntime-qnn",
    "DmlExecutionProvider": "onnxruntime-directml",
    "CoreMLExecutionProvider": "onnxruntime",
}

#: siamese-sdk distribution -> the one ONNX Runtime build it depends on (same code; README "Deploying on GPU / edge").
FLAVOURS = {
    "siamese-sdk": "onnxruntime",
    "siamese-sdk-gpu": "onnxruntime-gpu",
    "siamese-sdk-openvino": "onnxruntime-openvino",
    "siamese-sdk-qnn": "onnxruntime-qnn",
    "siamese-sdk-directml": "onnxruntime-directml",
}

INSTALL_HINT = (
    "install exactly one siamese-sdk distribution, which brings its ONNX Runtime build: pip install siamese-sdk "
    "(CPU; CoreML on macOS), siamese-sdk-gpu (CUDA, TensorRT), siamese-sdk-openvino, siamese-sdk-qnn or siamese-sdk-directml"
)


def import_onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, after ``check_install``; ``ExtraMissingError`` naming the extras when absent."""
    check_install()
    try:
        import onnxruntime
    except ImportError as e:
        raise ExtraMissingError(f"onnxruntime cannot be imported ({e}); {INSTALL_HINT}") from None
    return onnxruntime


def _installed(names: Sequence[str]) -> list[str]:
    import importlib.metadata

    found = []
    for name in names:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def installed_ort_distributions() -> list[str]:
    """Names of the installed distributions that provide the ``onnxruntime`` module."""
    return _installed(ORT_DISTRIBUTIONS)


def installed_flavours() -> list[str]:
    """Names of the installed siamese-sdk distributions (``FLAVOURS``)."""
    return _installed(list(FLAVOURS))


def _metadata_names(names: Sequence[str]) -> set[str]:
    """Which of ``names`` have a ``*.dist-info`` / ``*.egg-info`` / ``*.egg`` entry in a ``sys.path`` folder.

    A directory listing, no metadata parsing: it sees every distribution ``importlib.metadata`` finds in
    those folders (an upper bound), so the import-time check need not import ``importlib.metadata`` (and
    its ``email``/``zipfile`` dependencies, 20-50 ms) when at most one ONNX Runtime build can be installed.
    """
    wanted = {_normalize(n) for n in names}
    found: set[str] = set()
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:  # a zip or a missing folder: no native onnxruntime build lives there
            continue
        for entry in entries:
            meta = _METADATA_ENTRY.match(entry)
            if meta and _normalize(meta["name"]) in wanted:
                found.add(_normalize(meta["name"]))
    return found


#: ``<name>[-<version>...].dist-info`` / ``.egg-info`` / ``.egg``: a distribution's metadata in a sys.path folder
_METADATA_ENTRY = re.compile(r"^(?P<name>.+?)(-\d.*)?\.(dist-info|egg-info|egg)$", re.IGNORECASE)


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it (``onnxruntime-gpu`` == ``onnxruntime_gpu``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def install_problem() -> str | None:
    """The one-line description and fix of a broken ONNX Runtime install (several builds), or None."""
    if len(_metadata_names(ORT_DISTRIBUTIONS)) < 2:
        return None  # at most one build's metadata on sys.path: nothing can clash
    dists = installed_ort_distributions()
    if len(dists) > 1:
        return (
            f"conflicting onnxruntime builds installed together: {', '.join(dists)}; they overwrite each other's files. "
            f"Fix: {fix_command(dists)} (keep one build: each includes the CPU provider)"
        )
    return None


def check_install() -> None:
    """Raise ``ProviderError`` when more than one onnxruntime build is installed (they clobber each other)."""
    problem = install_problem()
    if problem:
        raise ProviderError(problem)


def swap_command(build: str) -> str:
    """The command that leaves ``build`` as the only intact ONNX Runtime build, with its siamese-sdk flavour.

    Every installed build is uninstalled first (uninstalling one breaks the shared module of the others);
    a siamese-sdk flavour that depends on another build is swapped for ``build``'s, so that a later
    ``pip install -U`` cannot bring the other build back.
    """
    flavour = {b: f for f, b in FLAVOURS.items()}.get(build)
    stale = [f for f in installed_flavours() if FLAVOURS[f] != build]
    remove = stale + [d for d in installed_ort_distributions() if d not in stale]
    install = flavour if stale and flavour else build
    return f"{'pip uninstall -y ' + ' '.join(remove) + ' && ' if remove else ''}pip install {install}"


def fix_command(dists: Sequence[str]) -> str:
    """The exact command that leaves one intact build out of ``dists`` (the accelerator build, if any)."""
    return swap_command(next((d for d in dists if d != "onnxruntime"), dists[0]))


def resolve(providers: Sequence[ProviderSpec] | str | None) -> list[tuple[str, dict[str, Any]]]:
    """Map friendly names to ONNX Runtime names, check they are available, check and convert options.

    ``None`` means CPU. Raises ``ProviderError`` naming the available providers when one is missing, and
    naming the allowed keys when a friendly provider gets an unknown or ill-typed option.
    """
    ort = import_onnxruntime()

    if providers is None:
        providers = ["cpu"]
    if isinstance(providers, str):
        providers = [providers]
    if len(providers) == 0:
        raise ProviderError("providers is empty; pass e.g. ['cpu'] or ['cuda', 'cpu']")
    available = ort.get_available_providers()
    out = []
    for spec in providers:
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
            name, options = spec[0], dict(spec[1])
        else:
            raise ProviderError(f"provider spec {spec!r} invalid; pass a name like 'cuda' or a (name, options dict) pair")
        full = ALIASES.get(str(name).lower(), name)
        if full not in ALIASES.values() and full not in available:
            raise ProviderError(f"provider {name!r} unknown; use one of {sorted(ALIASES)} or an ONNX Runtime provider name")
        if full not in available:
            raise ProviderError(f"provider {full} is not available in this onnxruntime; available: {available}{build_hint(full)}")
        if str(name).lower() in ALIASES:
            options = check_options(str(name).lower(), options)
        out.append((full, options))
    return out


def build_hint(provider: str) -> str:
    """`` (install ...)`` naming the build that has ``provider`` and how to swap to it; empty when unknown."""
    build = BUILD_OF_PROVIDER.get(provider)
    if build is None:
        return ""
    if provider == "CoreMLExecutionProvider":
        return " (CoreML is in the standard onnxruntime wheel on macOS only)"
    if build in installed_ort_distributions():
        return ""
    return f" (it is in the {build} build; switch to it: {swap_command(build)})"


# ---- options --------------------------------------------------------------------------------------
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


# ---- presets: what the bundle implies for a provider ---------------------------------------------------------
#: batch sizes a TensorRT engine is built for when ``load`` gets no ``batch_sizes``: min 1, opt = max = 64.
DEFAULT_BATCH_SIZES = (1, 64)


@dataclass(frozen=True)
class SessionContext:
    """What presets need to know about the encoder being loaded.

    Attributes:
        fingerprint: the encoder file's id (``Manifest.fingerprint``): the cache folder key.
        variant: the variant being loaded (``fp16`` turns on TensorRT fp16, ``int8`` TensorRT int8).
        input_name: the encoder input's name.
        input_chw: ``(C, H, W)`` of one image input; None for token inputs (no TensorRT shape profile is set).
        batch_sizes: batch sizes to build TensorRT shape profiles for (min, opt = max).
        fixed_batch: the variant's fixed batch (static shapes need no profile), or None.
    """

    fingerprint: str
    variant: str
    input_name: str
    input_chw: tuple[int, int, int] | None
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    fixed_batch: int | None = None


def apply_presets(requested: list[tuple[str, dict[str, Any]]], ctx: SessionContext) -> list[tuple[str, dict[str, Any]]]:
    """``requested`` with each provider's presets added under the caller's own options (the caller wins)."""
    out = []
    for name, options in requested:
        preset = _preset(name, ctx)
        if name == "QNNExecutionProvider" and "backend_type" in options:
            preset.pop("backend_path")  # newer ORT: backend_type and backend_path are exclusive
        out.append((name, {**preset, **options}))
    return out


def _preset(name: str, ctx: SessionContext) -> dict[str, str]:
    if name == "TensorrtExecutionProvider":
        return tensorrt_preset(ctx)
    if name == "CoreMLExecutionProvider":
        return {"ModelFormat": "MLProgram"}  # fp16 and the newer ops need ML Program (ORT >= 1.20)
    if name == "QNNExecutionProvider":
        return {"backend_path": "QnnHtp.dll" if sys.platform == "win32" else "libQnnHtp.so"}
    if name == "OpenVINOExecutionProvider":
        from .cachedir import user_cache_dir

        return {"cache_dir": str(user_cache_dir("openvino", f"{ctx.fingerprint}-{_ort_version()}"))}
    return {}


def tensorrt_preset(ctx: SessionContext) -> dict[str, str]:
    """TensorRT options for ``ctx``: precision from the variant, engine + timing cache, batch shape profile.

    Engines are cached under the user cache dir, keyed by the encoder fingerprint, the onnxruntime and
    TensorRT versions and the batch range (TensorRT engines are tied to all of them and to the GPU,
    which ORT encodes in the engine's file name). Batch sizes outside ``[min, max]`` would force a
    rebuild, so ``SiameseModel.embed`` never sends a chunk larger than ``max(batch_sizes)``.
    """
    from .cachedir import user_cache_dir

    lo, hi = (ctx.fixed_batch, ctx.fixed_batch) if ctx.fixed_batch else (min(ctx.batch_sizes), max(ctx.batch_sizes))
    engines = user_cache_dir("tensorrt", ctx.fingerprint, f"ort{_ort_version()}-trt{_trt_version()}-b{lo}-{hi}")
    opts = {
        "trt_fp16_enable": "True" if ctx.variant.startswith("fp16") else "False",
        "trt_int8_enable": "True" if ctx.variant == "int8" else "False",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(engines),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(user_cache_dir("tensorrt", "timing")),
    }
    if ctx.fixed_batch is None and ctx.input_chw is not None:
        c, h, w = ctx.input_chw
        shape = lambda b: f"{ctx.input_name}:{b}x{c}x{h}x{w}"  # noqa: E731
        opts.update(trt_profile_min_shapes=shape(lo), trt_profile_opt_shapes=shape(hi), trt_profile_max_shapes=shape(hi))
    return opts


def _ort_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(next(iter(installed_ort_distributions()), "onnxruntime"))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _trt_version() -> str:
    import importlib.metadata

    for dist in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt-cu12-libs", "tensorrt-cu13-libs"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(dist)
    return "system"


def preload_cuda_libraries(requested: list[tuple[str, dict[str, Any]]]) -> None:
    """Load CUDA/cuDNN from pip's nvidia-* wheels (``onnxruntime-gpu[cuda,cudnn]``) when those are installed.

    ``onnxruntime.preload_dlls`` (onnxruntime-gpu >= 1.21) is what ORT documents for that case; with CUDA
    and cuDNN installed system-wide (or by torch) this is a no-op. Never raises: a failure shows up as the
    provider not initialising, which ``check_no_fallback`` reports.
    """
    if not any(n in ("CUDAExecutionProvider", "TensorrtExecutionProvider") for n, _ in requested):
        return
    import importlib.metadata

    if not any((d.metadata["Name"] or "").lower().startswith("nvidia-cudnn") for d in importlib.metadata.distributions()):
        return
    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
            ort.preload_dlls()


def check_no_fallback(requested: list[tuple[str, dict[str, Any]]], active: list[str]) -> None:
    """Raise when a requested provider is not active in the created session (ORT fell back silently)."""
    lost = [name for name, _ in requested if name not in active]
    if lost:
        raise ProviderError(
            f"{', '.join(lost)} requested but the session runs on {active}; check the driver/CUDA install (siamese doctor)"
        )
