"""Where does the time (and the size) of a bundle's encoder go? A diagnosis tool, not a test.

    python benchmarks/profile_int8.py BUNDLE_DIR [--threads 2] [--batch 64] [--runs 20]

For each variant (fp32, int8) of the bundle it prints:

- the op histogram of the graph as stored, and of the graph after ONNX Runtime's optimisations
  (``ORT_ENABLE_ALL``, the level the SDK uses): shows whether the QDQ pairs were fused into integer
  kernels (``QLinearConv``/``QLinearMatMul``/``QGemm``) or left as float ops between Quantize/Dequantize;
- ONNX Runtime's per-node profile (``SessionOptions.enable_profiling``) summed per op type, for ``--runs``
  calls at batch ``--batch`` after 3 warm-up calls;
- a size breakdown of the file: tensor payload vs node metadata (exporter stack traces) vs graph structure.

Uses numpy + onnxruntime (+ onnx for the size breakdown when installed); never torch.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort


def _session(
    path: Path, threads: int, profile: bool, optimized_out: Path | None = None, disabled: list[str] | None = None
) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_profiling = profile
    if optimized_out is not None:
        opts.optimized_model_filepath = str(optimized_out)
    return ort.InferenceSession(
        str(path), sess_options=opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled or []
    )


def op_histogram(path: Path) -> collections.Counter:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def size_breakdown(path: Path) -> dict[str, int]:
    import onnx

    m = onnx.load(str(path))
    init = sum(t.ByteSize() for t in m.graph.initializer)
    node_meta = sum(sum(p.ByteSize() for p in n.metadata_props) for n in m.graph.node)
    nodes = sum(n.ByteSize() for n in m.graph.node) - node_meta
    payload = collections.Counter()
    for t in m.graph.initializer:
        payload[onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name] += len(t.raw_data) or t.ByteSize()
    return {
        "file": path.stat().st_size,
        "initializers": init,
        "node_metadata_props": node_meta,
        "nodes_without_metadata": nodes,
        "value_info": sum(v.ByteSize() for v in m.graph.value_info),
        "model_metadata_props": sum(p.ByteSize() for p in m.metadata_props),
        **{f"payload_{k}": v for k, v in sorted(payload.items())},
    }


def profile(
    path: Path, x: np.ndarray, threads: int, runs: int, disabled: list[str] | None = None
) -> tuple[dict[str, float], dict[tuple[str, str, str], float], float, collections.Counter]:
    """(op type -> us per call, (node, op, output shape) -> us per call, wall ms per call, optimised-graph op histogram)."""
    import time

    with tempfile.TemporaryDirectory() as tmp:
        opt_path = Path(tmp) / "optimized.onnx"
        try:
            _session(path, threads, profile=False, optimized_out=opt_path, disabled=disabled)
            optimized = op_histogram(opt_path)
        except Exception as e:  # a diagnosis aid: report and go on
            optimized = collections.Counter({f"<could not save optimised graph: {type(e).__name__}>": 1})
        sess = _session(path, threads, profile=True, disabled=disabled)
        name = sess.get_inputs()[0].name
        for _ in range(3):
            sess.run(None, {name: x})
        t0 = time.perf_counter()
        for _ in range(runs):
            sess.run(None, {name: x})
        wall = (time.perf_counter() - t0) / runs * 1e3
        trace = Path(sess.end_profiling())
        events = json.loads(trace.read_text())
        trace.unlink(missing_ok=True)
    per_op: dict[str, float] = collections.defaultdict(float)
    per_node: dict[tuple[str, str, str], float] = collections.defaultdict(float)
    calls = max(1, runs + 3)
    for ev in events:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            a = ev["args"]
            per_op[a.get("op_name", "?")] += ev["dur"] / calls
            shape = json.dumps([list(d.values())[0] for d in a.get("output_type_shape", [])[:1]])
            per_node[(ev["name"][: -len("_kernel_time")], a.get("op_name", "?"), shape)] += ev["dur"] / calls
    return dict(per_op), dict(per_node), wall, optimized


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    shape = manifest["input"]["shape"][1:]
    x = np.random.default_rng(0).standard_normal((args.batch, *shape)).astype(np.float32)
    print(f"bundle {args.bundle} | onnxruntime {ort.__version__} | {args.threads} threads | batch {args.batch} | input {shape}")
    print(f"cpu: {_cpu()}")
    walls = {}
    for variant, spec in sorted(manifest["variants"].items()):
        path = args.bundle / spec["file"]
        # the optimisers the exporter measured the variant without, as the SDK opens it
        disabled = ((spec.get("quantization") or {}).get("session") or {}).get("disabled_optimizers", [])
        per_op, per_node, wall, optimized = profile(path, x, args.threads, args.runs, disabled)
        walls[variant] = wall
        total = sum(per_op.values())
        print(f"\n== {variant}: {spec['file']}  {wall:.2f} ms/call wall, {total / 1e3:.2f} ms/call summed over nodes")
        print(f"   stored graph ops:    {dict(op_histogram(path).most_common())}")
        print(f"   optimised graph ops: {dict(optimized.most_common())}")
        for op, us in sorted(per_op.items(), key=lambda kv: -kv[1]):
            print(f"   {op:28s} {us / 1e3:8.3f} ms  {us / total:6.1%}")
        print("   slowest nodes:")
        for (node, op, shape), us in sorted(per_node.items(), key=lambda kv: -kv[1])[:8]:
            print(f"     {us / 1e3:8.3f} ms {us / total:6.1%}  {op:14s} -> {shape:22s} {node[:70]}")
        try:
            print(f"   size: {size_breakdown(path)}")
        except ImportError:
            pass
    if {"int8", "fp32"} <= set(walls):
        print(f"\nint8 speed-up over fp32 (wall, this run): {walls['fp32'] / walls['int8']:.2f}x")
        s8, s32 = (os.path.getsize(args.bundle / manifest["variants"][v]["file"]) for v in ("int8", "fp32"))
        print(f"int8 / fp32 file size: {s8 / s32:.1%}")


def _cpu() -> str:
    try:
        flags: set[str] = set()
        model = "?"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
        return f"{model} ({' '.join(simd)})"
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
