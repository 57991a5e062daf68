"""The recipe's picks and its profiling CPU time for some image folders, as JSON (docs/results/signatures.md).

    PYTHONPATH=<checkout>/sdk:<checkout>/trainer python benchmarks/recipe_picks.py embedded ../shared/data/omniglot/images_background > picks.json

``embedded`` is the embedded demo subset (what ``siamese-train`` reads with no ``--data``). Run it on two
checkouts and compare the ``chosen`` dicts to see whether a change moves any pick.
"""

from __future__ import annotations

import json
import sys
import time

from siamese_trainer import recipe
from siamese_trainer.data.images import resolve_root


def main(folders: list[str]) -> dict:
    out = {}
    for name in folders:
        root = resolve_root(None if name == "embedded" else name)
        t = time.process_time()
        _, chosen, _ = recipe.choose(root, set())
        out[name] = {"cpu_s": round(time.process_time() - t, 2), "chosen": {k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()}}
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python benchmarks/recipe_picks.py embedded|FOLDER ...")
    print(json.dumps(main(sys.argv[1:]), indent=1))
