"""The package's exceptions: one small tree, each also a matching built-in.

Every message is one line that names the problem and the fix, so the CLIs can print it as-is.

- ``SiameseError``: base of everything raised on purpose.
- ``BundleError`` (``ValueError``): a bundle, manifest, gallery or checkpoint that is missing, malformed,
  tampered with, or from an unsupported format version.
- ``GalleryError`` (a ``BundleError``): a gallery file that is missing, truncated, malformed, oversized,
  compressed, sealed with another key or built by another model.
- ``InputError`` (``ValueError``): bad data handed to the API: wrong rank, shape or dtype, NaN/Inf, empty
  batch, unreadable image.
- ``ProviderError`` (``RuntimeError``): an execution provider that is unknown, not installed, or that fell
  back to another one; a broken onnxruntime install.
- ``ExtraMissingError`` (``ImportError``): a command needs an optional extra that is not installed.
- ``StoreError`` (``RuntimeError``): a gallery store (a vector database) that cannot be reached or refuses.
"""

from __future__ import annotations


class SiameseError(Exception):
    """Base class of every error this package raises on purpose."""


class BundleError(SiameseError, ValueError):
    """A bundle or other artefact is missing, malformed, tampered with or unsupported."""


class GalleryError(BundleError):
    """A gallery file is missing, malformed, tampered with, unsupported or from another model."""


class InputError(SiameseError, ValueError):
    """Input data has the wrong rank, shape, dtype or values, or cannot be read."""


class ProviderError(SiameseError, RuntimeError):
    """An ONNX Runtime execution provider is unknown, unavailable or fell back."""


class ExtraMissingError(SiameseError, ImportError):
    """An optional dependency group (pip extra) is needed but not installed."""


def require_extra(module: str, extra: str = "train") -> None:
    """Raise ``ExtraMissingError`` in one line, naming ``extra``'s install command, when ``module`` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        # torch is installed first, in the build the machine needs (CPU/CUDA/ROCm): the README says how
        how = "(torch: see the README)" if extra == "train" else f"(from a checkout: pip install '.[{extra}]')"
        raise ExtraMissingError(
            f"this command needs {module}, which is not installed; install the extra: pip install 'siamese-sdk[{extra}]' {how}"
        )


class StoreError(SiameseError, RuntimeError):
    """A gallery store (a vector database) cannot be reached or refused an operation."""
