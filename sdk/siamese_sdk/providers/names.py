"""Provider names: friendly names to ONNX Runtime's, checked against this build; strictness after session creation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ProviderError
from .install import build_hint, import_onnxruntime
from .options import check_options

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

ProviderSpec = str | tuple[str, dict[str, Any]]


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


def check_no_fallback(requested: list[tuple[str, dict[str, Any]]], active: list[str]) -> None:
    """Raise when a requested provider is not active in the created session (ORT fell back silently)."""
    lost = [name for name, _ in requested if name not in active]
    if lost:
        raise ProviderError(
            f"{', '.join(lost)} requested but the session runs on {active}; check the driver/CUDA install (siamese doctor)"
        )
