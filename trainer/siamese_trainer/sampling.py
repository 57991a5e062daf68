"""Compatibility alias: moved to siamese_trainer.data.sampling."""

from .data.sampling import PKSampler  # noqa: F401
