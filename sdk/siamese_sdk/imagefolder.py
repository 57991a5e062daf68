"""Compatibility alias: moved to siamese_sdk.tools.imagefolder."""

from .tools.imagefolder import INDEX_VERSION, ImageFolder, PathTable  # noqa: F401
