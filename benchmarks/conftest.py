"""Session fixtures for the speed benchmarks (never part of the test gate).

For each encoder (``convnet4`` @ 28 px, ``koch`` @ 105 px) this builds, once per session:

- a tiny trained checkpoint (1 epoch, 2 P x K batches: speed, not accuracy, is measured here),
- its bundle, exported with ``export_bundle`` and int8 enabled (the exporter may still drop int8 when its
  accuracy/speed gate fails: that is recorded, and the int8 benchmarks skip with the exporter's note),
- a fixed batch of 64 real (generated) images, picked with a seeded RNG, as ``(64, C, H, W) float32``.

Threads are pinned to ``THREADS`` everywhere: ONNX Runtime through ``siamese_sdk.load(threads=...)``, torch
through ``torch.set_num_threads``, and the BLAS/OpenMP pools through the environment (set before numpy loads).

Run: ``python -m pytest benchmarks/ --benchmark-only -q -s`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import os

THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, str(THREADS))

import platform  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import pytest  # noqa: E402

SEED = 0
BATCH = 64
ENCODERS = ("convnet4", "koch")
#: the generated dataset: this many alphabets x characters x drawers of the embedded Omniglot subset
ALPHABETS, CHARACTERS, DRAWERS = 10, 4, 20
SETTINGS = {
    # arch: (input px, embedding dim); koch keeps its class default (128) so the heads are measured at two dims
    "convnet4": (28, 64),
    "koch": (105, 128),
}


@dataclass
class Built:
    """Everything one encoder's benchmarks need."""

    encoder: str
    size: int
    checkpoint: Path
    bundle: Path
    variants: tuple[str, ...]
    notes: tuple[str, ...]
    dim: int
    metric: str
    x: np.ndarray  # (BATCH, C, H, W) float32
    x1: np.ndarray  # (1, C, H, W) float32
    manifest: dict = field(default_factory=dict)

    @property
    def has_int8(self) -> bool:
        return "int8" in self.variants

    def skip_without_int8(self) -> None:
        if not self.has_int8:
            why = "; ".join(self.notes) or "no int8 variant in the manifest"
            pytest.skip(f"{self.encoder}: export did not ship int8 ({why}); int8 benchmarks skipped")

    def file_size(self, variant: str) -> int:
        return (self.bundle / self.manifest["variants"][variant]["file"]).stat().st_size


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The SIMD features that decide int8 speed (VNNI) and fp32 speed (AVX-512/AVX2)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                keep = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
                return " ".join(f for f in keep if f in flags)
    except OSError:
        pass
    return ""


def _torch_version() -> str:
    try:
        import torch

        return str(torch.__version__)
    except ImportError:
        return "not installed"


def background_cpu_busy(seconds: float = 0.5) -> float | None:
    """Fraction of all CPUs busy with *other* work while this process sleeps for ``seconds`` (/proc/stat).

    The benchmarks assume an otherwise idle machine; anything well above 0 means the numbers are contended
    (torch's OpenMP fork/join suffers far more from a busy core than ONNX Runtime's thread pool does).
    """
    import time

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    dt = total1 - total0
    return None if dt <= 0 else round(1.0 - (idle1 - idle0) / dt, 3)


MACHINE = {
    "threads": THREADS,
    "onnxruntime": str(ort.__version__),
    "torch": _torch_version(),
    "numpy": np.__version__,
    "cpu": cpu_model(),
    "cpu_flags": cpu_flags(),
    "logical_cpus": os.cpu_count(),
}

#: one line per headline number, printed at the end of the session (pytest_terminal_summary)
SUMMARY: list[str] = []


def record(benchmark, **info) -> None:
    """Put the machine metadata plus ``info`` into ``benchmark.extra_info`` (lands in --benchmark-json)."""
    benchmark.extra_info.update(MACHINE)
    benchmark.extra_info.update(info)


def median_s(benchmark) -> float:
    """Median seconds per call of the benchmark that just ran."""
    return float(benchmark.stats.stats.median)


def pytest_configure(config) -> None:
    import logging

    logging.getLogger("torch").setLevel(logging.WARNING)  # torch.export's DEBUG trace lines flood failure reports
    try:
        import torch

        torch.set_num_threads(THREADS)
    except ImportError:
        pass
    MACHINE["background_cpu_busy_at_start"] = background_cpu_busy(1.0)


def pytest_terminal_summary(terminalreporter) -> None:
    if SUMMARY:
        terminalreporter.section(f"siamese benchmark summary ({MACHINE['cpu']}, {THREADS} threads)")
        busy = MACHINE.get("background_cpu_busy_at_start")
        if busy is not None:
            warn = "  <- NOT idle: other processes share the CPUs, numbers are contended" if busy > 0.1 else ""
            terminalreporter.write_line(f"background CPU load before the run: {busy:.0%} of {MACHINE['logical_cpus']} CPUs{warn}")
        for line in SUMMARY:
            terminalreporter.write_line(line)


