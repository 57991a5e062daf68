"""Write the synthetic paraphrase CSVs of the text example in docs/training.md (``siamese_trainer.data.paraphrase_data``).

Usage: python scripts/make_text_example.py [OUT_DIR=runs/text-data] [--rows N]

Writes OUT_DIR/pairs.csv (a,b,label), triplets.csv, questions.csv (text,label) and dialogs.csv
(dialog,label), generated from hand-written templates (no download; written for this project).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from siamese_trainer.data.paraphrase_data import write_csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="runs/text-data", type=Path)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, layout in (("pairs", "pairs"), ("triplets", "triplets"), ("questions", "text"), ("dialogs", "dialog")):
        print(write_csv(args.out / f"{name}.csv", layout, args.rows, args.seed))


if __name__ == "__main__":
    main()
