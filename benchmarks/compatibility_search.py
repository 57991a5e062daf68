"""Top-1 search accuracy of a gallery enrolled by an OLD bundle, searched by a NEW one (docs/results/compatibility.md).

Per class of ``--images`` (classes never trained on): its first image is enrolled, the others are queries; a hit
is right when its id is an image of the query's class. Rows: old/old (the deployed system), new/old (the old
gallery searched as it is by the new bundle: it must declare the old one compatible), new/new (re-enrolled),
and, with ``--mapped BUNDLE``, mapped/new (the old gallery converted by the bundle's map, no images).

    python benchmarks/compatibility_search.py --old runs/old/bundle --new runs/new/bundle --images omniglot-split/eval
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import siamese_sdk
from siamese_sdk.errors import BundleError
from siamese_sdk.gallery import Gallery
from siamese_sdk.gallery.upgrade import upgrade
from siamese_sdk.tools.enrol import enrol
from siamese_sdk.tools.imagefolder import ImageFolder


def top1(model: siamese_sdk.SiameseModel, g: Gallery, queries: list[str], truth: np.ndarray, owner: dict[str, int]) -> float:
    """Fraction of ``queries`` whose closest gallery row belongs to their class."""
    hits = [g.search(model.embed(queries[c : c + 256]), k=1)[0][:, 0] for c in range(0, len(queries), 256)]
    return float(np.mean([owner[str(h)] == t for h, t in zip(np.concatenate(hits), truth, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--mapped", type=Path, default=None, help="a bundle trained with --map-from OLD (skipped without a map)")
    ap.add_argument("--images", type=Path, required=True, help="class folders never trained on")
    a = ap.parse_args()
    folder = ImageFolder.scan(a.images)
    first = np.unique(folder.labels, return_index=True)[1]
    is_gallery = np.zeros(len(folder), bool)
    is_gallery[first] = True
    files = [str(p) for p in folder.paths]
    enrolled = [files[i] for i in first]
    queries, truth = [files[i] for i in np.flatnonzero(~is_gallery)], folder.labels[~is_gallery]
    owner = {files[i]: int(folder.labels[i]) for i in first}
    old, new = siamese_sdk.load(a.old, variant="fp32"), siamese_sdk.load(a.new, variant="fp32")
    print(f"{len(enrolled)} enrolled classes, {len(queries)} queries from {a.images}")
    with tempfile.TemporaryDirectory() as tmp:
        path = enrol(old, enrolled).save(Path(tmp) / "old.npz")
        print(f"| old/old | {top1(old, Gallery.load(path, model=old), queries, truth, owner):.4f} |")
        try:
            print(f"| new/old | {top1(new, Gallery.load(path, model=new), queries, truth, owner):.4f} |")
        except BundleError:  # what it would have served: the rows searched without the binding check
            print(f"| new/old | refused (unbound search: {top1(new, Gallery.load(path), queries, truth, owner):.4f}) |")
        print(f"| new/new | {top1(new, enrol(new, enrolled), queries, truth, owner):.4f} |")
        mapped = siamese_sdk.load(a.mapped, variant="fp32") if a.mapped is not None else None
        compat = mapped.manifest.compatibility if mapped is not None else None
        if mapped is not None and compat is not None and compat.map is not None:
            g, _ = upgrade(path, mapped, use_map=True)
            print(f"| mapped/new ({a.mapped}) | {top1(mapped, g, queries, truth, owner):.4f} |")


if __name__ == "__main__":
    main()
