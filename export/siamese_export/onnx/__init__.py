"""The ONNX graphs of a bundle and their conversions.

- ``graphs``: the encoder through ``torch.onnx.export``, fixed-batch copies, the metric heads, metadata;
- ``text_graph``: the BiLSTM text encoder with per-row lengths wired into the ONNX ``LSTM``;
- ``learned_head``: the trained ``p(same)`` head and its parity gate;
- ``fp16``: float16 inside, float32 inputs/outputs;
- ``quantize``: static QDQ int8 (and uint16-activation QDQ for QNN), calibrated;
- ``dynamic``: dynamic int8 for LSTM / linear-heavy encoders.
"""
