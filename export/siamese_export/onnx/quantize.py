"""Static quantisation of a CNN encoder: QDQ format, per-channel weights, calibrated on real images.

``quantize_encoder`` (variant ``int8``): activations uint8 (asymmetric), weights int8 (symmetric, per
output channel): the U8S8 pairing ONNX Runtime's CPU kernels are fastest with (VNNI on x86, dot-product
on ARM), and a QDQ graph OpenVINO compiles to int8.

``weight_bits=7`` (the export default, ``siamese-export --int8-weight-bits 7``) quantises the weights to [-64, 64] (the quantiser's
``reduce_range``): x86 CPUs without VNNI run U8S8 with ``vpmaddubsw``, which adds two uint8 x int8 products
into an int16 and saturates at 32767; 8-bit weights exceed it (2 x 255 x 127), 7-bit weights cannot
(2 x 255 x 64 = 32640). So a 7-bit graph gives the same integers on every x86 CPU, on ARM and in
onnxruntime-web, whereas an 8-bit one differs on CPUs without VNNI (docs/results/browser-parity.md). Measured
on the golden checkpoint: the same AUC (0.8551 both) and speed; 7 is the default since bundles are calibrated on
one CPU and run on others.

Convolutions that read at most ``THIN_INPUT_CHANNELS`` channels (the stem of a grayscale or RGB CNN) stay
fp32: their reduction depth (C x kh x kw, e.g. 9 for a 3x3 grayscale conv) is too short for int8 dot
products to pay off, and quantising raw pixels costs the most accuracy. Measured on the 4-block CNN at 28 px:
its int8 stem took 40 % of the int8 run time, slower than the fp32 stem. With a float stem, ONNX Runtime's
``QDQPropagationTransformer`` moves the stem's output quantisation across ReLU/MaxPool in a way that makes
the whole graph slower than fp32 (0.65x here), so the variant records that optimiser in
``session.disabled_optimizers`` and the SDK opens the session without it (1.47x -> 1.62x over fp32 at
batch 64, min cosine to fp32 0.985 -> 0.997).

``quantize_w8a16`` (variant ``w8a16-fixed``, for QNN): activations uint16, weights int8 per channel, on a
fixed-shape graph, through ``onnxruntime.quantization``'s QNN configuration (``get_qnn_qdq_config``).
16-bit QDQ needs opset 21 or the ``com.microsoft`` Q/DQ ops; the quantiser raises the opset to 21 and
uses the contrib Q/DQ, which the CPU provider also runs (so parity is measured here).
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..options import DEFAULT_INT8_WEIGHT_BITS, check_int8_weight_bits


class _ArrayReader(CalibrationDataReader):
    def __init__(self, input_name: str, images: np.ndarray, batch_size: int):
        self._batches = iter([{input_name: images[i : i + batch_size]} for i in range(0, len(images), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_encoder(
    fp32_path: Path,
    int8_path: Path,
    input_name: str,
    calibration: np.ndarray,
    batch_size: int = 32,
    weight_bits: int = DEFAULT_INT8_WEIGHT_BITS,
) -> dict[str, object]:
    """Write the int8 QDQ model of ``fp32_path`` to ``int8_path``; returns the settings for the manifest.

    Args:
        calibration: ``(N, C, H, W) float32`` preprocessed images like the training data.
        weight_bits: 7 (the default: weights in [-64, 64], the same integers on x86 without VNNI) or 8 ([-127, 127]).
    """
    check_int8_weight_bits(weight_bits)
    prepared = int8_path.with_suffix(".prep.onnx")
    logging.getLogger().setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        # ORT's symbolic shape inference cannot type opset-18 ReduceL2 (axes as input); onnx's own inference can.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        keep_fp32 = thin_convs(onnx.load(str(prepared)))
        quantize_static(
            str(prepared),
            str(int8_path),
            _ArrayReader(input_name, calibration, batch_size),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=keep_fp32,
            reduce_range=weight_bits == 7,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    prepared.unlink(missing_ok=True)
    compact(int8_path)
    session = {"disabled_optimizers": ["QDQPropagationTransformer"]} if keep_fp32 else {}
    return {
        "method": "static",
        "format": "QDQ",
        "per_channel": True,
        "activations": "uint8",
        "weights": "int8",
        **({"weight_bits": 7} if weight_bits == 7 else {}),  # absent: 8 (bundles before the option)
        "calibration": "minmax",
        "calibration_images": int(len(calibration)),
        "fp32_nodes": keep_fp32,  # node names of the fp32 graph (the int8 graph's are compacted)
        "session": session,
    }


THIN_INPUT_CHANNELS = 4


def thin_convs(model: onnx.ModelProto) -> list[str]:
    """Names of the ungrouped Conv nodes whose weight reads at most ``THIN_INPUT_CHANNELS`` input channels."""
    weights = {t.name: t.dims for t in model.graph.initializer}

    def group(node: onnx.NodeProto) -> int:
        return next((a.i for a in node.attribute if a.name == "group"), 1)

    return [
        n.name
        for n in model.graph.node
        if n.op_type == "Conv" and n.input[1] in weights and group(n) == 1 and weights[n.input[1]][1] <= THIN_INPUT_CHANNELS
    ]


def quantize_w8a16(
    fixed_fp32_path: Path, out_path: Path, input_name: str, calibration: np.ndarray, batch: int
) -> dict[str, object]:
    """Write the uint16-activation / int8-weight QDQ model of the fixed-batch fp32 model to ``out_path``.

    Args:
        fixed_fp32_path: the fp32 encoder with its batch axis fixed to ``batch`` (``onnx_graphs.fix_batch``).
        calibration: ``(N, C, H, W) float32`` images; fed ``batch`` at a time (a last partial batch is dropped).
    """
    from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config, qnn_preprocess_model

    usable = (len(calibration) // batch) * batch
    if usable == 0:
        raise ValueError(f"{len(calibration)} calibration images cannot fill one fixed batch of {batch}")
    prepared = out_path.with_suffix(".prep.onnx")
    qnn_ready = out_path.with_suffix(".qnnprep.onnx")
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quant_pre_process(str(fixed_fp32_path), str(prepared), skip_symbolic_shape=True)
            # QNN fusions (LpNormalization, ...); onnxruntime's helper trips over metadata_props, so drop them
            # here (the bundle's metadata is written after quantisation)
            _drop_metadata(prepared)
            source = qnn_ready if qnn_preprocess_model(str(prepared), str(qnn_ready)) else prepared
            config = get_qnn_qdq_config(
                str(source),
                _ArrayReader(input_name, calibration[:usable], batch),
                calibrate_method=CalibrationMethod.MinMax,
                activation_type=QuantType.QUInt16,
                weight_type=QuantType.QInt8,
                per_channel=True,
                weight_symmetric=True,
            )
            quantize(str(source), str(out_path), config)
    finally:
        prepared.unlink(missing_ok=True)
        qnn_ready.unlink(missing_ok=True)
    compact(out_path)
    opset = next((o.version for o in onnx.load(str(out_path)).opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "method": "static",
        "format": "QDQ",
        "per_channel": True,
        "activations": "uint16",
        "weights": "int8",
        "calibration": "minmax",
        "calibration_images": int(usable),
        "opset": opset,
        "qdq_ops": "com.microsoft QuantizeLinear/DequantizeLinear (16-bit)",
        "target": "QNN HTP (Hexagon NPU)",
    }


def compact(path: Path) -> None:
    """Rewrite the quantised model at ``path`` without bytes a device never uses; the computation is unchanged.

    The quantiser names every tensor after its source (``backbone.features.3.0.weight_bias_quantized_zero_point``)
    and spells out all-zero zero-points, which are optional and default to 0: on a small encoder that is ~5 %
    of the file. Values get short names (``v12``), nodes ``<op>_<index>`` (profiles stay readable per op),
    all-zero zero-points of constant inputs are dropped, equal constants (the activations' shared zero-points)
    are stored once, and ``value_info`` (re-inferred at load) is removed. So are bytes that describe rather
    than compute: attributes equal to their schema default, opset imports of domains no node uses, torch.export's
    metadata on the graph inputs/outputs and the pre-processing markers (``onnx.infer``, ``onnx.quant.pre_process``).
    Graph inputs and outputs keep their names.
    """
    from onnx import numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute):
        return  # subgraphs refer to outer names: leave such a model as the quantiser wrote it
    consts = {t.name: t for t in g.initializer}
    for n in g.node:
        if n.op_type == "DequantizeLinear" and len(n.input) == 3 and n.input[0] in consts and n.input[2] in consts:
            zp = numpy_helper.to_array(consts[n.input[2]])
            if not zp.any() and zp.dtype == numpy_helper.to_array(consts[n.input[0]]).dtype:
                del n.input[2]
    _share_equal_constants(g)
    used = {name for n in g.node for name in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    fixed = {v.name for v in (*g.input, *g.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        return name if name == "" or name in fixed else names.setdefault(name, f"v{len(names)}")

    for t in g.initializer:
        t.name = short(t.name)
    opsets = {o.domain or "": o.version for o in model.opset_import}
    for i, n in enumerate(g.node):
        n.input[:] = [short(x) for x in n.input]
        n.output[:] = [short(x) for x in n.output]
        n.name = f"{n.op_type}_{i}"
        n.doc_string = ""
        _drop_default_attributes(n, opsets[n.domain or ""])
    del g.value_info[:]
    for v in (*g.input, *g.output):
        del v.metadata_props[:]
    used_domains = {n.domain or "" for n in g.node} | {""}
    kept_opsets = [o for o in model.opset_import if (o.domain or "") in used_domains]
    del model.opset_import[:]
    model.opset_import.extend(kept_opsets)
    kept_props = [p for p in model.metadata_props if p.key not in ("onnx.infer", "onnx.quant.pre_process")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept_props)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def _share_equal_constants(g: onnx.GraphProto) -> None:
    """Point the inputs that read byte-identical initializers (dtype, shape, values) at the first of them."""
    first: dict[tuple[int, tuple[int, ...], bytes], str] = {}
    alias: dict[str, str] = {}
    graph_inputs = {v.name for v in g.input}
    for t in g.initializer:
        if t.name in graph_inputs:  # an overridable default, not a constant
            continue
        key = (t.data_type, tuple(t.dims), onnx.numpy_helper.to_array(t).tobytes())
        alias[t.name] = first.setdefault(key, t.name)
    for n in g.node:
        n.input[:] = [alias.get(x, x) for x in n.input]


#: attributes the ONNX spec documents a per-axis default for but whose schema states none: (op types, name, default)
_AXIS_DEFAULTS = (
    (("Conv", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"), "strides", 1),
    (("Conv", "ConvInteger", "QLinearConv", "MaxPool", "LpPool"), "dilations", 1),
    (("Conv", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"), "pads", 0),
)


def _drop_default_attributes(node: onnx.NodeProto, opset: int) -> None:
    """Remove ``node``'s attributes whose value is the one the op defaults to: its schema's default (at
    ``opset``), or for convolutions and pools all-1 ``strides``/``dilations`` and all-0 ``pads``."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
    except onnx.defs.SchemaError:  # an op onnx has no schema for: keep what it says
        return
    axis_defaults = {name: value for ops, name, value in _AXIS_DEFAULTS if node.op_type in ops and not node.domain}
    kept = []
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        spec = schema.attributes.get(a.name)
        default = spec.default_value if spec is not None else None
        if (
            default is not None
            and default.type != onnx.AttributeProto.UNDEFINED
            and onnx.helper.get_attribute_value(default) == value
        ):
            continue
        if a.name in axis_defaults and a.type == onnx.AttributeProto.INTS and all(v == axis_defaults[a.name] for v in value):
            continue
        kept.append(a)
    del node.attribute[:]
    node.attribute.extend(kept)


def _drop_metadata(path: Path) -> None:
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
