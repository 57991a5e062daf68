"""The bundle format: what a bundle holds and how it is written and read, without running anything.

- ``manifest``: ``Manifest`` (``manifest.json``), ``Variant``, ``Profile``, ``Branch``, the format constants,
  ``read_manifest`` / ``write_manifest`` (the one reader and the one writer).
- ``inputs``: the input specs (``ImageInput``, ``TextInput``) and ``Preprocess``, each owning its dict form.
- ``pixels``: image files to ``(N, C, H, W) float32`` batches as ``Preprocess`` says (Pillow on first use).

Nothing here imports ``siamese_sdk.runtime``: the runtime depends on the format, never the reverse.
"""

from .inputs import ImageInput, InputSpec, Preprocess, TextInput
from .manifest import HEADS, Branch, Manifest, Profile, Variant, read_manifest, write_manifest

__all__ = [
    "HEADS",
    "Branch",
    "ImageInput",
    "InputSpec",
    "Manifest",
    "Preprocess",
    "Profile",
    "TextInput",
    "Variant",
    "read_manifest",
    "write_manifest",
]