# ---- data --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def data_28(tmp_path_factory) -> Path:
    """A few real Omniglot classes copied from the embedded subset (28 px), Omniglot layout."""
    from siamese_trainer.data.images import copy_embedded_subset

    return copy_embedded_subset(tmp_path_factory.mktemp("bench_data") / "omniglot28", ALPHABETS, CHARACTERS, DRAWERS)


@pytest.fixture(scope="session")
def data_105(data_28, tmp_path_factory) -> Path:
    """The same images upscaled to 105 px with Pillow (generated; no download), same layout."""
    from PIL import Image

    dest = tmp_path_factory.mktemp("bench_data") / "omniglot105"
    for png in sorted(data_28.rglob("*.png")):
        out = dest / png.relative_to(data_28)
        out.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(png) as im:
            im.convert("L").resize((105, 105), Image.Resampling.BICUBIC).save(out)
    return dest


# ---- checkpoints, bundles, inputs ---------------------------------------------------------------------
def _build(encoder: str, data: Path, root: Path) -> Built:
    import json

    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_sdk.format.manifest import read_manifest
    from siamese_sdk.format.pixels import to_batch
    from siamese_sdk.tools.files import find_images
    from siamese_trainer.train import TrainConfig, train

    size, dim = SETTINGS[encoder]
    run = root / encoder
    ckpt = train(
        TrainConfig(
            data=str(data),
            out=str(run),
            arch=encoder,
            size=size,
            embedding_dim=dim,
            epochs=1,
            batches_per_epoch=2,
            p=4,
            k=2,
            seed=SEED,
            threads=THREADS,
        ),
        log=lambda s: None,
        progress=False,
    )
    log: list[str] = []
    bundle = export_bundle(ckpt, run / "bundle", ExportOptions(int8=True, seed=SEED, log=log.append))
    manifest = json.loads((bundle / "manifest.json").read_text())
    paths = find_images([data])
    pick = np.sort(np.random.default_rng(SEED).choice(len(paths), BATCH, replace=False))
    x = np.ascontiguousarray(to_batch([paths[i] for i in pick], read_manifest(bundle).preprocess), dtype=np.float32)
    notes = tuple(manifest.get("notes", ()))
    built = Built(
        encoder=encoder,
        size=size,
        checkpoint=ckpt,
        bundle=bundle,
        variants=tuple(sorted(manifest["variants"])),
        notes=notes,
        dim=int(manifest["embedding_dim"]),
        metric=str(manifest["metric"]),
        x=x,
        x1=np.ascontiguousarray(x[:1]),
        manifest=manifest,
    )
    int8 = "shipped" if built.has_int8 else f"NOT shipped ({'; '.join(notes)})"
    speed = manifest["variants"].get("int8", {}).get("metrics", {}).get("speedup_vs_fp32_b64")
    gate = f", exporter's own int8/fp32 speed check {speed:.2f}x" if speed else ""
    SUMMARY.append(f"[build] {encoder} @ {size} px, D={built.dim}, {built.metric}: int8 {int8}{gate}")
    return built


@pytest.fixture(scope="session")
def builds(data_28, data_105, tmp_path_factory) -> dict[str, Built]:
    """``{encoder: Built}`` for every encoder, built lazily and cached for the session."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    root = tmp_path_factory.mktemp("bench_runs")
    data = {"convnet4": data_28, "koch": data_105}
    cache: dict[str, Built] = {}

    class _Lazy(dict):
        def __missing__(self, encoder: str) -> Built:
            if encoder not in cache:
                cache[encoder] = _build(encoder, data[encoder], root)
            return cache[encoder]

    return _Lazy()


@pytest.fixture(scope="session", params=ENCODERS)
def built(request, builds) -> Built:
    """One encoder's checkpoint, bundle and inputs (parametrised over ``ENCODERS``)."""
    return builds[request.param]


@pytest.fixture(scope="session")
def torch_encoders(builds):
    """``{encoder: torch Encoder}`` rebuilt from each checkpoint, in eval mode (lazy)."""
    torch = pytest.importorskip("torch")
    from siamese_trainer import checkpoint
    from siamese_trainer.checkpoint import build_encoder

    cache: dict = {}

    def get(encoder: str):
        if encoder not in cache:
            ckpt = checkpoint.load(builds[encoder].checkpoint)
            m = ckpt["model"]
            enc = build_encoder(m, ckpt["state_dict"])
            cache[encoder] = enc.eval()
            torch.set_num_threads(THREADS)
        return cache[encoder]

    return get


@pytest.fixture(scope="session")
def sdk_models(builds):
    """``get(encoder, variant, threads=THREADS)`` -> a ``siamese_sdk`` model loaded with ``threads`` (cached)."""
    import siamese_sdk

    cache: dict = {}

    def get(encoder: str, variant: str, threads: int = THREADS):
        b = builds[encoder]
        if variant == "int8":
            b.skip_without_int8()
        key = (encoder, variant, threads)
        if key not in cache:
            cache[key] = siamese_sdk.load(b.bundle, variant=variant, threads=threads)
        return cache[key]

    return get
