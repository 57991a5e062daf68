"""Distance heads through the SDK (ONNX Runtime) vs the same computation in numpy.

Per bundle (D = its embedding dim, metric = its metric): pairwise scores at B = 64, and the 1:N matrix of
64 queries x 10,000 gallery embeddings. Each SDK result is checked against a float64 numpy reference
(``allclose``) before it is timed; the numpy float32 version is benchmarked alongside for comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SEED, SUMMARY, median_s, record

B, N = 64, 10_000
ROUNDS = {"pairwise": (20, 300, 10), "matrix": (3, 30, 1)}  # warm-up rounds, timed rounds, iterations per round


def _embeddings(rows: int, dim: int, normalized: bool, seed: int) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return e / np.linalg.norm(e, axis=1, keepdims=True) if normalized else e


def numpy_pairwise(metric: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if metric == "euclidean":
        d = a - b
        return np.sqrt(np.einsum("ij,ij->i", d, d))
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - np.einsum("ij,ij->i", an, bn)


def numpy_matrix(metric: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if metric == "euclidean":
        a2 = np.einsum("ij,ij->i", a, a)[:, None]
        b2 = np.einsum("ij,ij->i", b, b)[None, :]
        return np.sqrt(np.maximum(a2 + b2 - 2.0 * (a @ b.T), 0.0))
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return 1.0 - an @ bn.T


@pytest.fixture(scope="module")
def inputs(built):
    normalized = bool(built.manifest["normalized"])
    return {
        "pairwise": (_embeddings(B, built.dim, normalized, SEED + 1), _embeddings(B, built.dim, normalized, SEED + 2)),
        "matrix": (_embeddings(B, built.dim, normalized, SEED + 3), _embeddings(N, built.dim, normalized, SEED + 4)),
    }


@pytest.mark.parametrize("impl", ["sdk", "numpy"])
@pytest.mark.parametrize("kind", ["pairwise", "matrix"])
def test_head(benchmark, built, sdk_models, inputs, kind, impl):
    a, b = inputs[kind]
    metric = built.metric
    if impl == "sdk":
        model = sdk_models(built.encoder, "fp32")  # the heads are the same for every variant
        fn = model.distance if kind == "pairwise" else model.distance_matrix
    else:
        fn = (lambda x, y: numpy_pairwise(metric, x, y)) if kind == "pairwise" else (lambda x, y: numpy_matrix(metric, x, y))

    # correctness first: against a float64 reference
    ref = (numpy_pairwise if kind == "pairwise" else numpy_matrix)(metric, a.astype(np.float64), b.astype(np.float64))
    got = fn(a, b)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4, err_msg=f"{impl} {kind} head disagrees with numpy")

    warm, rounds, iters = ROUNDS[kind]
    benchmark.group = f"head {kind} D={built.dim} ({'B=64' if kind == 'pairwise' else '64 x 10,000'})"
    out = benchmark.pedantic(fn, args=(a, b), warmup_rounds=warm, rounds=rounds, iterations=iters)
    assert out.shape == ref.shape
    t = median_s(benchmark)
    shape = f"{B}" if kind == "pairwise" else f"{B}x{N}"
    record(
        benchmark,
        encoder=built.encoder,
        variant="head (same in every variant)",
        batch=B,
        head=kind,
        impl=impl,
        metric=metric,
        dim=built.dim,
        shape=shape,
        ms=t * 1e3,
    )
    per = f"{t / B * 1e6:.3f} us/pair" if kind == "pairwise" else f"{B * N / t / 1e6:.1f} M scores/s"
    SUMMARY.append(f"[head] {kind:8s} {shape:>8s} D={built.dim:<3d} {metric} {impl:5s}: {t * 1e3:8.3f} ms  ({per})")
