"""Does a static int8 encoder give the same results on x86 CPUs without VNNI? A diagnosis script, not a test.

    python benchmarks/int8_saturation.py [BUNDLE_DIR]      (default: tests/data/golden/bundle)

ONNX Runtime fuses a QDQ convolution into ``QLinearConv``. On x86 without VNNI (AVX2, AVX-512 before VNNI) its
U8S8 kernel multiplies uint8 activations by int8 weights with ``vpmaddubsw``, which adds the products of two
neighbouring reduction elements into an int16 and saturates at +-32767; VNNI (``vpdpbusd``), ARM's dot-product
and onnxruntime-web compute the exact int32 sums. This script computes the encoder's ``QLinearConv`` layers in
numpy both ways (exact, and with the pair sums clipped, the reduction ordered (kh, kw, C) as ONNX Runtime's NHWC
im2col orders it), with the rest of the graph in ONNX Runtime, on the browser parity set
(``tests/e2e/test_browser_parity.py``), and prints how far the saturating run is from the exact one. The exact
emulation must equal this machine's ``siamese_sdk.load(..., variant="int8")`` where the CPU has VNNI.
Needs numpy, onnx, onnxruntime and the three packages on ``PYTHONPATH``.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import siamese_sdk  # noqa: E402
import test_browser_parity as parity  # noqa: E402  (the parity set, cosine)


def fused_graph(src: Path, work: Path) -> onnx.ModelProto:
    """The int8 graph as ONNX Runtime's CPU provider fuses it (extended optimisations, the variant's disabled optimiser)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(work / "fused.onnx")
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"], disabled_optimizers=["QDQPropagationTransformer"])
    return onnx.load(str(work / "fused.onnx"))


def qlinear_conv(x: np.ndarray, consts: dict, node: onnx.NodeProto, saturate: bool) -> np.ndarray:
    """One 3x3, pad-1 ``QLinearConv`` (zero points 0, as the variant's are) on ``(N, C, H, W) uint8``."""
    x_scale, w, w_scale, y_scale, bias = (consts[node.input[i]] for i in (1, 3, 4, 6, 8))
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.int32), ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, i : i + h, j : j + wd] for i in range(3) for j in range(3)], axis=1)
    cols = cols.transpose(0, 3, 4, 1, 2).reshape(n, h, wd, 9 * c)  # K ordered (kh, kw, C): NHWC im2col
    wk = w.astype(np.int32).transpose(0, 2, 3, 1).reshape(w.shape[0], 9 * c)
    if saturate:  # vpmaddubsw: neighbouring products summed into an int16, saturating
        prod = cols[..., None, :] * wk[None, None, None]
        acc = np.clip(prod[..., 0::2] + prod[..., 1::2], -32768, 32767).sum(-1)
    else:
        acc = np.einsum("nhwk,mk->nhwm", cols, wk)
    scale = (np.float32(x_scale) * w_scale.astype(np.float32) / np.float32(y_scale)).astype(np.float32)
    y = np.rint((acc + bias).astype(np.float32) * scale)
    return np.clip(y, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)


def main(bundle: Path) -> None:
    model = siamese_sdk.load(bundle, variant="int8", threads=1)
    images, labels = parity.parity_set()
    x = model.preprocess([str(p) for p in images])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        g = fused_graph(bundle / model.manifest.variants["int8"].file, work)
        consts = {t.name: numpy_helper.to_array(t) for t in g.graph.initializer}
        convs = [n for n in g.graph.node if n.op_type == "QLinearConv"]
        pools = {n.input[0]: n for n in g.graph.node if n.op_type == "MaxPool"}
        if any(n.output[0] not in pools for n in convs):
            raise SystemExit("this script expects QLinearConv -> MaxPool blocks (convnet4)")
        stem, tail_in = convs[0].input[0], pools[convs[-1].output[0]].output[0]
        g.graph.output.append(onnx.helper.make_tensor_value_info(stem, onnx.TensorProto.UINT8, None))
        onnx.save(g, str(work / "fused.onnx"))
        onnx.utils.extract_model(str(work / "fused.onnx"), str(work / "tail.onnx"), [tail_in], ["embeddings"], check_model=False)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        run_head = ort.InferenceSession(str(work / "fused.onnx"), opts, providers=["CPUExecutionProvider"])
        run_tail = ort.InferenceSession(str(work / "tail.onnx"), opts, providers=["CPUExecutionProvider"])

        def embed(saturate: bool) -> np.ndarray:
            h = run_head.run([stem], {"images": x})[0]
            for node in convs:
                y = qlinear_conv(h, consts, node, saturate)
                n, c, hh, ww = y.shape
                h = y[:, :, : hh // 2 * 2, : ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
            return run_tail.run(None, {tail_in: h})[0]

        exact, saturated = embed(False), embed(True)
    pairs = list(itertools.combinations(range(len(images)), 2))
    left, right = [i for i, _ in pairs], [j for _, j in pairs]

    def decisions(e: np.ndarray) -> np.ndarray:
        s = model.distance(e[left], e[right])
        return np.stack([model.manifest.score.is_match(s, model.threshold(op)) for op in parity.OPERATING_POINTS])

    sdk = model.embed(x)
    print(f"{bundle}: {len(images)} images, {len(pairs)} pairs x {len(parity.OPERATING_POINTS)} operating points")
    print(f"exact integer emulation vs this CPU's SDK int8: max abs diff {np.abs(exact - sdk).max():.3g}")
    diff = np.abs(model.distance(saturated[left], saturated[right]) - model.distance(exact[left], exact[right]))
    print(
        f"saturating (x86 without VNNI) vs exact: min cosine {parity.cosine(saturated, exact).min():.7f}, "
        f"max |score diff| {diff.max():.3f}, decisions equal {int((decisions(saturated) == decisions(exact)).sum())}/{len(pairs) * 3}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else parity.BUNDLE)
