"""siamese-sdk runtime: load an exported bundle and embed, compare and verify with ONNX Runtime.

Needs only numpy, onnxruntime and Pillow: never torch or onnx.

    >>> import siamese_sdk
    >>> model = siamese_sdk.load("bundle/")            # int8 on CPU when the bundle ships it
    >>> emb = model.embed(["a.png", "b.png"])            # (2, D) float32
    >>> model.verify(["a.png"], ["b.png"]).same          # array([ True])
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from .errors import BundleError, ExtraMissingError, GalleryError, InputError, ProviderError, SiameseError
from .format.manifest import Manifest, read_manifest
from .providers import install_problem as _install_problem
from .runtime.model import SiameseModel, Verification, load

if TYPE_CHECKING:
    from .gallery import Gallery

__version__ = "0.1.0"

# A broken ONNX Runtime install (two builds overwriting one module) is reported at import, with its fix;
# ``load`` refuses to run on it (``ProviderError``), and ``siamese doctor`` still can.
if (_problem := _install_problem()) is not None:
    warnings.warn(_problem, RuntimeWarning, stacklevel=2)


def __getattr__(name: str) -> Any:
    # ``Gallery`` is imported on first use: its zip/atomic-write imports are not needed to load and embed (cold start)
    if name == "Gallery":
        from .gallery import Gallery

        return Gallery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BundleError",
    "ExtraMissingError",
    "Gallery",
    "GalleryError",
    "InputError",
    "Manifest",
    "ProviderError",
    "SiameseError",
    "SiameseModel",
    "Verification",
    "__version__",
    "load",
    "read_manifest",
]
