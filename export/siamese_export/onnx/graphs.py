"""ONNX graphs of a bundle: the encoder branch (from torch) and the distance heads (built directly).

Opset is pinned to ``OPSET`` and checked after export: the dynamo exporter may otherwise raise it
silently, and an older onnxruntime on a device would then refuse the model.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from siamese_sdk.errors import BundleError

OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"


def export_encoder(encoder: torch.nn.Module, input_shape: tuple[int, int, int], path: Path) -> None:
    """Export ``encoder`` (eval mode) to ``path``: ``images (B, C, H, W) -> embeddings (B, D)``, B dynamic."""
    model = export_module(encoder, (torch.zeros(2, *input_shape),), [INPUT_NAME], {"x": {0: torch.export.Dim("batch", min=1)}})
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def export_module(
    module: torch.nn.Module, example: tuple[torch.Tensor, ...], input_names: list[str], dynamic_shapes: dict
) -> onnx.ModelProto:
    """``module`` (eval mode) through ``torch.onnx.export`` (dynamo) at ``OPSET``: output ``OUTPUT_NAME``.

    Checks the opset and strips the per-node Python stack traces; the caller checks and saves the model.
    """
    module = module.eval()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            example,
            dynamo=True,
            opset_version=OPSET,
            verbose=False,
            input_names=input_names,
            output_names=[OUTPUT_NAME],
            dynamic_shapes=dynamic_shapes,
        )
    model = program.model_proto
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset != OPSET:
        raise BundleError(
            f"torch.onnx.export produced opset {opset}, expected {OPSET}; pin a torch version that honours opset_version"
        )
    # The exporter annotates every node with its Python stack trace (the developer's file paths): ~15 % of a
    # small int8 encoder's bytes, useless on a device, and private. Node names stay for profiling.
    for node in model.graph.node:
        del node.metadata_props[:]
    return model


def fix_batch(src: Path, dst: Path, batch: int) -> None:
    """Write ``src`` with its batch axis fixed to ``batch`` to ``dst``: ``(batch, C, H, W) -> (batch, D)``.

    Static shapes are what CoreML (Neural Engine) and QNN (Hexagon NPU) compile; shapes inside the graph
    are inferred again and the result is fully checked.
    """
    if batch < 1:
        raise BundleError(f"fixed batch {batch} invalid; pass --fixed-batch >= 1")
    model = onnx.load(str(src))
    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_value = batch
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))


def bundle_metadata(dim: int, metric: str, normalized: bool, thresholds: dict[str, float], **extra: object) -> dict[str, object]:
    """The ``siamese.*`` facts every encoder ONNX of a bundle mirrors from the manifest; ``extra`` keys are
    added with the ``siamese.`` prefix (``input_name``, ``preprocess``, ``branch``, ...)."""
    return {
        "siamese.format": "siamese-bundle",
        "siamese.embedding_dim": str(dim),
        "siamese.metric": metric,
        "siamese.normalized": "true" if normalized else "false",
        "siamese.thresholds": thresholds,
        **{f"siamese.{k}": v for k, v in extra.items()},
    }


def set_metadata(path: Path, props: dict[str, object]) -> None:
    """Write ``props`` (JSON-encoded unless strings) into the model's ``metadata_props``."""
    model = onnx.load(str(path))
    existing = {p.key: p for p in model.metadata_props}
    for key, value in props.items():
        text = value if isinstance(value, str) else json.dumps(value)
        if key in existing:
            existing[key].value = text
        else:
            model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=text))
    onnx.save(model, str(path))


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=onnx.numpy_helper.from_array(value, name))


def _l2_normalize(x: str, prefix: str) -> list[onnx.NodeProto]:
    """Nodes computing ``x / max(||x||, 1e-12)`` row-wise into ``{prefix}_n``."""
    return [
        helper.make_node("ReduceL2", [x, "axes1"], [f"{prefix}_norm"], keepdims=1),
        helper.make_node("Max", [f"{prefix}_norm", "eps"], [f"{prefix}_safe"]),
        helper.make_node("Div", [x, f"{prefix}_safe"], [f"{prefix}_n"]),
    ]


def build_head(metric: str, kind: str, dim: int) -> onnx.ModelProto:
    """The distance head for ``metric`` (``euclidean``, ``cosine``).

    ``kind="pairwise"``: ``a (B, D), b (B, D) -> scores (B,)``; ``kind="matrix"``: ``a (B, D), b (N, D) ->
    scores (B, N)``. Scores are Euclidean distances, or cosine distances ``1 - cos`` in ``[0, 2]``.
    """
    if metric not in ("euclidean", "cosine") or kind not in ("pairwise", "matrix"):
        raise BundleError(f"no head for metric {metric!r} / kind {kind!r}")
    nodes = [
        _const("axes1", np.array([1], dtype=np.int64)),
        _const("eps", np.array(1e-12, dtype=np.float32)),
        _const("zero", np.array(0.0, dtype=np.float32)),
        _const("one", np.array(1.0, dtype=np.float32)),
        _const("two", np.array(2.0, dtype=np.float32)),
    ]
    if metric == "euclidean" and kind == "pairwise":
        nodes += [
            helper.make_node("Sub", ["a", "b"], ["diff"]),
            helper.make_node("ReduceSumSquare", ["diff", "axes1"], ["sq"], keepdims=0),
            helper.make_node("Sqrt", ["sq"], ["scores"]),
        ]
    elif metric == "euclidean":
        # ||a||^2 + ||b||^2 - 2 a.b, clamped at 0 against rounding, then sqrt
        nodes += [
            helper.make_node("ReduceSumSquare", ["a", "axes1"], ["a2"], keepdims=1),
            helper.make_node("ReduceSumSquare", ["b", "axes1"], ["b2col"], keepdims=1),
            helper.make_node("Transpose", ["b2col"], ["b2"], perm=[1, 0]),
            helper.make_node("Gemm", ["a", "b"], ["ab"], transB=1),
            helper.make_node("Mul", ["ab", "two"], ["ab2"]),
            helper.make_node("Add", ["a2", "b2"], ["sum2"]),
            helper.make_node("Sub", ["sum2", "ab2"], ["raw"]),
            helper.make_node("Max", ["raw", "zero"], ["sq"]),
            helper.make_node("Sqrt", ["sq"], ["scores"]),
        ]
    else:
        nodes += _l2_normalize("a", "a") + _l2_normalize("b", "b")
        if kind == "pairwise":
            nodes += [
                helper.make_node("Mul", ["a_n", "b_n"], ["prod"]),
                helper.make_node("ReduceSum", ["prod", "axes1"], ["cos"], keepdims=0),
            ]
        else:
            nodes += [helper.make_node("Gemm", ["a_n", "b_n"], ["cos"], transB=1)]
        nodes += [helper.make_node("Sub", ["one", "cos"], ["scores"])]
    used = {i for n in nodes for i in n.input}  # only the constants this metric/kind reads (ORT warns of the others)
    nodes = [n for n in nodes if n.op_type != "Constant" or n.output[0] in used]
    b_rows = "B" if kind == "pairwise" else "N"
    out_shape = ["B"] if kind == "pairwise" else ["B", "N"]
    graph = helper.make_graph(
        nodes,
        f"siamese_head_{metric}_{kind}",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["B", dim]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [b_rows, dim]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="siamese-export")
    model.ir_version = 9  # readable by onnxruntime >= 1.16
    onnx.checker.check_model(model, full_check=True)
    return model
