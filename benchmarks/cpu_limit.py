"""A bundle's CPU speed against this machine's limit and against what a user would run instead. A script, not a test.

    python benchmarks/cpu_limit.py BUNDLE_DIR --torch RUN/model.pt [--rounds 3] [--threads 1]
        [--torch-mode eager,compile,x86-int8] [--openvino-python VENV/bin/python] [--samples 25] [--markdown out.md]

Each round, in this order: the SDK's variants at batch 1, 8 and 64, both as shipped (``after``: small images
run in cache-sized chunks, ``siamese_sdk.runtime.encoder.cpu_run_items``) and with one ONNX Runtime run per
batch (``before``, the earlier behaviour); the limit probe (``gemm_limit.py``) at the encoder's
shapes; then every competitor in its own process (``competitors.py``). Ratios are taken within
each round and the table shows their medians over the rounds, with ``os.getloadavg()`` at the start of each
round: other jobs on a shared machine move absolute numbers more than ratios. One thread per process by default.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import competitors
import gemm_limit as limit
import numpy as np
from siamese_sdk import load
from siamese_sdk.atomic import write_text_atomic
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.tools.bench import torch_throughput

BATCHES = (1, 8, 64)


def sdk_speeds(models: dict[str, Any], samples: int = 25) -> dict[str, float]:
    """Items/s per ``{variant}_b{batch}[_before]``: 64 items embedded ``batch`` at a time, every configuration
    timed once per sample in turn (fine-grained interleaving: a busy machine slows all of them alike), medians."""
    x = np.random.default_rng(0).standard_normal((64, *next(iter(models.values())).manifest.preprocess.shape), dtype=np.float32)
    configs = [(n, b, s) for n in models for b in BATCHES for s in ("_before", "")]
    times: dict[str, list[float]] = {f"{n}_b{b}{s}": [] for n, b, s in configs}
    for i in range(samples + 2):
        for n, b, s in configs:
            enc = models[n]._pair[0]  # the one encoder of an image bundle
            saved, enc.run_items = enc.run_items, (None if s else enc.run_items)
            t0 = time.perf_counter()
            for j in range(0, 64, b):
                models[n].embed(x[j : j + b], batch_size=b)
            if i >= 2:  # two warm-up samples
                times[f"{n}_b{b}{s}"].append(time.perf_counter() - t0)
            enc.run_items = saved
    return {k: 64 / float(np.median(v)) for k, v in times.items()}


def one_round(args: argparse.Namespace, models: dict[str, Any], gemms: list[dict]) -> dict[str, Any]:
    r: dict[str, Any] = {"loadavg": os.getloadavg(), "sdk": sdk_speeds(models, args.samples)}
    r["limit"] = limit.probe(gemms, 64, args.threads)
    r["rivals"] = {}
    for key, mode in competitors.TORCH_MODES.items():
        if args.torch and mode in args.torch_mode.split(","):
            res = torch_throughput(args.torch, 64, 20, args.threads, mode)
            r["rivals"][key] = res.get("throughput_b64_per_s", res.get("skipped"))
    if args.openvino_python:
        res = competitors.openvino(args.bundle, list(models), args.openvino_python, 64, 20, args.threads)
        for v, e in res.get("variants", {}).items():
            r["rivals"][f"ort_openvino_{v}"] = e["throughput_b64_per_s"]
        if "skipped" in res:
            r["rivals"]["ort_openvino"] = res["skipped"]
    return r


def table(rounds: list[dict[str, Any]], macs: int, bundle: Path) -> str:
    med = lambda f: float(np.median([f(r) for r in rounds]))  # noqa: E731
    names = sorted({k.split("_b")[0] for k in rounds[0]["sdk"]})
    lines = [
        f"bundle {bundle}, {macs:,} multiply-adds per item, {len(rounds)} rounds; load average at each round's start: "
        + ", ".join(f"{r['loadavg'][0]:.2f}" for r in rounds),
        "",
        "| encoder | b1 before | b1 after | b8 before | b8 after | b64 before | b64 after | b64 GOP/s | share of limit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n in names:
        lim = "int8_gop_s" if n.startswith("int8") else "fp32_gop_s"
        cells = [f"{med(lambda r, k=f'{n}_b{b}{s}': r['sdk'][k]):.0f}" for b in BATCHES for s in ("_before", "")]
        gop = med(lambda r, n=n, lim=lim: limit.share(r["sdk"][f"{n}_b64"], macs, r["limit"][lim])[0])
        share = med(lambda r, n=n, lim=lim: limit.share(r["sdk"][f"{n}_b64"], macs, r["limit"][lim])[1])
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {gop:.0f} | {share:.1%} |")
    lines += [
        "",
        f"Limit probe (batch 64): int8 {med(lambda r: r['limit']['int8_gop_s']):.0f} GOP/s, "
        f"fp32 {med(lambda r: r['limit']['fp32_gop_s']):.0f} GOP/s",
        "",
        "| competitor | b64 items/s | int8 (after) over it | fp32 (after) over it |",
        "|---|---|---|---|",
    ]
    for key in rounds[0]["rivals"]:
        vals = [r["rivals"][key] for r in rounds]
        if not all(isinstance(v, float) for v in vals):
            lines.append(f"| {key} | skipped: {next(v for v in vals if not isinstance(v, float))} | - | - |")
            continue
        ratio = {
            n: f"{med(lambda r, n=n, key=key: r['sdk'][f'{n}_b64'] / r['rivals'][key]):.2f}"
            for n in ("int8", "fp32")
            if n in names
        }
        lines.append(
            f"| {key} | {med(lambda r, key=key: r['rivals'][key]):.0f} | {ratio.get('int8', '-')} | {ratio.get('fp32', '-')} |"
        )
    if {"int8", "fp32"} <= set(names):
        lines += ["", "| int8 over fp32 | b1 | b8 | b64 |", "|---|---|---|---|"]
        for s, label in (("_before", "before"), ("", "after")):
            cells = [f"{med(lambda r, b=b, s=s: r['sdk'][f'int8_b{b}{s}'] / r['sdk'][f'fp32_b{b}{s}']):.2f}" for b in BATCHES]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--torch", type=Path, default=None)
    ap.add_argument("--torch-mode", default="eager,compile,x86-int8")
    ap.add_argument("--openvino-python", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=25, help="timed samples per configuration and round")
    ap.add_argument("--markdown", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    m = read_manifest(args.bundle)
    models = {n: load(args.bundle, variant=n, threads=args.threads) for n in ("int8", "fp32") if n in m.variants}
    gemms = limit.encoder_gemms(args.bundle / m.variants["fp32"].file, tuple(m.preprocess.shape), m.input_name)
    macs = sum(g["macs"] for g in gemms)
    rounds = []
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}, load {os.getloadavg()[0]:.2f}", flush=True)
        rounds.append(one_round(args, models, gemms))
    md = table(rounds, macs, args.bundle)
    print(md)
    if args.markdown:
        write_text_atomic(args.markdown, md)
    if args.json:
        write_text_atomic(args.json, json.dumps({"macs_per_item": macs, "rounds": rounds}, indent=1, default=str))


if __name__ == "__main__":
    main()
