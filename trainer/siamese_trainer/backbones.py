"""Compatibility alias: moved to siamese_trainer.models.backbones."""

from .models.backbones import (  # noqa: F401
    CLASSIFIER_ATTRS,
    BackboneError,
    UserBackbone,
    is_factory_spec,
    load_weights,
    remove_classifier,
    resolve_factory,
)
