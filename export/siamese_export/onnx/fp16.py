"""fp16 encoders for GPUs and NPUs: float16 weights and activations inside, float32 inputs and outputs.

``keep_io_types`` puts a Cast at each end, so callers keep passing ``(B, C, H, W) float32`` and get
``(B, D) float32`` back. Norm reductions (``ReduceL2``, ``ReduceSumSquare``, ``LpNormalization``) stay in
float32: a sum of squares overflows float16 (max 65504) long before the embedding values do.

Uses ONNX Runtime's own converter (``onnxruntime.transformers.float16``, shipped with every build), so
the export needs no extra package. Its output is not topologically sorted (the input Casts are
appended last); ``toposort`` fixes that before the checker runs.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

#: ops kept in float32 besides the converter's defaults.
KEEP_FP32 = ("ReduceL2", "ReduceSumSquare", "LpNormalization")


def toposort(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` in place so that every node comes after the producers of its inputs."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ValueError(f"graph {graph.name!r} has a cycle or an undefined input near node {pending[0].name!r}")
        for n in ready:
            ordered.append(n)
            known.update(n.output)
        taken = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in taken]
    del graph.node[:]
    graph.node.extend(ordered)


def convert_fp16(src: Path, dst: Path) -> dict[str, object]:
    """Write the fp16 version of the fp32 model ``src`` to ``dst`` (checked); returns the manifest's description."""
    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True, op_block_list=[*DEFAULT_OP_BLOCK_LIST, *KEEP_FP32])
    toposort(model.graph)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))
    return {
        "method": "float16",
        "io": "float32 (keep_io_types)",
        "fp32_ops": list(KEEP_FP32),
        "speed_gate": "none: fp16 is for GPUs and NPUs; the CPU provider runs it through casts, slower than fp32",
    }
