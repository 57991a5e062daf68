"""Compatibility alias: moved to siamese_export.onnx.dynamic."""

from .onnx.dynamic import OP_TYPES, quantize_dynamic_encoder  # noqa: F401
