"""Compatibility alias: moved to siamese_trainer.models.heads."""

from .models.heads import LearnedHead, PairBCELoss  # noqa: F401
