"""Compatibility alias: moved to siamese_export.wrappers.ensemble."""

from .wrappers.ensemble import Ensemble, check_members  # noqa: F401
