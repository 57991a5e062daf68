"""Dynamic int8 quantisation for LSTM / linear-heavy encoders (the text and dialog kinds).

``onnxruntime.quantization.quantize_dynamic``: weights are stored int8 (symmetric, per tensor); activations
are quantised at run time, per batch, from their observed range, so no calibration set is needed. The LSTM
node becomes ``DynamicQuantizeLSTM`` (a ``com.microsoft`` op the CPU provider runs), MatMul/Gemm become
``MatMulInteger`` with dynamic activation scales, and the token embedding table (Gather) is stored int8.

Static QDQ (``quantize.py``), the CNN choice, would need calibrated activation ranges for every time
step of the recurrence, and ONNX Runtime has no QDQ LSTM kernel: the graph would run in float with
quantise/dequantise around it. Whether dynamic int8 is faster than fp32 depends on the model size and
the CPU, so the exporter gates it on speed like every int8 variant.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

#: op types quantised; Gather is the token embedding table
OP_TYPES = ("LSTM", "MatMul", "Gemm", "Gather")


def quantize_dynamic_encoder(fp32_path: Path, int8_path: Path) -> dict[str, object]:
    """Write the dynamic int8 model of ``fp32_path`` to ``int8_path``; returns the settings for the manifest."""
    logging.getLogger().setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        quantize_dynamic(
            str(fp32_path),
            str(int8_path),
            weight_type=QuantType.QInt8,
            per_channel=False,
            op_types_to_quantize=list(OP_TYPES),
            extra_options={"MatMulConstBOnly": True},
        )
    ops = collections.Counter(n.op_type for n in onnx.load(str(int8_path)).graph.node)
    quantized = sorted(
        op for op in ops if op in ("DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeMatMul") or op.endswith("Integer")
    )
    return {
        "method": "dynamic",
        "weights": "int8",
        "activations": "uint8, range measured per batch at run time",
        "per_channel": False,
        "quantized_ops": quantized,
    }
