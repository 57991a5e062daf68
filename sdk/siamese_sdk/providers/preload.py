"""CUDA preloading: CUDA/cuDNN from pip's nvidia-* wheels, before a CUDA or TensorRT session is created."""

from __future__ import annotations

import contextlib
import io
from typing import Any


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
