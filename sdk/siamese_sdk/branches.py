"""Compatibility alias: moved to siamese_sdk.format.manifest (``Branch``, ``BRANCHES``; the checks are ``Manifest``'s)."""

from .format.manifest import BRANCHES, Branch  # noqa: F401
