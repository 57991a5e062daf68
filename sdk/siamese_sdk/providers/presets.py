"""Presets: what a bundle implies for a provider, added under the caller's own options (the caller wins).

TensorRT precision flags, engine cache and shape profiles; CoreML's MLProgram format; QNN's HTP backend;
OpenVINO's model cache.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Any

from .install import installed_ort_distributions

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
        from ..cachedir import user_cache_dir

        return {"cache_dir": str(user_cache_dir("openvino", f"{ctx.fingerprint}-{_ort_version()}"))}
    return {}


def tensorrt_preset(ctx: SessionContext) -> dict[str, str]:
    """TensorRT options for ``ctx``: precision from the variant, engine + timing cache, batch shape profile.

    Engines are cached under the user cache dir, keyed by the encoder fingerprint, the onnxruntime and
    TensorRT versions and the batch range (TensorRT engines are tied to all of them and to the GPU,
    which ORT encodes in the engine's file name). Batch sizes outside ``[min, max]`` would force a
    rebuild, so ``SiameseModel.embed`` never sends a chunk larger than ``max(batch_sizes)``.
    """
    from ..cachedir import user_cache_dir

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
