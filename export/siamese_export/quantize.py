"""Static int8 quantisation of a CNN encoder: QDQ format, per-channel weights, calibrated on real images.

Activations are uint8 (asymmetric) and weights int8 (symmetric, per output channel): the U8S8 pairing
ONNX Runtime's CPU kernels are fastest with (VNNI on x86, dot-product on ARM).
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process


class _ArrayReader(CalibrationDataReader):
    def __init__(self, input_name: str, images: np.ndarray, batch_size: int):
        self._batches = iter([{input_name: images[i : i + batch_size]} for i in range(0, len(images), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_encoder(
    fp32_path: Path, int8_path: Path, input_name: str, calibration: np.ndarray, batch_size: int = 32
) -> dict[str, object]:
    """Write the int8 QDQ model of ``fp32_path`` to ``int8_path``; returns the settings for the manifest.

    Args:
        calibration: ``(N, C, H, W) float32`` preprocessed images like the training data.
    """
    prepared = int8_path.with_suffix(".prep.onnx")
    logging.getLogger().setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        # ORT's symbolic shape inference cannot type opset-18 ReduceL2 (axes as input); onnx's own inference can.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(int8_path),
            _ArrayReader(input_name, calibration, batch_size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    prepared.unlink(missing_ok=True)
    return {
        "method": "static",
        "format": "QDQ",
        "per_channel": True,
        "activations": "uint8",
        "weights": "int8",
        "calibration": "minmax",
        "calibration_images": int(len(calibration)),
    }
