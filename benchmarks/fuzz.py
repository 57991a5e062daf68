"""The long fuzz run: every target of ``tests/fuzz_targets.py`` for ``--minutes`` in all (time split evenly).

Each case must give a correct result or one one-line ``SiameseError`` (the targets' checks). A case that fails
is recorded (target, exception type, first line of its message, the case) and the run goes on; the report gives
the cases tried and the failures per target. Exit code 0 when nothing failed, 1 otherwise.

Run from the repository root (PYTHONPATH with ``sdk/``)::

    python benchmarks/fuzz.py --minutes 10 --json runs/fuzz.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_targets import TARGETS  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

ROUND = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def run_target(name: str, seconds: float) -> dict:
    """Rounds of ``ROUND.max_examples`` fresh random cases of target ``name`` until ``seconds`` have passed."""
    strategy, check = TARGETS[name]
    tried, failures = 0, Counter()
    examples: dict[str, str] = {}
    end = time.monotonic() + seconds

    def case(value: object) -> None:
        nonlocal tried
        if time.monotonic() > end:
            return
        tried += 1
        try:
            check(value)
        except Exception as e:  # recorded, not raised: the run goes on
            key = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:160]}"
            failures[key] += 1
            examples.setdefault(key, repr(value)[:300])

    while time.monotonic() < end:
        given(strategy)(ROUND(lambda value: case(value)))()
    return {"target": name, "cases": tried, "failures": sum(failures.values()), "kinds": dict(failures), "examples": examples}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="total run time, split evenly over the targets")
    ap.add_argument("--targets", nargs="*", default=sorted(TARGETS), help="targets to run (default: all)")
    ap.add_argument("--json", type=Path, help="write the report here too")
    args = ap.parse_args()
    per = args.minutes * 60 / len(args.targets)
    rows = []
    for name in args.targets:
        r = run_target(name, per)
        rows.append(r)
        print(f"{name:24s} {r['cases']:8d} cases  {r['failures']:4d} failures", flush=True)
        for kind, n in r["kinds"].items():
            print(f"    {n:5d} x {kind}\n          e.g. {r['examples'][kind]}", flush=True)
    report = {"minutes": args.minutes, "targets": rows, "cases": sum(r["cases"] for r in rows)}
    if args.json:
        from siamese_sdk.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
