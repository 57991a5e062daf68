"""Compatibility alias: moved to siamese_export.onnx.graphs."""

from .onnx.graphs import (  # noqa: F401
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    build_head,
    bundle_metadata,
    export_encoder,
    export_module,
    fix_batch,
    set_metadata,
)
