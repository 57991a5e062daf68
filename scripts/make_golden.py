"""Regenerate ``tests/data/golden/``: tiny checkpoints of each model kind, their manifests, a bundle and its expectations.

Usage (from the repository root, the three packages importable):

    PYTHONPATH=$PWD/sdk:$PWD/trainer:$PWD/export OMP_NUM_THREADS=1 python scripts/make_golden.py

Writes (see ``tests/data/golden/README.md``): ``<kind>/model.pt`` for the kinds image (the embedded Omniglot
subset), pseudo (two branches: the embedded subset and ``pseudo/b``, a second domain made from it) and text
(``text/questions.csv``); ``<kind>.manifest.json`` and ``<kind>.int8-slow.manifest.json``, the manifests
``siamese-export`` writes for that checkpoint when int8 passes / fails the CPU speed gate; ``bundle/`` (the
image export, fp32 + int8, both heads), six validation images in ``images/`` and ``expected.json`` (what the
SDK computes on them with that bundle). Training is seeded; only the speed measurement of the int8 gate is
pinned (``SPEEDS``), so that the recorded gate outcome does not depend on this machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path("tests/data/golden")  # relative: checkpoints record their data roots relative to the repository root
RUNS = Path("runs/golden")  # scratch run directories (git-ignored), relative so the recorded config is stable

TINY = ["--recipe", "off", "--epochs", "1", "--k", "4", "--width", "8", "--embedding-dim", "8", "--seed", "0", "--quiet"]
FEW = ["--p", "4", "--batches-per-epoch", "3"]  # a few steps: the manifest tests need a checkpoint, not a good one
#: per kind: siamese-train flags (besides --out), siamese-export flags (besides the checkpoint and -o). The image
#: run trains long enough (AUC ~0.85) to give the SDK test distances that decide clearly on either side of a threshold
KINDS: dict[str, tuple[list[str], list[str]]] = {
    "image": (
        [*TINY, "--p", "8", "--batches-per-epoch", "60", "--lr", "0.01", "--val-fraction", "0.02", "--no-augment"],
        ["--profile", "cpu,openvino"],
    ),
    "pseudo": (
        [
            *TINY,
            *FEW,
            "--pseudo",
            "--data-b",
            str(GOLDEN / "pseudo" / "b"),
            "--size-b",
            "36",
            "--val-fraction",
            "0.34",
            "--no-augment",
        ],
        [],
    ),
    "text": ([*TINY, *FEW, "--data", str(GOLDEN / "text" / "questions.csv"), "--max-length", "24", "--val-fraction", "0.3"], []),
}
#: manifest suffix -> the int8 / fp32 speed ratio the gate sees (passes at >= 0.97)
SPEEDS = {"": 1.5, ".int8-slow": 0.5}
#: validation images copied for the SDK test: this many classes, two images each
IMAGE_CLASSES = 3


@contextlib.contextmanager
def pinned_speed(ratio: float) -> Iterator[None]:
    """Make the export's int8 speed measurement return ``ratio`` (the gate logic itself runs unchanged)."""
    from siamese_export import gates

    real = gates.speedup
    gates.speedup = lambda *a, **k: ratio
    try:
        yield
    finally:
        gates.speedup = real


