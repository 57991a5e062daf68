"""siamese-export: turn a ``siamese-train`` checkpoint into a deployable bundle.

Needs the ``train`` extra (torch, onnx). Modules:

- ``onnx_graphs``: the encoder through ``torch.onnx.export`` and the distance heads built with onnx.helper;
- ``quantize``: static QDQ int8, per-channel, calibrated on training images;
- ``exporter``: the whole export (parity gate, calibration, int8 gate, thresholds, atomic bundle);
- ``cli``: ``siamese-export``.
"""
