"""Compatibility alias: moved to siamese_export.onnx.quantize."""

from .onnx.quantize import THIN_INPUT_CHANNELS, compact, quantize_encoder, quantize_w8a16, thin_convs  # noqa: F401
