"""What this machine's CPU does at an encoder's GEMM shapes through ONNX Runtime: the limit an encoder is measured against.

A convolution is a GEMM (im2col): ``M`` = output pixels x batch, ``K`` = input channels / groups x kernel
area, ``N`` = output channels / groups. ``encoder_gemms`` reads those shapes, and the multiply-adds per item,
from ONNX Runtime's own per-node profile of the encoder at batch 1 with graph optimisations off (so the SDK
needs no ``onnx`` package, and any bundle, old ones too, can be measured). ``probe`` then times one-node
graphs at each shape for the batch asked: ``MatMulInteger`` and ``QLinearMatMul`` (uint8 x int8, the
pairing of the bundle's int8 variant) and ``MatMul`` (float32), with the weights as constants as in a bundle.
The graphs are protobuf bytes from ``siamese_sdk.tools.onnx_writer``, not from ``onnx``.

The limit of an encoder is the throughput it would have if every layer ran at the best probed rate of its
shape: ``sum(MACs) / sum(MACs_i / rate_i)``. ``GOP`` counts a multiply-add as two operations. Pools,
activations and the layout changes between layers are not in the limit: they are what keeps an encoder
below it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from siamese_sdk.runtime.session import session_options
from siamese_sdk.tools import onnx_writer as ow
from siamese_sdk.tools.onnx_writer import FLOAT, INT8, INT32, UINT8


def _model(
    op: str, inputs: list[str], consts: dict[str, tuple[np.ndarray, int]], a: tuple[int, list], y: tuple[int, list]
) -> bytes:
    """An ONNX model (opset 13) of one ``op`` node reading graph input ``A`` and the constants, writing ``Y``."""
    return ow.model(
        [ow.node(op, inputs, "Y", name="n")],
        [ow.value_info("A", *a)],
        [ow.value_info("Y", *y)],
        [ow.tensor(n, arr, dt) for n, (arr, dt) in consts.items()],
        name="gemm",
    )


def gemm_model(op: str, k: int, n: int, seed: int = 0) -> bytes:
    """The one-node ``op`` graph (``MatMulInteger``, ``QLinearMatMul`` or ``MatMul``) for ``A (M, k) @ B (k, n)``, M free."""
    rng = np.random.default_rng(seed)
    if op == "MatMul":
        return _model(op, ["A", "B"], {"B": (rng.standard_normal((k, n)), FLOAT)}, (FLOAT, ["M", k]), (FLOAT, ["M", n]))
    b = (rng.integers(-127, 128, (k, n)), INT8)
    u8 = lambda v: (np.array(v), UINT8)  # noqa: E731
    if op == "MatMulInteger":
        return _model(op, ["A", "B", "az", "bz"], {"B": b, "az": u8(128), "bz": (np.array(0), INT8)},
                      (UINT8, ["M", k]), (INT32, ["M", n]))  # fmt: skip
    if op == "QLinearMatMul":
        f = lambda v: (np.array(v), FLOAT)  # noqa: E731
        consts = {"as": f(0.02), "az": u8(128), "B": b, "bs": f(0.01), "bz": (np.array(0), INT8), "ys": f(0.5), "yz": u8(128)}
        return _model(op, ["A", "as", "az", "B", "bs", "bz", "ys", "yz"], consts, (UINT8, ["M", k]), (UINT8, ["M", n]))
    raise ValueError(f"op {op!r} unknown; expected MatMulInteger, QLinearMatMul or MatMul")


INT8_OPS = ("MatMulInteger", "QLinearMatMul")
FP32_OPS = ("MatMul",)


def _session(ort: Any, model: bytes | str, threads: int | None, profile: bool = False, optimize: bool = True) -> Any:
    opts = session_options(ort, threads)
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tempfile.gettempdir()) / "siamese_limit")
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def encoder_gemms(onnx_file: str | Path, item_shape: tuple[int, ...], input_name: str) -> list[dict[str, int]]:
    """The GEMMs of a float32 encoder for one item: ``[{"op", "m", "k", "n", "groups", "macs"}, ...]`` in graph order.

    ``m`` is per item (output pixels of a conv, rows of a Gemm/MatMul at batch 1); ``macs`` = groups x m x k x n.
    """
    import onnxruntime as ort

    sess = _session(ort, str(onnx_file), 1, profile=True, optimize=False)
    sess.run(None, {input_name: np.zeros((1, *item_shape), np.float32)})
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink(missing_ok=True)
    out: list[dict[str, int]] = []
    seen: set[str] = set()
    for ev in events:
        a = ev.get("args", {})
        op, name = a.get("op_name"), ev.get("name", "")
        if ev.get("cat") != "Node" or not name.endswith("_kernel_time") or name in seen:
            continue
        seen.add(name)
        shapes = [next(iter(d.values())) for d in a.get("input_type_shape", [])]
        y = [next(iter(d.values())) for d in a.get("output_type_shape", [])][:1]
        if op == "Conv" and len(shapes) >= 2 and y:
            x, w, y = shapes[0], shapes[1], y[0]
            groups = max(1, x[1] // w[1])
            out.append({"op": op, "m": int(np.prod(y[2:])), "k": int(np.prod(w[1:])), "n": w[0] // groups, "groups": groups})
        elif op in ("Gemm", "MatMul") and shapes and y:
            k, yy = shapes[0][-1], y[0]
            out.append({"op": op, "m": int(np.prod(yy[:-1])), "k": int(k), "n": int(yy[-1]), "groups": 1})
    for g in out:
        g["macs"] = g["groups"] * g["m"] * g["k"] * g["n"]
    return out


def _rate(ort: Any, op: str, m: int, k: int, n: int, threads: int | None, runs: int) -> float:
    """Median GOP/s (2 x multiply-adds) of ``op`` at ``(m, k) @ (k, n)``."""
    sess = _session(ort, gemm_model(op, k, n), threads)
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(np.float32) if op == "MatMul" else rng.integers(0, 256, (m, k), dtype=np.uint8)
    feed = {"A": a}
    for _ in range(2):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return 2 * m * k * n / float(np.median(times)) / 1e9


def probe(
    gemms: list[dict[str, int]], batch: int = 64, threads: int | None = None, runs: int = 5, max_rows: int = 1 << 13
) -> dict[str, Any]:
    """Time the int8 and fp32 GEMMs at each of ``gemms``' shapes for ``batch`` items.

    Returns ``{"batch", "macs_per_item", "int8_gop_s", "fp32_gop_s", "layers": [...]}``: each layer with its
    shape and the GOP/s of every op, ``int8_gop_s``/``fp32_gop_s`` the limits (best op per layer, combined by
    multiply-adds). ``m`` is capped at ``max_rows`` (a bigger GEMM is not faster, and the probe stays short).
    """
    import onnxruntime as ort

    layers = []
    cache: dict[tuple[str, int, int, int], float] = {}
    for g in gemms:
        m = min(g["m"] * batch, max_rows)
        rates = {}
        for op in (*INT8_OPS, *FP32_OPS):
            key = (op, m, g["k"], g["n"])
            if key not in cache:
                cache[key] = _rate(ort, op, m, g["k"], g["n"], threads, runs)
            rates[op] = cache[key]
        layers.append({**g, "m_probed": m, "gop_s": rates})

    def limit(ops: tuple[str, ...]) -> float:
        seconds = sum(lay["macs"] / max(lay["gop_s"][o] for o in ops) for lay in layers)
        return sum(lay["macs"] for lay in layers) / seconds if seconds else 0.0

    return {
        "batch": batch,
        "threads": threads,
        "macs_per_item": int(sum(g["macs"] for g in gemms)),
        "int8_gop_s": limit(INT8_OPS),
        "fp32_gop_s": limit(FP32_OPS),
        "layers": layers,
    }


def share(items_per_s: float, macs_per_item: int, limit_gop_s: float) -> tuple[float, float]:
    """``(GOP/s, share of the limit)`` of an encoder running ``items_per_s`` items of ``macs_per_item`` multiply-adds."""
    gop_s = 2 * items_per_s * macs_per_item / 1e9
    return gop_s, gop_s / limit_gop_s if limit_gop_s else 0.0
