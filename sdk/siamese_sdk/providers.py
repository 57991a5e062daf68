"""ONNX Runtime execution providers: friendly names, availability, strictness, and a broken-install check.

``onnxruntime``, ``onnxruntime-gpu`` (and the other ORT builds) all install the same Python module
``onnxruntime``; with two of them installed, whichever was installed last silently wins, file by file.
``check_install`` refuses that mix with the one-line fix.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from typing import Any

from .errors import ProviderError

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


def installed_ort_distributions() -> list[str]:
    """Names of the installed distributions that provide the ``onnxruntime`` module."""
    found = []
    for name in ORT_DISTRIBUTIONS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_install() -> None:
    """Raise ``ProviderError`` when more than one onnxruntime build is installed (they clobber each other)."""
    dists = installed_ort_distributions()
    if len(dists) > 1:
        keep = next((d for d in dists if d != "onnxruntime"), dists[0])
        raise ProviderError(
            f"conflicting onnxruntime builds installed together: {', '.join(dists)}; they overwrite each other's files. "
            f"Fix: pip uninstall -y {' '.join(dists)} && pip install {keep}"
        )


def resolve(providers: Sequence[ProviderSpec] | str | None) -> list[tuple[str, dict[str, Any]]]:
    """Map friendly names to ONNX Runtime names, check they are available, keep per-provider options.

    ``None`` means CPU. Raises ``ProviderError`` naming the available providers when one is missing.
    """
    import onnxruntime as ort

    if providers is None:
        providers = ["cpu"]
    if isinstance(providers, str):
        providers = [providers]
    if len(providers) == 0:
        raise ProviderError("providers is empty; pass e.g. ['cpu'] or ['cuda', 'cpu']")
    available = ort.get_available_providers()
    out = []
    for spec in providers:
        name, options = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
        full = ALIASES.get(str(name).lower(), name)
        if full not in ALIASES.values() and full not in available:
            raise ProviderError(f"provider {name!r} unknown; use one of {sorted(ALIASES)} or an ONNX Runtime provider name")
        if full not in available:
            hint = (
                " (for CUDA: pip uninstall -y onnxruntime && pip install onnxruntime-gpu)"
                if full in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
                else ""
            )
            raise ProviderError(f"provider {full} is not available in this onnxruntime; available: {available}{hint}")
        out.append((full, options))
    return out


def check_no_fallback(requested: list[tuple[str, dict[str, Any]]], active: list[str]) -> None:
    """Raise when a requested provider is not active in the created session (ORT fell back silently)."""
    lost = [name for name, _ in requested if name not in active]
    if lost:
        raise ProviderError(
            f"{', '.join(lost)} requested but the session runs on {active}; check the driver/CUDA install (siamese doctor)"
        )
