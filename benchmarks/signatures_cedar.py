"""Writer-independent signature verification on CEDAR through the torch-free SDK (docs/results/signatures.md).

    python benchmarks/signatures_cedar.py split ../shared/data/signatures-cedar runs/cedar-split [--held-out 15]
    siamese-train --data runs/cedar-split/train --out runs/cedar && siamese-export runs/cedar
    python benchmarks/signatures_cedar.py score runs/cedar/bundle runs/cedar-split/eval [--variant int8]
    python benchmarks/signatures_cedar.py match-paper runs/cedar-split/eval runs/cedar-split/eval-matched

``split`` links (symlinks, no copies) the genuine signatures of the first ``55 - held_out`` writers into
``DEST/train/<w>`` (the trainer takes its validation writers from these) and the held-out writers' genuine
signatures and skilled forgeries into ``DEST/eval/genuine/<w>`` and ``DEST/eval/forgeries/<w>``. Forgeries are
never trained on.

``match-paper`` writes a probe set: the held-out genuine signatures (links) and their forgeries with the pixels
scaled so that the paper level equals the genuine scans' (about 240): a model that reads paper brightness
scores the skilled forgeries differently on it.

``score`` embeds every held-out image with the bundle and reports, with the bundle's own distance:

- ``writers``: every pair of held-out genuine signatures: same writer = genuine pair, other writer = impostor;
- ``skilled``: genuine pairs of each writer against (genuine of w, forgery of w) pairs: the skilled-forgery EER;
- ``background``: the mean (0-255) of the brightest 50 % of each image's pixels, raw and after the bundle's
  preprocessing, for genuine and forged images, and the AUC of that level alone as a genuine-vs-forgery score
  (``auc_raw``, ``auc_preprocessed``; 0.5: it tells nothing, 1.0: it tells them apart perfectly).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def split(src: Path, dest: Path, held_out: int = 15) -> None:
    writers = sorted(p.name for p in (src / "genuine").iterdir() if p.is_dir())
    if not 2 <= held_out < len(writers) - 4:
        raise SystemExit(f"error: --held-out {held_out} must leave at least 5 of the {len(writers)} writers to train on")
    for w in writers[: len(writers) - held_out]:
        _link(src / "genuine" / w, dest / "train" / w)
    for w in writers[len(writers) - held_out :]:
        for kind in ("genuine", "forgeries"):
            _link(src / kind / w, dest / "eval" / kind / w)
    print(f"train: {len(writers) - held_out} writers; held out: {', '.join(writers[len(writers) - held_out:])}")


def match_paper(eval_dir: Path, dest: Path) -> None:
    """``dest/genuine`` (links) and ``dest/forgeries``: each forgery's pixels scaled so that its median (the paper)
    equals the mean paper median of the genuine images: a probe of how much a model reads paper brightness."""
    from PIL import Image

    gen_paths, _ = _images(eval_dir / "genuine")
    target = float(np.mean([np.median(np.asarray(Image.open(p).convert("L"))) for p in gen_paths]))
    for w in sorted(p for p in (eval_dir / "genuine").iterdir() if p.is_dir()):
        _link(w, dest / "genuine" / w.name)
    forg_paths, forg_w = _images(eval_dir / "forgeries")
    for p, w in zip(forg_paths, forg_w, strict=True):
        a = np.asarray(Image.open(p).convert("L"), dtype=np.float32)
        out = dest / "forgeries" / w / p.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(np.round(a * target / np.median(a)), 0, 255).astype(np.uint8)).save(out)
    print(f"forgeries rescaled to paper level {target:.1f} under {dest}")


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(target.resolve(), target_is_directory=True)


def _images(root: Path) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for w in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(w.iterdir()):
            if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm"):
                paths.append(f)
                labels.append(w.name)
    return paths, np.asarray(labels)


def _bright_half(x: np.ndarray) -> float:
    """Mean of the brighter half of the pixels of one grey image (0-255)."""
    v = np.sort(x.ravel())
    return float(v[v.size // 2 :].mean())


def score(bundle: Path, eval_dir: Path, variant: str = "auto") -> dict:
    import siamese_sdk
    from siamese_sdk import metric as metric_mod
    from siamese_sdk.eval import metrics
    from siamese_sdk.format.pixels import open_image

    model = siamese_sdk.load(bundle, variant=variant)
    direction = metric_mod.get(model.manifest.metric)
    gen_paths, gen_w = _images(eval_dir / "genuine")
    forg_paths, forg_w = _images(eval_dir / "forgeries")
    g = model.embed(gen_paths, batch_size=64)
    f = model.embed(forg_paths, batch_size=64)
    out: dict = {"bundle": str(bundle), "variant": model.variant, "writers_held_out": int(len(set(gen_w)))}

    i, j, same = metrics.all_pairs(gen_w)
    d = model.distance_matrix(g, g)[i, j]
    m, _ = metrics.summarize(d, same, direction.higher_is_closer)
    out["writers"] = {k: m[k] for k in ("eer", "auc", "pairs_genuine", "pairs_impostor")}

    dgf = model.distance_matrix(g, f)
    scores, labels = [d[same]], [np.ones(int(same.sum()), bool)]
    for w in sorted(set(gen_w)):
        block = dgf[np.ix_(gen_w == w, forg_w == w)].ravel()
        scores.append(block)
        labels.append(np.zeros(block.size, bool))
    m, _ = metrics.summarize(np.concatenate(scores), np.concatenate(labels), direction.higher_is_closer)
    out["skilled"] = {k: m[k] for k in ("eer", "auc", "pairs_genuine", "pairs_impostor")}

    spec = model.preprocess_spec()
    bg: dict = {}
    levels: dict = {"raw": [], "preprocessed": []}
    for kind, paths in (("genuine", gen_paths), ("forgeries", forg_paths)):
        raw = [_bright_half(np.asarray(open_image(p).convert("L"), dtype=np.float32)) for p in paths]
        x = model.preprocess(paths)[:, 0] * np.float32(spec.std[0]) + np.float32(spec.mean[0])
        pre = [_bright_half(v / np.float32(spec.scale)) for v in x]
        bg[kind] = {"raw": round(float(np.mean(raw)), 2), "preprocessed": round(float(np.mean(pre)), 2)}
        levels["raw"].append(raw)
        levels["preprocessed"].append(pre)
    # how well the paper level alone tells a genuine image from a forgery (0.5: not at all; 1.0: perfectly)
    for stage, (gen, forg) in levels.items():
        lv, is_gen = np.asarray(gen + forg), np.r_[np.ones(len(gen), bool), np.zeros(len(forg), bool)]
        auc = metrics.roc_auc(lv, is_gen)
        bg[f"auc_{stage}"] = round(max(auc, 1 - auc), 4)
    out["background"] = bg
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split", help="link train / held-out writer folders")
    s.add_argument("src", type=Path, help="signatures-cedar (genuine/<w>, forgeries/<w>)")
    s.add_argument("dest", type=Path)
    s.add_argument("--held-out", type=int, default=15, help="writers held out for verification (default 15, the last ones)")
    mp = sub.add_parser("match-paper", help="held-out forgeries rescaled to the genuine paper level (a probe)")
    mp.add_argument("eval", type=Path, help="DEST/eval of split")
    mp.add_argument("dest", type=Path)
    e = sub.add_parser("score", help="EERs of a bundle on the held-out writers")
    e.add_argument("bundle", type=Path)
    e.add_argument("eval", type=Path, help="DEST/eval of split")
    e.add_argument("--variant", default="auto", help="fp32, int8 or auto (default)")
    e.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args()
    if args.cmd == "split":
        split(args.src, args.dest, args.held_out)
    elif args.cmd == "match-paper":
        match_paper(args.eval, args.dest)
    else:
        report = score(args.bundle, args.eval, args.variant)
        text = json.dumps(report, indent=2)
        print(text)
        if args.json:
            from siamese_sdk.atomic import write_text_atomic

            write_text_atomic(args.json, text + "\n")
        sys.exit(0)
