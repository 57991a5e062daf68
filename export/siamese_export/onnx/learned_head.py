"""The learned head (``siamese_trainer.models.heads.LearnedHead``) as ONNX graphs, and its parity gate.

``p(same) = sigmoid(w · |a - b| + c)``, written directly with onnx.helper (four ops; no exporter
needed) with the trained ``w (D,)`` and ``c`` as initializers. Same input names and shapes as the metric
heads: pairwise ``a (B, D), b (B, D) -> scores (B,)``; matrix ``a (B, D), b (N, D) -> scores (B, N)``
(broadcast ``|a[:, None] - b[None]|``, so one call holds a ``(B, N, D)`` float32 tensor: galleries call
it chunk by chunk).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from siamese_sdk.errors import BundleError

from .graphs import OPSET

#: largest |p_torch - p_onnx| the export accepts for the learned head
HEAD_PARITY_MAX_ABS = 1e-5


def build_learned_head(head: torch.nn.Module, kind: str, dim: int) -> onnx.ModelProto:
    """ONNX graph of the trained ``head`` (a ``LearnedHead``), ``kind`` ``pairwise`` or ``matrix``."""
    if kind not in ("pairwise", "matrix"):
        raise BundleError(f"no learned head of kind {kind!r}")
    w = head.fc.weight.detach().cpu().numpy().astype(np.float32).reshape(dim, 1)
    c = head.fc.bias.detach().cpu().numpy().astype(np.float32).reshape(1)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")]
    if kind == "pairwise":
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "last"))
        nodes = [helper.make_node("Sub", ["a", "b"], ["diff"])]
        squeeze = "last"
    else:
        inits += [
            numpy_helper.from_array(np.array([1], dtype=np.int64), "ax1"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "ax0"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "ax2"),
        ]
        nodes = [
            helper.make_node("Unsqueeze", ["a", "ax1"], ["a3"]),  # (B, 1, D)
            helper.make_node("Unsqueeze", ["b", "ax0"], ["b3"]),  # (1, N, D)
            helper.make_node("Sub", ["a3", "b3"], ["diff"]),
        ]
        squeeze = "ax2"
    nodes += [
        helper.make_node("Abs", ["diff"], ["absdiff"]),
        helper.make_node("MatMul", ["absdiff", "w"], ["dot"]),
        helper.make_node("Add", ["dot", "c"], ["logit1"]),
        helper.make_node("Squeeze", ["logit1", squeeze], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["scores"]),
    ]
    b_rows = "B" if kind == "pairwise" else "N"
    graph = helper.make_graph(
        nodes,
        f"siamese_head_learned_{kind}",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["B", dim]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, [b_rows, dim]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["B"] if kind == "pairwise" else ["B", "N"])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="siamese-export")
    model.ir_version = 9  # readable by onnxruntime >= 1.16
    onnx.checker.check_model(model, full_check=True)
    return model


@torch.no_grad()
def head_parity(head: torch.nn.Module, pairwise: onnx.ModelProto, matrix: onnx.ModelProto, emb: np.ndarray) -> float:
    """Largest ``|p_torch - p_onnx|`` over the pairwise head on ``emb`` vs its reverse and the matrix head on ``emb x emb``."""
    rev = np.ascontiguousarray(emb[::-1])
    worst = 0.0
    for model, a, b, ref in (
        (pairwise, emb, rev, head(torch.from_numpy(emb), torch.from_numpy(rev))),
        (matrix, emb, emb, head.matrix(torch.from_numpy(emb), torch.from_numpy(emb))),
    ):
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"a": a, "b": b})[0]
        worst = max(worst, float(np.abs(got - ref.numpy()).max()))
    return worst
