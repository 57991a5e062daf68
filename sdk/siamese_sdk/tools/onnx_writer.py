"""Small ONNX models written as protobuf bytes by hand, so the runtime needs no ``onnx`` package.

Field numbers are those of ``onnx.proto`` (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto).
Used by ``siamese doctor`` (its one-Conv check model), the CPU limit probe (``benchmarks/gemm_limit.py``) and
the tests that hand-craft a model (external data, nesting).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: TensorProto data types
FLOAT, UINT8, INT8, INT32 = 1, 2, 3, 6
_NP = {FLOAT: np.float32, UINT8: np.uint8, INT8: np.int8, INT32: np.int32}


def varint(v: int) -> bytes:
    """``v`` as a protobuf varint (negative ints as their 64-bit two's complement)."""
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num: int, value: int | bytes | str) -> bytes:
    """One protobuf field: an int as a varint (wire type 0), bytes/str length-delimited (wire type 2)."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(num << 3 | 2) + varint(len(data)) + data


def tensor(name: str, array: np.ndarray, dtype: int = FLOAT, external: dict[str, str] | None = None) -> bytes:
    """A TensorProto: the array's dims and raw little-endian data, or, with ``external`` (``location``,
    ``offset``, ``length``), no data but a reference to an external file."""
    dims = b"".join(field(1, int(d)) for d in array.shape)
    if external is not None:
        entries = b"".join(field(13, field(1, k) + field(2, v)) for k, v in external.items())
        return dims + field(2, dtype) + field(8, name) + entries + field(14, 1)  # data_location EXTERNAL
    return dims + field(2, dtype) + field(8, name) + field(9, np.ascontiguousarray(array, np.dtype(_NP[dtype]).newbyteorder("<")).tobytes())


def value_info(name: str, dtype: int, dims: list[int | str] | tuple[int | str, ...]) -> bytes:
    """A graph input/output: ``name``, element type and shape (an int is a fixed dim, a str a symbolic one)."""
    shape = b"".join(field(1, field(1, d) if isinstance(d, int) else field(2, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, dtype) + field(2, shape)))


def node(op: str, inputs: list[str], output: str, name: str | None = None) -> bytes:
    """A NodeProto of the default domain with one output (named ``op.lower()`` unless ``name``)."""
    return b"".join(field(1, i) for i in inputs) + field(2, output) + field(3, name or op.lower()) + field(4, op)


def model(
    nodes: Sequence[bytes], inputs: Sequence[bytes], outputs: Sequence[bytes], initializers: Sequence[bytes] = (),
    name: str = "graph", opset: int = 13,
) -> bytes:
    """A serialised ModelProto (IR version 8, the default domain at ``opset``) of one graph."""
    graph = (
        b"".join(field(1, n) for n in nodes)
        + field(2, name)
        + b"".join(field(5, t) for t in initializers)
        + b"".join(field(11, i) for i in inputs)
        + b"".join(field(12, o) for o in outputs)
    )
    return field(1, 8) + field(7, graph) + field(8, field(1, b"") + field(2, opset))
