"""A bounded soak of the runtime: concurrent embed, verify and gallery add/remove/search/save/reload.

``--procs`` worker processes (spawned, each loading the bundle once: one ``SiameseModel`` shared by its threads)
run ``--threads`` threads each for ``--minutes``. Every thread picks random calls with its own seeded RNG and
checks each result against the serial result the parent computed first, before any worker started:

- ``embed``: fixed batches (a slice of the preprocessed images with a fixed ``batch_size``, or the image files
  themselves): the embeddings must be bit-equal to the serial ones (same variant, same batch);
- ``verify``: fixed pairs at each operating point: scores bit-equal, decisions equal;
- ``add`` / ``remove`` / ``search`` / ``save`` / ``reload``: each thread owns a gallery and its file, walking the
  states A (all rows) -> B (rows ``i % 4 == 0`` removed) -> C (those rows added back at the end) -> B -> ...;
  every search (k=5, every row as a query) must return the serial ids and bit-equal scores of that state,
  ``remove`` the serial count, and every saved file (plain or sealed with a key, alternately) must reload
  with the same ids and bit-equal vectors and search like the serial state;
- ``shared_search``: one read-only gallery per process, searched by all its threads at once.

Memory: each process samples its ``VmRSS`` (``/proc/self/status``) every 0.2 s; the run fails when the RSS at
the end exceeds the RSS after warm-up (a quarter of the run, at most 15 s) by more than ``--rss-growth-mib``.
Nothing listens and nothing is downloaded. Exit code 0 when every check passed, 1 otherwise.

Run (PYTHONPATH with ``sdk/``)::

    python benchmarks/soak.py --minutes 2 --threads 4 --procs 2 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "data" / "golden" / "bundle"
GOLDEN_IMAGES = ROOT / "tests" / "data" / "golden" / "images"
N_IMAGES = 64
K = 5
#: (start, stop, batch_size) of the array batches embedded
EMBED_BATCHES = ((0, 64, 64), (0, 64, 16), (5, 12, 4), (40, 41, 1), (10, 43, 7))
KINDS = ("embed", "embed_files", "verify", "add", "remove", "search", "save", "reload", "shared_search")


def image_files(n: int = N_IMAGES) -> list[str]:
    """The golden images, then Omniglot PNGs in name order, ``n`` paths in all."""
    files = sorted(str(p) for p in GOLDEN_IMAGES.glob("*.png"))
    from siamese_trainer.embedded import embedded_root  # the embedded Omniglot subset (torch-free), unpacked once

    omniglot = embedded_root()
    files += sorted(str(p) for p in omniglot.rglob("*.png"))[: n - len(files)]
    if len(files) < n:
        raise SystemExit(f"soak needs {n} images, found {len(files)} under {GOLDEN_IMAGES} and {omniglot}")
    return files


def _ids() -> list[str]:
    return [f"img{i:03d}" for i in range(N_IMAGES)]


def _removed() -> list[str]:
    """The ids removed in state B."""
    return [f"img{i:03d}" for i in range(0, N_IMAGES, 4)]


def _state_rows(state: str) -> list[int]:
    """Row order (image numbers) of gallery state A, B or C."""
    keep = [i for i in range(N_IMAGES) if i % 4]
    return {"A": list(range(N_IMAGES)), "B": keep, "C": keep + list(range(0, N_IMAGES, 4))}[state]


def serial_reference(model: Any, x: np.ndarray, files: list[str]) -> dict[str, Any]:
    """Every checked result, computed once, one call at a time: embeddings, decisions, gallery states."""
    from siamese_sdk import Gallery

    ref: dict[str, Any] = {"embed": {b: model.embed(x[b[0] : b[1]], batch_size=b[2]) for b in EMBED_BATCHES}}
    ref["embed_files"] = model.embed(files[:6], batch_size=4)
    e = ref["embed"][(0, 64, 64)]
    rng = np.random.default_rng(1)
    pairs = (np.arange(N_IMAGES), rng.permutation(N_IMAGES))
    ref["pairs"] = pairs
    ref["verify"] = {}
    for op in sorted(model.manifest.variants[model.variant].thresholds):
        v = model.verify(x[pairs[0]], x[pairs[1]], operating_point=op, batch_size=16)
        ref["verify"][op] = (v.scores, v.same)
    ids = _ids()
    g = Gallery.for_model(model)
    g.add(e, ids)
    ref["search"] = {"A": g.search(e, K)}
    g.remove(_removed())
    ref["search"]["B"] = g.search(e, K)
    rows = list(range(0, N_IMAGES, 4))
    g.add(e[rows], [ids[r] for r in rows])
    ref["search"]["C"] = g.search(e, K)
    ref["ids"] = {s: [ids[r] for r in _state_rows(s)] for s in "ABC"}
    return ref


class _Rss:
    """Samples this process's VmRSS (MiB) every ``every`` seconds in a daemon thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    @staticmethod
    def now_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return float("nan")

    def sample(self) -> None:
        self.samples.append((time.monotonic() - self._t0, self.now_mib()))

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class _Worker:
    """One thread's calls and checks; ``bad`` collects the first mismatches."""

    def __init__(self, ctx: dict[str, Any], name: str, seed: int) -> None:
        self.ctx, self.name, self.rng = ctx, name, random.Random(seed)
        self.calls: Counter[str] = Counter()
        self.mismatches: Counter[str] = Counter()
        self.bad: list[str] = []
        self.path = Path(ctx["workdir"]) / f"{name}.npz"
        self.g: Any = None
        self.state = ""
        self.saves = 0

    def fail(self, kind: str, what: str) -> None:
        self.mismatches[kind] += 1
        if len(self.bad) < 5:
            self.bad.append(f"{self.name} {kind}: {what}")

    def check_search(self, kind: str, g: Any, state: str) -> None:
        ids, scores = g.search(self.ctx["ref"]["embed"][(0, 64, 64)], K)
        rids, rscores = self.ctx["ref"]["search"][state]
        if not (np.array_equal(ids, rids) and np.array_equal(scores, rscores)):
            self.fail(kind, f"search hits of state {state} differ from the serial ones")

    def step(self) -> None:
        ctx, ref, m = self.ctx, self.ctx["ref"], self.ctx["model"]
        e = ref["embed"][(0, 64, 64)]
        kinds = ["embed", "embed_files", "verify", "shared_search", "add" if self.state in ("", "B") else "remove"]
        if self.g is not None:
            kinds += ["search", "save"]
        kind = self.rng.choice(kinds)
        self.calls[kind] += 1
        if kind == "embed":
            b = self.rng.choice(EMBED_BATCHES)
            if not np.array_equal(m.embed(ctx["x"][b[0] : b[1]], batch_size=b[2]), ref["embed"][b]):
                self.fail(kind, f"embeddings of batch {b} not bit-equal to the serial ones")
        elif kind == "embed_files":
            if not np.array_equal(m.embed(ctx["files"][:6], batch_size=4), ref["embed_files"]):
                self.fail(kind, "embeddings of the image files not bit-equal to the serial ones")
        elif kind == "verify":
            op = self.rng.choice(sorted(ref["verify"]))
            p = ref["pairs"]
            v = m.verify(ctx["x"][p[0]], ctx["x"][p[1]], operating_point=op, batch_size=16)
            scores, same = ref["verify"][op]
            if not (np.array_equal(v.scores, scores) and np.array_equal(v.same, same)):
                self.fail(kind, f"verify at {op} differs from the serial decisions")
        elif kind == "shared_search":
            self.check_search(kind, ctx["shared"], "A")
        elif kind == "add":
            if self.g is None or self.rng.random() < 0.1:  # now and then a fresh gallery: new buffers
                from siamese_sdk import Gallery

                self.g = Gallery.for_model(m)
                self.g.add(e, _ids())
                self.state = "A"
            else:
                rows = list(range(0, N_IMAGES, 4))
                self.g.add(e[rows], [_ids()[r] for r in rows])
                self.state = "C"
        elif kind == "remove":
            n = self.g.remove(_removed())
            if n != len(_removed()):
                self.fail(kind, f"removed {n} rows, serial {len(_removed())}")
            self.state = "B"
        elif kind == "search":
            self.check_search(kind, self.g, self.state)
        elif kind == "save":
            self.save_and_reload()

    def save_and_reload(self) -> None:
        from siamese_sdk import Gallery

        key = self.ctx["key"] if self.saves % 2 else None
        self.saves += 1
        self.g.save(self.path, key=key)
        self.calls["reload"] += 1
        back = Gallery.load(self.path, model=self.ctx["model"], key=key)
        rows = self.ctx["ref"]["embed"][(0, 64, 64)][_state_rows(self.state)]
        if list(back.ids) != self.ctx["ref"]["ids"][self.state] or not np.array_equal(back.embeddings(), rows):
            self.fail("reload", f"saved gallery (state {self.state}, key={key is not None}) reloads different")
        self.check_search("reload", back, self.state)


