"""Compatibility alias: moved to siamese_trainer.models.text_encoders."""

from .models.text_encoders import TEXT_ARCHS, DialogSiamese, TextEncoder, TextSiamese  # noqa: F401
