"""ONNX Runtime execution providers: install checks, friendly names, checked options, presets, CUDA preloading.

- ``install``: a broken install (several ORT builds), ``install_problem``, ``import_onnxruntime``, the fix commands;
- ``names``: friendly names (``"cuda"``) to ONNX Runtime's, ``resolve``, and ``check_no_fallback`` (strictness);
- ``options``: the option schema (``OPTION_SPECS``, ``check_options``, ``cuda(...)``);
- ``presets``: what a bundle implies per provider (``apply_presets``, TensorRT engine cache and shape profiles);
- ``preload``: CUDA/cuDNN from pip's nvidia-* wheels.

Every name is re-exported here: ``siamese_sdk.providers.resolve`` and friends keep working.
"""

from __future__ import annotations

from .install import (
    BUILD_OF_PROVIDER,
    FLAVOURS,
    INSTALL_HINT,
    ORT_DISTRIBUTIONS,
    build_hint,
    check_install,
    fix_command,
    import_onnxruntime,
    install_problem,
    installed_flavours,
    installed_ort_distributions,
    swap_command,
)
from .names import ALIASES, ProviderSpec, check_no_fallback, resolve
from .options import OPTION_SPECS, check_options, cuda
from .preload import preload_cuda_libraries
from .presets import DEFAULT_BATCH_SIZES, SessionContext, apply_presets, tensorrt_preset

__all__ = [
    "ALIASES",
    "BUILD_OF_PROVIDER",
    "DEFAULT_BATCH_SIZES",
    "FLAVOURS",
    "INSTALL_HINT",
    "OPTION_SPECS",
    "ORT_DISTRIBUTIONS",
    "ProviderSpec",
    "SessionContext",
    "apply_presets",
    "build_hint",
    "check_install",
    "check_no_fallback",
    "check_options",
    "cuda",
    "fix_command",
    "import_onnxruntime",
    "install_problem",
    "installed_flavours",
    "installed_ort_distributions",
    "preload_cuda_libraries",
    "resolve",
    "swap_command",
    "tensorrt_preset",
]
