"""Torch throughput of a checkpoint's encoder, as JSON on stdout (used by ``siamese bench --torch``).

Runs as its own process so the torch-free SDK never imports torch: ``python -m siamese_trainer.bench_torch
model.pt --batch 64 --runs 10 [--mode eager|compile|x86-int8]``.

Modes, what a user would pick instead of the bundle:

- ``eager``: the module as trained, under ``torch.inference_mode``;
- ``compile``: ``torch.compile`` (inductor, CPU; its C++ code generation needs a compiler on the machine);
- ``x86-int8``: torch's own x86 int8, PT2E static quantisation (``torch.export`` -> ``prepare_pt2e`` with
  ``X86InductorQuantizer``, calibrated on ``--calibration`` random batches -> ``convert_pt2e``) compiled by
  inductor. In torch 2.13 PT2E lives in ``torchao.quantization.pt2e``; without torchao the mode exits 3 with
  the reason on stderr, which ``siamese bench`` records as ``skipped``.

The JSON line has ``throughput_b{batch}_per_s``, ``mode``, ``threads``, ``torch`` and ``prepare_s`` (seconds
spent compiling or quantising before the timed runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from . import checkpoint

MODES = ("eager", "compile", "x86-int8")

#: exit status of a mode that cannot run here (missing package or compiler): stderr says why
SKIPPED = 3


def _x86_int8(enc: torch.nn.Module, x: torch.Tensor, calibration: int) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )
    except ImportError as e:
        print(f"x86-int8 needs torchao (PT2E moved there from torch.ao): pip install torchao ({e})", file=sys.stderr)
        sys.exit(SKIPPED)
    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config())
    graph = torch.export.export(enc, (x,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    for _ in range(calibration):
        prepared(torch.randn_like(x))
    return torch.compile(convert_pt2e(prepared))


def prepare(enc: torch.nn.Module, x: torch.Tensor, mode: str, calibration: int = 4) -> Callable[[torch.Tensor], torch.Tensor]:
    """The callable a user of ``mode`` runs: the module, its ``torch.compile``, or its compiled PT2E int8."""
    if mode == "eager":
        return enc
    if mode == "compile":
        return torch.compile(enc)
    return _x86_int8(enc, x, calibration)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--mode", choices=MODES, default="eager")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ck = checkpoint.load(args.checkpoint)
    m = ck["model"]
    enc = checkpoint.build_encoder(m, ck["state_dict"]).eval()
    x = torch.randn(args.batch, m["in_channels"], *m["input_size"])
    times = []
    t0 = time.perf_counter()
    with torch.no_grad():
        try:
            fn = prepare(enc, x, args.mode)
            fn(x)  # compiles on first call
        except Exception as e:  # inductor raises many kinds (no compiler, unsupported op): the reason, one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            print(f"{args.mode} failed: {type(e).__name__}: {first[:200]}", file=sys.stderr)
            sys.exit(SKIPPED)
        prepare_s = time.perf_counter() - t0
    with torch.inference_mode() if args.mode == "eager" else torch.no_grad():
        for _ in range(3):
            fn(x)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                f"throughput_b{args.batch}_per_s": args.batch / float(np.median(times)),
                "mode": args.mode,
                "threads": torch.get_num_threads(),
                "torch": str(torch.__version__),
                "prepare_s": prepare_s,
            }
        )
    )


if __name__ == "__main__":
    main()
