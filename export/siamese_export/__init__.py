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
"""
