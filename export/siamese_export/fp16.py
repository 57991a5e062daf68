"""Compatibility alias: moved to siamese_export.onnx.fp16."""

from .onnx.fp16 import KEEP_FP32, convert_fp16, toposort  # noqa: F401
