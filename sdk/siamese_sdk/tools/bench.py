"""On-device benchmark of a bundle: speed, memory, size and accuracy per variant, SDK only.

Everything a user deciding whether to ship a bundle on a device wants, measured in one run on the
machine at hand: batch-1 latency percentiles, throughput per batch size, cold start (a new process doing
import + load + first embed), peak resident memory, file sizes, the distance heads' own cost, and with
labelled data the verification metrics plus the *actual* FAR/FRR at the bundle's shipped thresholds.
The optional torch comparison runs in a separate process (``python -m siamese_trainer.bench_torch``), so
this module never imports torch.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import metric as metric_mod
from ..atomic import write_atomic
from ..errors import InputError
from ..eval import metrics
from ..format.manifest import read_manifest
from ..format.unreadable import skipped_line
from ..runtime.model import SiameseModel, load
from ..security.signing import ENV_VAR
from .bench_report import ratios
from .imagefolder import ImageFolder, decode_folder, labelled_pairs

BENCH_VERSION = 1


def _timeit(fn: Callable[[], Any], runs: int, warmup: int = 3) -> np.ndarray:
    """Wall times in seconds of ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def speed(model: SiameseModel, batches: list[int], runs: int, seed: int = 0) -> dict[str, Any]:
    """Latency at batch 1 (ms percentiles) and throughput (items/s, from the median) per batch size."""
    rng = np.random.default_rng(seed)
    shape = model.manifest.preprocess.shape
    one = rng.standard_normal((1, *shape), dtype=np.float32)
    t1 = _timeit(lambda: model.embed(one), runs) * 1e3
    out: dict[str, Any] = {
        "latency_ms_b1_p50": float(np.percentile(t1, 50)),
        "latency_ms_b1_p95": float(np.percentile(t1, 95)),
        "latency_ms_b1_p99": float(np.percentile(t1, 99)),
        "throughput_per_s": {},
    }
    for b in sorted(set(batches) | {64}):
        x = rng.standard_normal((b, *shape), dtype=np.float32)
        t = _timeit(lambda x=x, b=b: model.embed(x, batch_size=b), max(5, runs // max(1, b // 8)))
        out["throughput_per_s"][str(b)] = float(b / np.median(t))
    out["throughput_b64_per_s"] = out["throughput_per_s"]["64"]
    return out


def head_cost(model: SiameseModel, gallery: int = 10_000, runs: int = 20, seed: int = 0) -> dict[str, float]:
    """Milliseconds of the pairwise head at B=64 and the matrix head for 64 queries x ``gallery`` rows."""
    rng = np.random.default_rng(seed)
    d = model.embedding_dim
    a = rng.standard_normal((64, d), dtype=np.float32)
    g = rng.standard_normal((gallery, d), dtype=np.float32)
    return {
        "pairwise_b64_ms": float(np.median(_timeit(lambda: model.distance(a, a[::-1].copy()), runs)) * 1e3),
        f"matrix_64x{gallery}_ms": float(np.median(_timeit(lambda: model.distance_matrix(a, g), max(3, runs // 4))) * 1e3),
    }


_COLD = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import siamese_sdk
    t1 = time.perf_counter()
    m = siamese_sdk.load(sys.argv[1], variant=sys.argv[2], providers=json.loads(sys.argv[3]) or None, threads=json.loads(sys.argv[4]))
    t2 = time.perf_counter()
    e = m.embed(np.zeros((1, *m.manifest.preprocess.shape), np.float32))
    t3 = time.perf_counter()
    print("ready", flush=True)
    m.embed(np.zeros((64, *m.manifest.preprocess.shape), np.float32))
    print(json.dumps({"import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3, "first_embed_ms": (t3 - t2) * 1e3,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "variant": m.variant,
                      "shape": list(e.shape), "torch_imported": "torch" in sys.modules}), flush=True)
    """
)


def cold_start_once(
    bundle: Path, variant: str = "auto", providers: list[str] | None = None, threads: int | None = None, env: dict | None = None
) -> dict[str, Any]:
    """One new Python process doing import + load + first embed (1 item); times from the parent's clock.

    ``cold_start_ms`` runs from spawning the process to its first embedding being done (interpreter start-up
    included: it is part of a cold start; the exit is not, an app keeps running), ``exit_ms`` from the child's
    last line to its exit. The child's own split (``import_ms``, ``load_ms``, ``first_embed_ms``), its peak RSS
    after a batch of 64 (``peak_rss_mb``), the variant it ran and whether torch got imported come with it.
    """
    cmd = [sys.executable, "-c", _COLD, str(bundle), variant, json.dumps(providers or []), json.dumps(threads)]
    # stderr goes to a file: a pipe read only at the end could fill up (runtime warnings) and stall the child
    with tempfile.TemporaryFile("w+") as errf:
        t0 = time.perf_counter()
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, env=env) as p:
            ready = p.stdout.readline()
            t1 = time.perf_counter()
            last = p.stdout.readline()
            t2 = time.perf_counter()
            code = p.wait()
            t3 = time.perf_counter()
        errf.seek(0)
        err = errf.read()
    if code != 0 or ready.strip() != "ready":
        raise InputError(f"cold-start process failed: {err.strip().splitlines()[-1] if err.strip() else code}")
    return {**json.loads(last), "cold_start_ms": (t1 - t0) * 1e3, "exit_ms": (t3 - t2) * 1e3}


def cold_start(
    bundle: Path, variant: str, providers: list[str] | None, threads: int | None, runs: int = 3, env: dict | None = None
) -> dict[str, float]:
    """Medians over ``runs`` of ``cold_start_once``'s times (ms) and peak RSS (MB), after one untimed run."""
    cold_start_once(bundle, variant, providers, threads, env)  # fills the file cache (and bytecode of a source checkout)
    results = [cold_start_once(bundle, variant, providers, threads, env) for _ in range(runs)]
    keys = ("cold_start_ms", "import_ms", "load_ms", "first_embed_ms", "exit_ms", "peak_rss_mb")
    return {k: float(np.median([r[k] for r in results])) for k in keys}


def accuracy(
    model: SiameseModel, data: Path | ImageFolder, max_images: int = 2000, seed: int = 0, x: np.ndarray | None = None
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Verification metrics on all pairs of a labelled folder (``labelled_pairs``, or one already read), and
    FAR/FRR at the shipped thresholds. ``x``: the folder's images already decoded (``decode_folder``).

    Returns ``(metrics, scores, same)`` (the last two for plots).
    """
    folder = data if isinstance(data, ImageFolder) else labelled_pairs(data, max_images, seed)
    emb = model.embed(list(folder.paths) if x is None else x, batch_size=128)
    i, j, same = metrics.all_pairs(folder.labels)
    scores = model.distance_matrix(emb, emb)[i, j]
    direction = metric_mod.get(model.manifest.metric)
    m, _ = metrics.summarize(scores, same, direction.higher_is_closer)
    shipped = {}
    for op, t in model.manifest.variants[model.variant].thresholds.items():
        accept = direction.is_match(scores, t)
        shipped[op] = {"threshold": t, "far": float(accept[~same].mean()), "frr": float(1 - accept[same].mean())}
    m["at_shipped_thresholds"] = shipped
    m["images"] = len(folder)
    return m, scores, same


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import onnxruntime as ort

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "platform": platform.platform(),
    }


def run(
    bundle: str | os.PathLike,
    variants: list[str] | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
    batches: tuple[int, ...] = (1, 8, 64),
    runs: int = 50,
    data: Path | None = None,
    torch_checkpoint: Path | None = None,
    progress: Callable[[str], None] = lambda s: None,
    per_provider: bool = False,
    trusted_keys: list[Path] | None = None,
    skip_unreadable: bool = False,
) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Benchmark every shipped variant (or ``variants``); returns the report and per-variant pair scores.

    The report's keys are documented in docs/deploy.md ("siamese bench"): per variant
    ``latency_ms_b1_p50/p95/p99``, ``throughput_b64_per_s``, ``throughput_per_s`` (per batch),
    ``cold_start_ms``, ``peak_rss_mb``, ``size_bytes``, the head costs, and with ``data`` ``auc``, ``eer``,
    ``tar_at_far_1e-2``, ``tar_at_far_1e-3``, ``at_shipped_thresholds``; ``torch_eager`` and ``ratios``
    at top level. With ``per_provider``, ``per_provider.{provider}.{variant}`` repeats the speed
    measurements with each provider of ``providers`` on its own (the main table uses them as one priority list).
    ``trusted_keys``: every load checks the bundle's signature against them (None: the configured ones, if any);
    the cold-start processes get them as ``SIAMESE_TRUSTED_KEYS``, so their load times include the check.
    ``data``'s images are decoded once, before the speed runs: an unreadable one raises ``UnreadableImagesError``
    naming them all, or with ``skip_unreadable`` is left out (``data_skipped``: their paths, and one progress line).
    """
    bundle = Path(bundle)
    manifest = read_manifest(bundle, trusted_keys=trusted_keys)
    env = None if trusted_keys is None else {**os.environ, ENV_VAR: os.pathsep.join(str(k) for k in trusted_keys)}
    if manifest.branches:
        raise InputError(
            "siamese bench measures one-encoder bundles; a pseudo-Siamese bundle is measured at export (manifest metrics)"
        )
    if manifest.input_kind != "image":
        raise InputError(f"siamese bench measures image bundles so far; {bundle} is a {manifest.input_kind} bundle")
    names = variants or list(manifest.variants)
    folder = x = None
    skipped: list[tuple[str, str]] = []
    if data is not None:  # checked before the speed runs
        folder, x, skipped = decode_folder(labelled_pairs(data), manifest.preprocess, skip_unreadable)
        if skipped:
            progress(skipped_line(skipped, len(folder) + len(skipped)))
    report: dict[str, Any] = {
        "bench_version": BENCH_VERSION,
        "bundle": str(bundle),
        "machine": machine(),
        "providers": providers or ["cpu"],
        "threads": threads,
        "bundle_size_bytes": sum((bundle / f).stat().st_size for f in manifest.files),
        "variants": {},
    }
    if skipped:
        report["data_skipped"] = [path for path, _ in skipped]
    scored: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        progress(f"{name}: loading")
        model = load(bundle, variant=name, providers=providers, threads=threads, trusted_keys=trusted_keys)
        entry: dict[str, Any] = {"size_bytes": (bundle / manifest.variants[name].file).stat().st_size}
        progress(f"{name}: latency and throughput")
        entry.update(speed(model, list(batches), runs))
        progress(f"{name}: distance heads")
        entry["head"] = head_cost(model)
        progress(f"{name}: cold start (new processes)")
        entry.update(cold_start(bundle, name, providers, threads, env=env))
        if folder is not None:
            progress(f"{name}: accuracy on {data}")
            acc, scores, same = accuracy(model, folder, x=x)
            entry.update(acc)
            scored[name] = (scores, same)
        report["variants"][name] = entry
    if per_provider:
        report["per_provider"] = {}
        for p in providers or ["cpu"]:
            report["per_provider"][p] = {}
            for name in names:
                progress(f"{name} on {p} alone: latency and throughput")
                model = load(bundle, variant=name, providers=[p], threads=threads, trusted_keys=trusted_keys)
                fast = speed(model, [64], runs)
                report["per_provider"][p][name] = {k: fast[k] for k in ("latency_ms_b1_p50", "throughput_b64_per_s")}
    if torch_checkpoint is not None:
        progress("torch eager")
        report["torch_eager"] = torch_throughput(torch_checkpoint, 64, max(5, runs // 8), threads)
    report["ratios"] = ratios(report)
    return report, scored


#: exit status of ``bench_torch`` for a mode that cannot run here (``siamese_trainer.bench_torch.SKIPPED``)
_TORCH_SKIPPED = 3


def last_line(text: str, fallback: str) -> str:
    """The last non-blank line of a child process's output (at most 300 characters), or ``fallback``."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else fallback


def torch_throughput(checkpoint: Path, batch: int, runs: int, threads: int | None, mode: str = "eager") -> dict[str, Any]:
    """Throughput of the checkpoint's encoder under torch ``mode`` (``eager``, ``compile``, ``x86-int8``).

    Returns ``bench_torch``'s JSON (``throughput_b{batch}_per_s``, ``prepare_s``, ...), or ``{"skipped": reason}``
    when the mode cannot run here. Raises ``InputError`` when torch itself is missing (the train extra).
    """
    cmd = [sys.executable, "-m", "siamese_trainer.bench_torch", str(checkpoint), "--batch", str(batch), "--runs", str(runs)]
    cmd += ["--mode", mode] + (["--threads", str(threads)] if threads else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == _TORCH_SKIPPED:
        return {"skipped": last_line(p.stderr, f"{mode} cannot run here")}
    if p.returncode != 0:
        raise InputError(
            f"--torch needs the train extra (pip install 'siamese-sdk[train]'): {last_line(p.stderr, f'exit {p.returncode}')}"
        )
    report = last_json(p.stdout)
    if report is None:
        raise InputError(f"torch {mode} run printed no report (last output: {last_line(p.stdout, 'nothing')}); run it by hand: {' '.join(cmd)}")
    return report


def last_json(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last line a measuring process printed, or None when there is none."""
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def pyplot() -> Any:
    """``matplotlib.pyplot`` (Agg backend), or ``InputError`` with the install line: ``--plots`` checks it before any work."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plots needs matplotlib, which is not installed: pip install 'siamese-sdk[plots]'") from None
    return plt


def plots(
    scored: dict[str, tuple[np.ndarray, np.ndarray]], report: dict[str, Any], out_dir: Path, higher_is_closer: bool
) -> list[Path]:
    """ROC and DET curves and genuine/impostor histograms as PNG; raises InputError without matplotlib."""
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fig, (roc, det) = plt.subplots(1, 2, figsize=(10, 4))
    for name, (scores, same) in scored.items():
        far, tar, _ = metrics.roc_curve(scores, same, higher_is_closer)
        roc.plot(far, tar, label=f"{name} (AUC {report['variants'][name]['auc']:.4f})")
        det.loglog(np.maximum(far, 1e-6), np.maximum(1 - tar, 1e-6), label=name)
    roc.set(xlabel="false accept rate", ylabel="true accept rate", title="ROC")
    det.set(xlabel="false accept rate", ylabel="false reject rate", title="DET")
    roc.legend()
    det.legend()
    fig.tight_layout()
    written.append(out_dir / "roc_det.png")
    write_atomic(written[-1], lambda p, fig=fig: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
    for name, (scores, same) in scored.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.hist(scores[~same], bins=80, alpha=0.6, density=True, label="impostor pairs")
        ax.hist(scores[same], bins=80, alpha=0.6, density=True, label="genuine pairs")
        for op, r in report["variants"][name]["at_shipped_thresholds"].items():
            ax.axvline(r["threshold"], ls="--", lw=1, color="k")
            ax.text(r["threshold"], ax.get_ylim()[1] * 0.9, op, rotation=90, fontsize=7)
        ax.set(xlabel="score", ylabel="density", title=f"{name}: distance distributions")
        ax.legend()
        fig.tight_layout()
        written.append(out_dir / f"hist_{name}.png")
        write_atomic(written[-1], lambda p, fig=fig: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)
    return written
