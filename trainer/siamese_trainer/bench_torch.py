"""Torch eager throughput of a checkpoint's encoder, as JSON on stdout (used by ``siamese bench --torch``).

Runs as its own process so the torch-free SDK never imports torch: ``python -m siamese_trainer.bench_torch
model.pt --batch 64 --runs 10``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from . import checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ck = checkpoint.load(args.checkpoint)
    m = ck["model"]
    enc = checkpoint.build_encoder(m, ck["state_dict"])
    x = torch.randn(args.batch, m["in_channels"], *m["input_size"])
    times = []
    with torch.inference_mode():
        for _ in range(3):
            enc(x)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            enc(x)
            times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                f"throughput_b{args.batch}_per_s": args.batch / float(np.median(times)),
                "threads": torch.get_num_threads(),
                "torch": str(torch.__version__),
            }
        )
    )


if __name__ == "__main__":
    main()
