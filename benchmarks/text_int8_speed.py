"""Dynamic int8 vs fp32 for a text or dialog bundle: speed at batch 64 and embedding agreement. A measurement tool.

    python benchmarks/text_int8_speed.py BUNDLE_DIR [--repeats 5]

Builds the dynamic int8 graph from the bundle's fp32 encoder when the bundle did not ship one (its speed gate
may have dropped it), then:

- ``speedup_b64``: fp32 time / int8 time at batch 64 with the exporter's own timing (``gates.speedup``: interleaved
  rounds, medians), repeated ``--repeats`` times (min / median / max printed: the machine may be shared);
  the batch holds random token sequences of lengths 1..max_length;
- ``cosine_min`` / ``cosine_mean`` of int8 vs fp32 embeddings over one sequence of every length 1..max_length;
- the validation AUC of each variant as recorded by the export.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from siamese_export.gates import speedup
from siamese_export.onnx.dynamic import quantize_dynamic_encoder
from siamese_sdk.format.manifest import Variant, read_manifest
from siamese_sdk.tokenizer import Tokenizer, pad_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    m = read_manifest(args.bundle)
    tok = Tokenizer.load(args.bundle / m.input_spec.tokenizer_file)
    rng = np.random.default_rng(0)
    seqs = [rng.integers(3, tok.vocab_size(), size=n).tolist() for n in range(1, tok.max_length + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "fp32.onnx").write_bytes((args.bundle / m.variants["fp32"].file).read_bytes())
        if "int8" in m.variants:
            (work / "int8.onnx").write_bytes((args.bundle / m.variants["int8"].file).read_bytes())
        else:
            quantize_dynamic_encoder(work / "fp32.onnx", work / "int8.onnx")
        variants = {"fp32": Variant(file="fp32.onnx"), "int8": Variant(file="int8.onnx")}
        batch = [seqs[i % len(seqs)] for i in rng.permutation(64)]
        feed = dict(zip(("tokens", "lengths"), pad_batch(batch), strict=True))
        speed = sorted(speedup(work, variants, feed) for _ in range(args.repeats))
        every = dict(zip(("tokens", "lengths"), pad_batch(seqs), strict=True))
        out = {n: ort.InferenceSession(str(work / v.file), providers=["CPUExecutionProvider"]).run(None, every)[0] for n, v in variants.items()}
    a, b = out["fp32"].astype(np.float64), out["int8"].astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    report = {
        "bundle": str(args.bundle),
        "kind": m.input_kind,
        "int8_shipped": "int8" in m.variants,
        "speedup_b64": {"min": speed[0], "median": speed[len(speed) // 2], "max": speed[-1]},
        "cosine_min": float(cos.min()),
        "cosine_mean": float(cos.mean()),
        "lengths": [1, tok.max_length],
        "auc": {n: v.metrics.get("auc") for n, v in m.variants.items()},
        "parity_min_cosine_fp32_vs_torch": m.validation.get("parity_min_cosine"),
        "notes": list(m.notes),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
