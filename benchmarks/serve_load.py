"""Load on the verification service against the SDK in-process: throughput and p50/p99 latency, one run.

For 1, 8 and 32 concurrent clients, ``verify`` (two images) and ``search`` (one probe, k=5, over a gallery of
``--gallery`` rows) are timed twice: as threads calling the SDK in this process (``model.verify`` on the files;
``model.embed`` + ``Gallery.search``), and as HTTP clients of ``siamese serve``'s app (uvicorn in a child
process, an ``.npz`` store holding the same rows) on a loopback port. Each cell stops after ``--requests``
requests or ``--seconds`` seconds, whichever comes first. The client is a minimal asyncio HTTP/1.1 client
(keep-alive, prebuilt multipart bodies) so that it takes as little of the CPU the service needs as possible; it
still shares the machine's cores with the service, as the in-process threads do. Each cell also records the CPU
time per request (client + service process, or the in-process threads), which other load on the machine does
not change, and the rate two saturated cores would give at that cost. ``--compare-batching`` adds
the service at 32 clients with batching off (``max_rows=1``). Loopback only; the load average is recorded.

    python benchmarks/serve_load.py --bundle tests/data/golden/bundle --out runs/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"


def serve_child(bundle: str, store: str, port: int, max_rows: int, threads: int | None) -> None:
    """The service process: ``create_app`` on uvicorn at ``127.0.0.1:port``."""
    import siamese_sdk
    import uvicorn
    from siamese_sdk.gallery.stores import open_store
    from siamese_sdk.serve import create_app

    model = siamese_sdk.load(bundle, threads=threads)
    uvicorn.run(create_app(model, open_store(store, model), max_rows=max_rows), host="127.0.0.1", port=port, log_level="warning")


def multipart(fields: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of ``(name, filename, bytes)`` files; returns the body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, filename, data in fields:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request_bytes(path: str, fields: list[tuple[str, str, bytes]], port: int) -> bytes:
    body, ctype = multipart(fields)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


async def http_load(port: int, requests: list[bytes], clients: int, limit: int, seconds: float) -> list[float]:
    """Send ``requests`` (cycled) over ``clients`` keep-alive connections; per-request latencies in seconds."""
    latencies: list[float] = []
    counter = iter(range(limit))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in counter:
                if time.perf_counter() > deadline:
                    return
                t0 = time.perf_counter()
                writer.write(requests[i % len(requests)])
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
                body = await reader.readexactly(length)
                if status != 200:
                    raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
                latencies.append(time.perf_counter() - t0)
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def thread_load(call, n_items: int, clients: int, limit: int, seconds: float) -> list[float]:
    """Run ``call(i)`` from ``clients`` threads until ``limit`` calls or ``seconds``; per-call latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(limit))
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None or time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            call(i % n_items)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def process_cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process, or of ``pid`` (Linux ``/proc``)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, server: int | None = None) -> dict[str, float]:
    """Run ``fn`` (it returns latencies); wall-clock rate, p50/p99, and the CPU each request cost: this process's
    (the SDK calls, or the HTTP client) plus the service process's. Under other load the CPU cost still holds."""
    c0, s0, t0 = process_cpu(), process_cpu(server) if server else 0.0, time.perf_counter()
    latencies = fn()
    wall = time.perf_counter() - t0
    cpu = process_cpu() - c0 + (process_cpu(server) - s0 if server else 0.0)
    lat = np.array(latencies) * 1000
    return {
        "requests": len(lat),
        "per_s": len(lat) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "cpu_ms": cpu * 1000 / len(lat),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(bundle: str, store: str, max_rows: int, threads: int | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve-child", bundle, store, str(port), str(max_rows), str(threads or 0)]
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    for _ in range(1200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the service did not start") from None
            time.sleep(0.05)
    raise RuntimeError("the service did not open its port in 60 s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default=str(GOLDEN / "bundle"))
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--requests", type=int, default=400, help="bound of requests per cell")
    p.add_argument("--seconds", type=float, default=20.0, help="bound of seconds per cell")
    p.add_argument("--gallery", type=int, default=10_000, help="gallery rows for search")
    p.add_argument("--compare-batching", action="store_true")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="ONNX Runtime intra-op threads, in-process and in the service (default: all cores)",
    )
    p.add_argument("--serve-child", nargs=5, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve_child:
        bundle, store, port, max_rows, threads = a.serve_child
        serve_child(bundle, store, int(port), int(max_rows), int(threads) or None)
        return

    import siamese_sdk
    from siamese_sdk.gallery import Gallery
    from siamese_sdk.gallery.stores import open_store

    model = siamese_sdk.load(a.bundle, threads=a.threads)
    images = sorted((GOLDEN / "images").glob("*.png")) if Path(a.bundle) == GOLDEN / "bundle" else None
    if images is None:
        raise SystemExit("pass the golden bundle (its images are the load); another bundle needs its own images")
    data = {p.name: p.read_bytes() for p in images}
    pairs = [(x, y) for x in images for y in images if x != y]
    rng = np.random.default_rng(0)
    rows = model.embed(model.preprocess([str(p) for p in images]))
    vectors = np.concatenate([rows, rng.normal(size=(a.gallery - len(rows), model.embedding_dim)).astype(np.float32)])
    ids = [f"id{i}" for i in range(len(vectors))]
    gallery = Gallery.for_model(model)
    gallery.add(vectors, ids)
    tmp = Path(tempfile.mkdtemp())
    store_path = str(tmp / "load.npz")
    store = open_store(store_path, model)
    store.add(vectors, ids)
    store.close()

    clients = [int(c) for c in a.clients.split(",")]
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "load_avg_before": load_before,
        "cpus": os.cpu_count(),
        "gallery": a.gallery,
        "threads": a.threads,
        "cells": [],
    }

    def verify_in(i: int) -> None:
        x, y = pairs[i]
        model.verify([str(x)], [str(y)])

    def search_in(i: int) -> None:
        gallery.search(model.embed([str(images[i % 6])]), k=5)

    for name, call, n in (("verify", verify_in, len(pairs)), ("search", search_in, 6)):
        for c in clients:
            cell = timed(lambda call=call, n=n, c=c: thread_load(call, n, c, a.requests, a.seconds))
            results["cells"].append({"op": name, "where": "in-process", "clients": c, **cell})
            print(json.dumps(results["cells"][-1]), flush=True)

    variants = [("service", 64)] + ([("service, no batching", 1)] if a.compare_batching else [])
    for where, max_rows in variants:
        proc, port = start_service(a.bundle, store_path, max_rows, a.threads)
        try:
            verify_reqs = [
                request_bytes("/v1/verify", [("a", x.name, data[x.name]), ("b", y.name, data[y.name])], port) for x, y in pairs
            ]
            search_reqs = [request_bytes("/v1/search?k=5", [("image", p.name, data[p.name])], port) for p in images]
            asyncio.run(http_load(port, verify_reqs, 4, 40, 10))  # warm-up
            for name, reqs in (("verify", verify_reqs), ("search", search_reqs)):
                for c in clients if max_rows > 1 else [32]:
                    cell = timed(
                        lambda reqs=reqs, c=c, port=port: asyncio.run(http_load(port, reqs, c, a.requests, a.seconds)), proc.pid
                    )
                    results["cells"].append({"op": name, "where": where, "clients": c, **cell})
                    print(json.dumps(results["cells"][-1]), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    results["load_avg_after"] = os.getloadavg()
    print(markdown(results))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(results, indent=1))


def markdown(results: dict) -> str:
    cells = results["cells"]
    best = {op: max(c["per_s"] for c in cells if c["op"] == op and c["where"] == "in-process") for op in ("verify", "search")}
    cheapest = {
        op: min(c["cpu_ms"] for c in cells if c["op"] == op and c["where"] == "in-process") for op in ("verify", "search")
    }
    cores = min(2, results["cpus"])
    lines = [
        f"| op | where | clients | requests | req/s | vs best in-process req/s | p50 ms | p99 ms | CPU ms/req | "
        f"req/s on {cores} free cores (= {cores}000 / CPU ms) | vs in-process, by CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        lines.append(
            f"| {c['op']} | {c['where']} | {c['clients']} | {c['requests']} | {c['per_s']:.0f} | {c['per_s'] / best[c['op']]:.0%} | "
            f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['cpu_ms']:.2f} | {cores * 1000 / c['cpu_ms']:.0f} | "
            f"{cheapest[c['op']] / c['cpu_ms']:.0%} |"
        )
    la, lb = results["load_avg_before"], results["load_avg_after"]
    lines.append(f"\n{results['cpus']} CPUs; load average before {la[0]:.1f}, after {lb[0]:.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
