"""Where does a cold start's time go? A diagnosis script, not a test (``test_cold_start`` is the benchmark).

    python benchmarks/cold_start_split.py BUNDLE_DIR [--rounds 9] [--threads 2]

Runs, in new processes, ``import numpy``; ``import siamese_sdk``; ``import onnxruntime``;
``siamese_sdk.load(bundle)``; one ``embed`` of a zero image, and times each step inside the child. Each round
also times the same child ending in ``os._exit(0)`` (no interpreter teardown) and a bare ``python -c pass``, so
that interpreter start-up and exit show up as their own lines. Medians over the rounds, in ms. Like
``test_cold_start`` it runs once untimed first and lets the child write bytecode into a private
``PYTHONPYCACHEPREFIX`` (an installed wheel has its ``.pyc`` files). Uses numpy + onnxruntime only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = """
import sys, time
T = [time.perf_counter()]
import numpy as np; T.append(time.perf_counter())
import siamese_sdk; T.append(time.perf_counter())
from pathlib import Path
from siamese_sdk.format.manifest import read_manifest, verify_files
t0 = time.perf_counter(); man = read_manifest(sys.argv[1], verify=False); t1 = time.perf_counter()
verify_files(Path(sys.argv[1]), man); t2 = time.perf_counter()  # before any ORT thread pool spins
T.append(time.perf_counter())
import onnxruntime; T.append(time.perf_counter())
m = siamese_sdk.load(sys.argv[1], threads=int(sys.argv[2])); T.append(time.perf_counter())
m.embed(np.zeros((1, *m.manifest.preprocess.shape), np.float32)); T.append(time.perf_counter())
import json
steps = ["import numpy", "import siamese_sdk", "(extra: the two checks below, timed alone)", "import onnxruntime",
         "load (sessions, checks)", "first embed"]
out = {k: (b - a) * 1e3 for k, a, b in zip(steps, T, T[1:])}
out.update({"  of load: manifest parse": (t1 - t0) * 1e3, "  of load: sha256 of every file": (t2 - t1) * 1e3})
print(json.dumps(out))
if sys.argv[3] == "os_exit":
    import os; os._exit(0)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="cold-start-pyc-")

    def run(*argv: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True, check=True)
        return (time.perf_counter() - t0) * 1e3, p.stdout

    child = ("-c", CHILD, args.bundle, str(args.threads))
    run(*child, "normal")  # untimed: file cache, bytecode
    walls: dict[str, list[float]] = {"wall": [], "wall without teardown (os._exit)": [], "bare python -c pass": []}
    steps: list[dict[str, float]] = []
    for _ in range(args.rounds):
        wall, out = run(*child, "normal")
        walls["wall"].append(wall)
        steps.append(json.loads(out))
        walls["wall without teardown (os._exit)"].append(run(*child, "os_exit")[0])
        walls["bare python -c pass"].append(run("-c", "pass")[0])
    med = {k: float(np.median(v)) for k, v in walls.items()}
    parts = {k: float(np.median([s[k] for s in steps])) for k in steps[0]}
    inside = sum(v for k, v in parts.items() if not k.startswith(" "))
    extra = parts.pop("(extra: the two checks below, timed alone)")
    print(f"cold start of {args.bundle}, {args.rounds} rounds, medians in ms")
    print(f"{'wall (parent clock, minus the extra)':36s} {med['wall'] - extra:7.1f}")
    print(f"{'interpreter start-up + site':36s} {med['wall without teardown (os._exit)'] - inside:7.1f}")
    for k, v in parts.items():
        print(f"{k:36s} {v:7.1f}")
    print(f"{'interpreter teardown (exit)':36s} {med['wall'] - med['wall without teardown (os._exit)']:7.1f}")
    print(f"{'(bare python -c pass, start + exit)':36s} {med['bare python -c pass']:7.1f}")


if __name__ == "__main__":
    main()
