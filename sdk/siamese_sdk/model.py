"""Compatibility alias: moved to siamese_sdk.runtime.model."""

from .runtime.model import Inputs, SiameseModel, Verification, check_embeddings, load  # noqa: F401
