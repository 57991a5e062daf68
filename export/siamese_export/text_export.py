"""Compatibility alias: moved to siamese_export.sources.text and siamese_export.onnx.text_graph."""

from .manifest_out import HEAD_FILES as HEADS  # noqa: F401
from .onnx.text_graph import FOLD_LIMIT, export_text_encoder, wire_lengths  # noqa: F401
from .sources.text import TextSource, parity_sequences, text_parity  # noqa: F401
