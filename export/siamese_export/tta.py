"""Compatibility alias: moved to siamese_export.wrappers.tta."""

from .wrappers.tta import SHIFTS, ShiftTTA  # noqa: F401
