"""siamese-export: turn a ``siamese-train`` checkpoint into a deployable bundle.

Needs the ``train`` extra (torch, onnx). Modules:

- ``pipeline``: the export, five stages for every model kind (parity, variants, measurement, gates, manifest),
  written atomically; ``export_bundle`` is the entry point;
- ``sources``: what differs per model kind (``image``, ``two_branch``, ``text``): rebuilding the encoders,
  their inputs, the validation pairs and the manifest's input section;
- ``variants``: the table of encoder variants (int8, fp16, fixed-batch, ...) and how each is built;
- ``gates``: the AUC gate, the int8 speed gate and the profile each target gets;
- ``manifest_out``: the manifest and provenance the bundle records;
- ``onnx``: the graphs (encoders, heads, learned head), fp16, static and dynamic quantisation;
- ``wrappers``: test-time augmentation and ensembles baked into the encoder graph;
- ``cli``: ``siamese-export``.

The earlier module paths (``exporter``, ``onnx_graphs``, ``quantize``, ...) keep importing: the table below.
"""

from siamese_sdk._moved import register as _register

_register(
    {
        "siamese_export.exporter": [
            "siamese_export.pipeline",
            "siamese_export.options",
            "siamese_export.gates",
            "siamese_export.manifest_out",
        ],
        "siamese_export.text_export": ["siamese_export.sources.text", "siamese_export.onnx.text_graph"],
        "siamese_export.pseudo": ["siamese_export.sources.two_branch"],
        "siamese_export.onnx_graphs": ["siamese_export.onnx.graphs"],
        "siamese_export.fp16": ["siamese_export.onnx.fp16"],
        "siamese_export.quantize": ["siamese_export.onnx.quantize"],
        "siamese_export.dynamic_quantize": ["siamese_export.onnx.dynamic"],
        "siamese_export.learned_head": ["siamese_export.onnx.learned_head"],
        "siamese_export.tta": ["siamese_export.wrappers.tta"],
        "siamese_export.ensemble": ["siamese_export.wrappers.ensemble"],
    }
)
