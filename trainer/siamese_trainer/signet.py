"""Compatibility alias: moved to siamese_trainer.models.signet."""

from .models.signet import NORMS, SigNet  # noqa: F401
