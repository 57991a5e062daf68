"""``siamese embed`` memory is flat in the number of images: peak RSS at N_large vs N_small images.

Generates N_large tiny PNGs (28 x 28 gray, 256 distinct drawings cycled; 1,000 per folder), then runs the
``siamese embed`` CLI in a fresh subprocess on the first N_small images and on all of them, with the convnet4
benchmark bundle (``--threads 2``). Each child reports its own peak RSS (``VmHWM`` from ``/proc/self/status`` at
exit), so the two runs do not mix. Streaming writes rows through ``OUT.partial.npy`` batch by batch,
and the image list is walked lazily (never held), so the peak should not grow with N.

Sizes: ``SIAMESE_BENCH_EMBED_N="10000,100000"`` (default; small,large). Target: large/small peak RSS <= 1.2.
Run: ``python -m pytest benchmarks/test_embed_stream_memory.py --benchmark-only -q -s``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SUMMARY, THREADS, record

SMALL, LARGE = (int(v) for v in os.environ.get("SIAMESE_BENCH_EMBED_N", "10000,100000").split(","))
PER_FOLDER = 1000
TARGET_RATIO = 1.2


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(256):
        img = Image.new("L", (28, 28), 255)
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            draw.line([tuple(int(v) for v in rng.integers(0, 28, 2)) for _ in range(3)], fill=0, width=2)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        blobs.append(buf.getvalue())
    root = tmp_path_factory.mktemp("stream_images")
    for i in range(LARGE):
        folder = root / f"d{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir()
        (folder / f"{i:07d}.png").write_bytes(blobs[i % len(blobs)])
    return root


#: the child: the ``siamese`` CLI, writing its own /proc/self/status at exit (VmHWM = this process's peak RSS)
CHILD = """
import atexit, os, sys
atexit.register(lambda: open(os.environ["SIAMESE_STATUS_OUT"], "w").write(open("/proc/self/status").read()))
from siamese_sdk.cli import main
main()
"""


def _run_embed(bundle: Path, paths: list[Path], out: Path) -> dict:
    """Run ``siamese embed`` in a child; its peak RSS (MiB), wall seconds, output rows.

    The peak is the child's own ``VmHWM``: ``ru_maxrss`` from ``os.wait4`` is not used, because on Linux it also
    counts the RSS of the forking parent (here a pytest process holding torch) before ``exec``.
    """
    status_file = out.with_suffix(".status")
    cmd = [sys.executable, "-c", CHILD, "embed", str(bundle), *map(str, paths), "-o", str(out), "--threads", str(THREADS)]
    t0 = time.perf_counter()
    with open(out.with_suffix(".log"), "wb") as log:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SIAMESE_STATUS_OUT": str(status_file)}
        )
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, out.with_suffix(".log").read_text()[-2000:]
    status = dict(line.split(":", 1) for line in status_file.read_text().splitlines() if ":" in line)
    hwm_kib = int(status["VmHWM"].split()[0])
    rows = np.load(out, mmap_mode="r").shape[0]
    return {"peak_rss_mib": hwm_kib / 1024, "wall_s": wall, "rows": rows, "img_per_s": rows / wall}


def test_embed_memory_is_flat(benchmark, builds, images, tmp_path):
    bundle = builds["convnet4"].bundle
    folders = sorted(p for p in images.iterdir() if p.is_dir())
    runs: dict[str, dict] = {}

    def measure() -> None:
        runs["small"] = _run_embed(bundle, folders[: SMALL // PER_FOLDER], tmp_path / "small.npy")
        runs["large"] = _run_embed(bundle, folders, tmp_path / "large.npy")

    benchmark.group = f"siamese embed streaming: {SMALL:,} vs {LARGE:,} images (whole run timed)"
    benchmark.pedantic(measure, rounds=1, iterations=1)
    assert runs["small"]["rows"] == SMALL and runs["large"]["rows"] == LARGE
    ratio = runs["large"]["peak_rss_mib"] / runs["small"]["peak_rss_mib"]
    record(benchmark, small=SMALL, large=LARGE, runs=runs, rss_ratio=ratio)
    line = (
        f"[embed] peak RSS {SMALL:,} images {runs['small']['peak_rss_mib']:.0f} MiB, {LARGE:,} images "
        f"{runs['large']['peak_rss_mib']:.0f} MiB -> ratio {ratio:.3f} (target <= {TARGET_RATIO}); "
        f"{runs['large']['img_per_s']:.0f} img/s end to end"
    )
    print("\n" + line)
    SUMMARY.append(line)
    assert ratio <= TARGET_RATIO, line
