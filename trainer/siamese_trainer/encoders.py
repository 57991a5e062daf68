"""Compatibility alias: moved to siamese_trainer.models.encoders."""

from .models.encoders import ARCHS, NORMS, ConvNet4, Encoder, KochNet, l2_normalize  # noqa: F401