def make_data() -> None:
    """The data that no installed package holds: branch b's images and the text CSV."""
    sys.path.insert(0, str(ROOT / "tests"))
    from kinds import make_second_domain  # the second domain the pseudo-Siamese fixtures use
    from siamese_trainer.data.images import copy_embedded_subset, embedded_root
    from siamese_trainer.data.paraphrase_data import write_csv

    b = GOLDEN / "pseudo" / "b"
    shutil.rmtree(b, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        make_second_domain(copy_embedded_subset(Path(tmp) / "a", alphabets=4, characters=2, per_class=6), b)
    shutil.copy(embedded_root() / "LICENSE", b / "LICENSE")
    write_csv(GOLDEN / "text" / "questions.csv", "text", 120, seed=0, intents=8)


def train(kind: str) -> Path:
    """Train ``kind``'s tiny run and copy its ``model.pt`` to ``GOLDEN/<kind>/model.pt``."""
    from siamese_trainer import checkpoint
    from siamese_trainer.cli import main as train_main

    run = RUNS / kind
    shutil.rmtree(run, ignore_errors=True)
    train_main(["--out", str(run), *KINDS[kind][0]], standalone_mode=False)
    dest = GOLDEN / kind / "model.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    ckpt = checkpoint.load(run / "model.pt")
    if kind == "text":  # a CSV run records its table's absolute path: make it relative to the repository root
        ckpt["data"]["root"] = str(GOLDEN / "text" / "questions.csv")
    checkpoint.save(dest, ckpt)
    return dest


def export(kind: str, work: Path) -> None:
    """Export ``kind``'s golden checkpoint once per pinned speed; keep the manifests (and the image bundle)."""
    from siamese_export.cli import main as export_main

    for suffix, ratio in SPEEDS.items():
        out = work / f"{kind}{suffix}"
        with pinned_speed(ratio):
            export_main([str(GOLDEN / kind / "model.pt"), "-o", str(out), *KINDS[kind][1]], standalone_mode=False)
        shutil.copy(out / "manifest.json", GOLDEN / f"{kind}{suffix}.manifest.json")
        if kind == "image" and suffix == "":
            shutil.rmtree(GOLDEN / "bundle", ignore_errors=True)
            shutil.copytree(out, GOLDEN / "bundle")


def make_expected() -> None:
    """Copy six unseen-class images and write ``expected.json``: what today's SDK computes with ``bundle/``."""
    import numpy as np
    import siamese_sdk
    from siamese_trainer import checkpoint
    from siamese_trainer.data.images import embedded_root

    val_classes = checkpoint.load(GOLDEN / "image" / "model.pt")["data"]["val_classes"][:IMAGE_CLASSES]
    images = GOLDEN / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir()
    shutil.copy(embedded_root() / "LICENSE", images / "LICENSE")
    names, sources = [], {}
    for letter, cls in zip("abcdefgh", val_classes, strict=False):
        for n, src in enumerate(sorted((embedded_root() / cls).glob("*.png"))[:2], start=1):
            name = f"{letter}{n}.png"
            shutil.copy(src, images / name)
            names.append(name)
            sources[name] = src.relative_to(embedded_root()).as_posix()
    paths = [str(images / n) for n in names]
    pairs = [(i, j) for i in range(len(names)) for j in range(i, len(names))]
    bundle = GOLDEN / "bundle"
    expected: dict = {
        "images": names,
        "sources": sources,
        "auto_variant": siamese_sdk.load(bundle).variant,
        "pairs": pairs,
        "variants": {},
    }
    i, j = np.array(pairs).T
    for variant in siamese_sdk.load(bundle).manifest.variants:
        m = siamese_sdk.load(bundle, variant=variant)
        emb = m.embed(paths)
        ops = {}
        for op in ("eer", "far_1e-2", "far_1e-3"):
            r = m.verify([paths[a] for a in i], [paths[b] for b in j], operating_point=op)
            ops[op] = {"threshold": r.threshold, "same": r.same.tolist()}
        expected["variants"][variant] = {
            "embeddings": np.round(emb.astype(np.float64), 7).tolist(),
            "distance_matrix": np.round(m.distance_matrix(emb, emb).astype(np.float64), 7).tolist(),
            "pair_scores": np.round(m.distance(emb[i], emb[j]).astype(np.float64), 7).tolist(),  # the pairwise head
            "default_operating_point": m.manifest.default_operating_point,
            "verify": ops,
        }
    (GOLDEN / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-train", action="store_true", help="Keep the checked-in checkpoints and data; only export again.")
    args = parser.parse_args()
    if Path.cwd().resolve() != ROOT:
        sys.exit(f"run from the repository root ({ROOT}): the checkpoints record repository-relative data paths")
    if not args.skip_train:
        make_data()
        for kind in KINDS:
            train(kind)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in KINDS:
            export(kind, Path(tmp))
    make_expected()
    shutil.rmtree(RUNS, ignore_errors=True)
    for f in sorted(GOLDEN.rglob("*")):
        if f.is_file() and GOLDEN / "pseudo" / "b" not in f.parents:
            print(f"{f.stat().st_size:>8}  {f}")
    b = [f.stat().st_size for f in (GOLDEN / "pseudo" / "b").rglob("*") if f.is_file()]
    print(f"{sum(b):>8}  {GOLDEN / 'pseudo' / 'b'}/ ({len(b)} files)")


if __name__ == "__main__":
    main()
