"""Text-pair figures of an exported bundle on a held-out CSV (``a,b,label``), as a user measures them.

Usage:
    python benchmarks/text_pairs.py eval BUNDLE TEST.csv [--variant int8] [--operating-point OP]
    python benchmarks/text_pairs.py subsample IN.csv OUT.csv --rows 4000 --positives 0.665 [--seed 0]
    python benchmarks/text_pairs.py torch-auc RUN_DIR TEST.csv

``torch-auc`` scores the test pairs with a run's ``best.pt`` in torch (no export): the ROC AUC of a
training configuration, for sweeps; thresholds and accuracies need the exported bundle (``eval``).

``eval`` runs every pair through ``siamese_sdk.load(BUNDLE).verify`` (the bundle's default operating point
unless ``--operating-point``) and prints one JSON line: ROC AUC, accuracy, the fraction of pairs accepted,
the majority-class accuracy, and the threshold used. ``subsample`` writes an imbalanced sample of a
pairs CSV (``--positives`` the fraction of label 1), to mimic a corpus whose classes are not balanced.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def read_pairs(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return [r["a"] for r in rows], [r["b"] for r in rows], np.array([int(r["label"]) for r in rows], dtype=bool)


def evaluate(bundle: Path, test: Path, variant: str, op: str | None) -> dict:
    import siamese_sdk
    from siamese_sdk.eval import metrics

    a, b, same = read_pairs(test)
    model = siamese_sdk.load(bundle, variant="fp32" if variant == "int8" else variant)
    if variant == "int8" and "int8" not in model.manifest.variants:
        return {"variant": "int8", **int8_vs_fp32(bundle, a, b, same)}
    model = siamese_sdk.load(bundle, variant=variant)
    r = model.verify(a, b, operating_point=op)
    hic = model.manifest.higher_is_closer
    out = {
        "bundle": str(bundle),
        "variant": model.variant,
        "test": str(test),
        "pairs": int(same.size),
        "positives": round(float(same.mean()), 4),
        "auc": round(metrics.roc_auc(r.scores, same, hic), 4),
        "operating_point": r.operating_point,
        "threshold": round(float(r.threshold), 5),
        "accuracy": round(float(np.mean(r.same == same)), 4),
        "accepted": round(float(np.mean(r.same)), 4),
        "majority_accuracy": round(float(max(same.mean(), 1 - same.mean())), 4),
    }
    for name in ("eer", "max_accuracy"):
        if name in model.manifest.variants[model.variant].thresholds and name != r.operating_point:
            t = model.threshold(name)
            decided = model.manifest.score.is_match(r.scores, t)
            out[f"accuracy_at_{name}"] = round(float(np.mean(decided == same)), 4)
    return out


def int8_vs_fp32(bundle: Path, a: list[str], b: list[str], same: np.ndarray) -> dict:
    """Test AUC of the fp32 encoder and of its dynamic int8 build, for a bundle whose int8 the speed gate left out."""
    import tempfile

    import onnxruntime as ort
    import siamese_sdk
    from siamese_export.onnx.dynamic import quantize_dynamic_encoder
    from siamese_sdk.eval import metrics
    from siamese_sdk.tokenizer import load_tokenizer, pad_batch

    model = siamese_sdk.load(bundle, variant="fp32")
    tok = load_tokenizer(bundle / "tokenizer.json")
    out = {"note": "int8 built here (the bundle's speed gate left it out)"}
    with tempfile.TemporaryDirectory() as tmp:
        quantize_dynamic_encoder(bundle / "encoder.fp32.onnx", Path(tmp) / "int8.onnx")
        for name, path in (("fp32", bundle / "encoder.fp32.onnx"), ("int8", Path(tmp) / "int8.onnx")):
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            emb = []
            for col in (a, b):
                seqs = [tok.encode(t) for t in col]
                parts = []
                for i in range(0, len(seqs), 256):
                    tokens, lengths = pad_batch(seqs[i : i + 256])
                    parts.append(sess.run(None, {"tokens": tokens, "lengths": lengths})[0])
                emb.append(np.concatenate(parts))
            d = model.distance(emb[0], emb[1])
            out[f"auc_{name}"] = round(metrics.roc_auc(d, same, model.manifest.higher_is_closer), 4)
    return out


def torch_auc(run: Path, test: Path) -> dict:
    import torch
    from siamese_sdk.eval import metrics
    from siamese_sdk.tokenizer import tokenizer_from_dict
    from siamese_trainer import checkpoint, distances
    from siamese_trainer.data.table_items import to_tensors

    ckpt = checkpoint.load(run / "best.pt")
    enc = checkpoint.build_encoder(ckpt["model"], ckpt["state_dict"]).eval()
    tok = tokenizer_from_dict(ckpt["tokenizer"])
    a, b, same = read_pairs(test)
    with torch.no_grad():
        emb = [torch.cat([enc(*to_tensors([tok.encode(t) for t in col[i : i + 256]])) for i in range(0, len(col), 256)]) for col in (a, b)]
    d = distances.pairwise(emb[0], emb[1], ckpt["model"]["metric"]).numpy()
    hic = ckpt["model"]["metric"] == "cosine"
    hist = ckpt.get("history") or []
    return {
        "run": str(run),
        "epoch": ckpt.get("epoch"),
        "val_auc": round(max((h.get("auc", 0.0) for h in hist), default=float("nan")), 4),
        "test_auc": round(metrics.roc_auc(d, same, hic), 4),
        "vocab": tok.vocab_size(),
    }


def subsample(src: Path, dst: Path, rows: int, positives: float, seed: int) -> None:
    a, b, same = read_pairs(src)
    rng = np.random.default_rng(seed)
    n_pos = round(rows * positives)
    pos = rng.choice(np.flatnonzero(same), n_pos, replace=False)
    neg = rng.choice(np.flatnonzero(~same), rows - n_pos, replace=False)
    keep = rng.permutation(np.concatenate([pos, neg]))
    import io

    from siamese_sdk.atomic import write_text_atomic

    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["a", "b", "label"])
    for i in keep:
        w.writerow([a[i], b[i], int(same[i])])
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(dst, buf.getvalue())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("eval")
    e.add_argument("bundle", type=Path)
    e.add_argument("test", type=Path)
    e.add_argument("--variant", default="auto")
    e.add_argument("--operating-point", default=None)
    t = sub.add_parser("torch-auc")
    t.add_argument("run", type=Path)
    t.add_argument("test", type=Path)
    s = sub.add_parser("subsample")
    s.add_argument("src", type=Path)
    s.add_argument("dst", type=Path)
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--positives", type=float, required=True)
    s.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.cmd == "eval":
        print(json.dumps(evaluate(args.bundle, args.test, args.variant, args.operating_point)))
    elif args.cmd == "torch-auc":
        print(json.dumps(torch_auc(args.run, args.test)))
    else:
        subsample(args.src, args.dst, args.rows, args.positives, args.seed)


if __name__ == "__main__":
    main()