def run_process(cfg: dict[str, Any]) -> dict[str, Any]:
    """One worker process: load the bundle, run ``cfg['threads']`` threads for ``cfg['minutes']``, report."""
    import siamese_sdk
    from siamese_sdk import Gallery

    rss = _Rss()
    model = siamese_sdk.load(cfg["bundle"], variant=cfg["variant"], threads=1)
    if model.variant != cfg["ref_variant"]:
        raise RuntimeError(f"variant {model.variant} here, {cfg['ref_variant']} in the serial run")
    shared = Gallery.for_model(model)
    shared.add(cfg["ref"]["embed"][(0, 64, 64)], _ids())
    ctx = dict(cfg, model=model, shared=shared)
    ctx["x"].setflags(write=False)
    workers = [_Worker(ctx, f"p{cfg['proc']}-t{t}", cfg["seed"] * 1000 + cfg["proc"] * 100 + t) for t in range(cfg["threads"])]
    errors: list[str] = []
    start_rss = rss.now_mib()
    t0 = time.monotonic()
    deadline = t0 + cfg["minutes"] * 60.0

    def loop(w: _Worker) -> None:
        try:
            while time.monotonic() < deadline:
                w.step()
        except Exception as e:  # noqa: BLE001  (reported as a failed check, the run goes on)
            errors.append(f"{w.name}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    rss.stop()
    warm_at = (t0 - rss._t0) + cfg["warmup_s"]
    after = [m for s, m in rss.samples if s >= warm_at] or [rss.samples[-1][1]]
    end = rss.samples[-1][1]
    calls: Counter[str] = sum((w.calls for w in workers), Counter())
    mismatches: Counter[str] = sum((w.mismatches for w in workers), Counter())
    stray = sorted(
        p.name for p in Path(cfg["workdir"]).iterdir() if p.name.startswith(f".p{cfg['proc']}-") and p.name.endswith(".tmp")
    )
    growth = end - after[0]
    return {
        "proc": cfg["proc"],
        "pid": os.getpid(),
        "seconds": round(elapsed, 2),
        "calls": dict(sorted(calls.items())),
        "mismatches": dict(sorted(mismatches.items())),
        "first_mismatches": [b for w in workers for b in w.bad][:5],
        "errors": errors[:5],
        "stray_tmp_files": stray,
        "rss_mib": {
            "loaded": round(start_rss, 1),
            "after_warmup": round(after[0], 1),
            "end": round(end, 1),
            "max": round(max(m for _, m in rss.samples), 1),
            "samples": len(rss.samples),
        },
        "rss_growth_mib": round(growth, 1),
        "rss_flat": growth <= cfg["rss_growth_mib"],
    }


def soak(
    minutes: float = 2.0,
    threads: int = 4,
    procs: int = 2,
    seed: int = 0,
    variant: str = "auto",
    rss_growth_mib: float = 16.0,
    bundle: str | os.PathLike = BUNDLE,
) -> dict[str, Any]:
    """Run the soak; returns the summary (``ok``: every check passed, memory flat, no stray temp files)."""
    import onnxruntime as ort
    import siamese_sdk

    files = image_files()
    model = siamese_sdk.load(bundle, variant=variant, threads=1)
    x = model.preprocess(files)
    ref = serial_reference(model, x, files)
    workdir = tempfile.mkdtemp(prefix="siamese-soak-")
    warmup_s = min(15.0, minutes * 60.0 / 4)
    base = dict(
        bundle=str(bundle), variant=variant, ref_variant=model.variant, threads=threads, minutes=minutes, seed=seed,
        x=x, files=files, ref=ref, key=bytes(range(32)), workdir=workdir, warmup_s=warmup_s, rss_growth_mib=rss_growth_mib,
    )  # fmt: skip
    t0 = time.monotonic()
    try:
        with ProcessPoolExecutor(max_workers=procs, mp_context=mp.get_context("spawn")) as pool:
            results = list(pool.map(run_process, [dict(base, proc=p) for p in range(procs)]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    calls: Counter[str] = Counter()
    for r in results:
        calls.update(r["calls"])
    mismatches = sum(sum(r["mismatches"].values()) for r in results)
    errors = sum(len(r["errors"]) for r in results)
    ok = mismatches == 0 and errors == 0 and all(r["rss_flat"] and not r["stray_tmp_files"] for r in results)
    return {
        "ok": ok,
        "minutes": minutes,
        "threads_per_process": threads,
        "processes": procs,
        "wall_s": round(time.monotonic() - t0, 1),
        "variant": model.variant,
        "seed": seed,
        "warmup_s": warmup_s,
        "rss_growth_bound_mib": rss_growth_mib,
        "calls": {k: calls[k] for k in KINDS},
        "calls_total": sum(calls.values()),
        "mismatches": mismatches,
        "errors": errors,
        "per_process": results,
        "machine": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
            "cpus": os.cpu_count(),
        },
    }


def _print(s: dict[str, Any]) -> None:
    print(f"soak: {s['minutes']} min, {s['processes']} processes x {s['threads_per_process']} threads, variant {s['variant']}")
    print("calls: " + ", ".join(f"{k} {v}" for k, v in s["calls"].items()) + f" (total {s['calls_total']})")
    for r in s["per_process"]:
        m = r["rss_mib"]
        print(
            f"process {r['proc']} (pid {r['pid']}): {sum(r['calls'].values())} calls in {r['seconds']} s; RSS MiB loaded "
            f"{m['loaded']}, after warm-up {m['after_warmup']}, end {m['end']}, max {m['max']} "
            f"(growth {r['rss_growth_mib']}, bound {s['rss_growth_bound_mib']}: {'flat' if r['rss_flat'] else 'GREW'})"
        )
        for line in r["first_mismatches"] + r["errors"] + [f"stray temp file {f}" for f in r["stray_tmp_files"]]:
            print(f"  FAIL {line}")
    print(f"mismatches {s['mismatches']}, errors {s['errors']}: {'all checks passed' if s['ok'] else 'FAILED'}")


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0, help="how long the workers run (default 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    p.add_argument("--procs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", default="auto", help="bundle variant (default: auto, int8 on CPU)")
    p.add_argument("--rss-growth-mib", type=float, default=16.0, help="allowed RSS growth after warm-up per process")
    p.add_argument("--bundle", default=str(BUNDLE))
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    a = p.parse_args(argv)
    if a.minutes <= 0 or a.threads < 1 or a.procs < 1:
        p.error("--minutes must be > 0, --threads and --procs >= 1")
    s = soak(a.minutes, a.threads, a.procs, a.seed, a.variant, a.rss_growth_mib, a.bundle)
    _print(s)
    if a.json:
        Path(a.json).write_text(json.dumps(s, indent=1) + "\n")
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
