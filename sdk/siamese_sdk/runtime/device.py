"""Embedding batches that already sit on a device (ORT IOBinding): OrtValues, DLPack and CUDA-array tensors.

For GPU pipelines (decoder -> encoder -> GPU index) without host round trips; ``SiameseModel.embed_device``
documents the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import onnxruntime as ort

    from .encoder import EncoderRunner

#: DLPack device types (dlpack.h): where a ``__dlpack__`` tensor lives.
_DLPACK_CPU, _DLPACK_CUDA = 1, 2


def device_of(enc: EncoderRunner) -> tuple[str, int]:
    """``(device_type, device_id)`` where ``enc`` keeps ``embed_device`` outputs: ``("cuda", i)`` when CUDA or
    TensorRT runs it, else ``("cpu", 0)`` (OpenVINO, CoreML, QNN take and return host memory)."""
    first = enc.providers[0]
    if first in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
        options = enc.session.get_provider_options().get(first, {})
        return ("cuda", int(options.get("device_id", 0) or 0))
    return ("cpu", 0)


def embed_device(ort_module: Any, enc: EncoderRunner, x: Any) -> ort.OrtValue:
    """One run of ``enc`` on ``x`` (``(N, C, H, W) float32``, preprocessed) bound in place; output ``(N, D)`` on the device."""
    spec = enc.image_input("embed_device takes image batches; this is a {kind} bundle: use embed()")
    dev, dev_id = device_of(enc)
    io = enc.session.io_binding()
    keep: list[Any] = []  # whatever the binding points into stays referenced until the run returns
    if not isinstance(x, (np.ndarray, ort_module.OrtValue)) and hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
        kind = int(x.__dlpack_device__()[0])
        if kind == _DLPACK_CPU:
            x = np.from_dlpack(x)
        elif kind == _DLPACK_CUDA and hasattr(ort_module.OrtValue, "from_dlpack"):
            _require_cuda_session(enc, dev)
            x = ort_module.OrtValue.from_dlpack(x)
    if isinstance(x, np.ndarray):
        x = spec.check_array(x)
        _check_batch(enc, x.shape[0])
        value = ort_module.OrtValue.ortvalue_from_numpy(x, dev, dev_id)
        keep += [x, value]
        io.bind_ortvalue_input(enc.input_name, value)
    elif isinstance(x, ort_module.OrtValue):
        _check_shape(enc, list(x.shape()), x.data_type())
        keep.append(x)
        io.bind_ortvalue_input(enc.input_name, x)
    elif hasattr(x, "__cuda_array_interface__"):
        _require_cuda_session(enc, dev)
        cai = x.__cuda_array_interface__
        shape = [int(d) for d in cai["shape"]]
        _check_shape(enc, shape, "tensor(float)" if cai.get("typestr") == "<f4" else str(cai.get("typestr")))
        if cai.get("strides") not in (None, tuple(int(np.prod(shape[i + 1 :])) * 4 for i in range(len(shape)))):
            raise InputError("embed_device needs a C-contiguous CUDA array; call .contiguous() / cupy.ascontiguousarray first")
        keep.append(x)
        io.bind_input(enc.input_name, "cuda", dev_id, np.float32, shape, int(cai["data"][0]))
    else:
        raise InputError(
            f"embed_device takes an OrtValue, a DLPack or CUDA-array tensor, or a numpy array, got {type(x).__name__}; "
            "use embed() for image paths"
        )
    io.bind_output(enc.output_name, dev, dev_id)
    io.synchronize_inputs()
    enc.session.run_with_iobinding(io)
    io.synchronize_outputs()
    return io.get_outputs()[0]


def _require_cuda_session(enc: EncoderRunner, dev: str) -> None:
    if dev != "cuda":
        raise InputError(
            f"input is on a CUDA device but the encoder runs on {enc.providers[0]}; load with providers=['cuda'] or pass host memory"
        )


def _check_shape(enc: EncoderRunner, shape: list[int], dtype: str) -> None:
    want = enc.preprocess_spec().shape
    if dtype != "tensor(float)":
        raise InputError(f"embed_device expects float32 inputs, got {dtype}; convert on the device first (x.float())")
    if len(shape) != 4 or tuple(shape[1:]) != want or shape[0] < 1:
        raise InputError(f"embed_device expects shape (N, {want[0]}, {want[1]}, {want[2]}) with N >= 1, got {tuple(shape)}")
    _check_batch(enc, shape[0])


def _check_batch(enc: EncoderRunner, n: int) -> None:
    if enc.fixed_batch is not None and n != enc.fixed_batch:
        raise InputError(
            f"variant {enc.variant} runs exactly {enc.fixed_batch} input(s) per call, got {n}; use embed() (it pads) or a dynamic variant"
        )
    if enc.max_run is not None and n > enc.max_run:
        raise InputError(f"batch of {n} exceeds the TensorRT profile maximum {enc.max_run}; split it or load with batch_sizes=(1, {n})")
