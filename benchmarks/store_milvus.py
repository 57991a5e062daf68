"""The Milvus Lite store against the in-memory ``Gallery`` on N x D random vectors: the same top-k, and the time.

Both search exactly (``Gallery``'s numpy flat search, Milvus's ``FLAT`` index). Reported per metric: the time to
enrol the N rows (``Gallery.add`` / ``MilvusStore.add``), the share of queries whose top-k ids agree in order,
the largest score difference, and the search time for one query at a time (p50, over ``--queries``) and for
all queries in one call. The Milvus enrol time includes a ``flush`` (sealing the rows). The ``.db`` folder is made in a temporary directory and removed.

    python benchmarks/store_milvus.py --rows 100000 --dim 128 --queries 50
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from siamese_sdk.gallery import Gallery
from siamese_sdk.gallery.milvus import MilvusStore


def run(metric: str, rows: int, dim: int, queries: int, k: int, root: Path) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    ids = [f"id{i}" for i in range(rows)]
    q = x[rng.choice(rows, queries, replace=False)] + 0.3 * rng.normal(size=(queries, dim)).astype(np.float32)

    gallery = Gallery("bench", dim, metric)
    t0 = time.perf_counter()
    gallery.add(x, ids)
    add_gallery = time.perf_counter() - t0
    store = MilvusStore(str(root / f"{metric}.db"), "bench", dim, metric)
    t0 = time.perf_counter()
    store.add(x, ids)
    store.flush()  # seal the rows: Milvus Lite searches sealed segments faster (a server seals on its own)
    add_milvus = time.perf_counter() - t0

    def one_by_one(s) -> tuple[np.ndarray, np.ndarray, float]:
        out_ids, out_scores, times = [], [], []
        for i in range(queries):
            t = time.perf_counter()
            a, b = s.search(q[i : i + 1], k)
            times.append(time.perf_counter() - t)
            out_ids.append(a[0])
            out_scores.append(b[0])
        return np.array(out_ids), np.array(out_scores), float(np.median(times))

    g_ids, g_scores, g_one = one_by_one(gallery)
    m_ids, m_scores, m_one = one_by_one(store)
    t0 = time.perf_counter()
    gallery.search(q, k)
    g_all = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.search(q, k)
    m_all = time.perf_counter() - t0
    store.close()
    return {
        "metric": metric,
        "rows": rows,
        "dim": dim,
        "queries": queries,
        "k": k,
        "same_topk_share": float(np.mean([(a == b).all() for a, b in zip(g_ids, m_ids, strict=True)])),
        "max_score_diff": float(np.abs(g_scores - m_scores).max()),
        "add_s": {"gallery": add_gallery, "milvus_lite": add_milvus},
        "one_query_p50_ms": {"gallery": g_one * 1000, "milvus_lite": m_one * 1000},
        "all_queries_ms": {"gallery": g_all * 1000, "milvus_lite": m_all * 1000},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--metrics", default="euclidean,cosine")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    root = Path(tempfile.mkdtemp())
    try:
        results = {"load_avg_before": os.getloadavg(), "runs": []}
        for metric in a.metrics.split(","):
            results["runs"].append(run(metric, a.rows, a.dim, a.queries, a.k, root))
            print(json.dumps(results["runs"][-1]), flush=True)
        results["load_avg_after"] = os.getloadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        "| metric | rows x dim | same top-k (in order) | max score diff | add s (gallery / milvus lite) | one query p50 ms | all queries ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in results["runs"]:
        print(
            f"| {r['metric']} | {r['rows']:,} x {r['dim']} | {r['same_topk_share']:.1%} of {r['queries']} | {r['max_score_diff']:.1e} | "
            f"{r['add_s']['gallery']:.2f} / {r['add_s']['milvus_lite']:.1f} | {r['one_query_p50_ms']['gallery']:.1f} / "
            f"{r['one_query_p50_ms']['milvus_lite']:.1f} | {r['all_queries_ms']['gallery']:.0f} / {r['all_queries_ms']['milvus_lite']:.0f} |"
        )
    la, lb = results["load_avg_before"], results["load_avg_after"]
    print(f"\n{os.cpu_count()} CPUs; load average before {la[0]:.1f}, after {lb[0]:.1f}")
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
