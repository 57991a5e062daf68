"""Compatibility alias: moved to siamese_export.onnx.learned_head."""

from .onnx.learned_head import HEAD_PARITY_MAX_ABS, build_learned_head, head_parity  # noqa: F401
