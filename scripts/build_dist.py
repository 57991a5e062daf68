"""Build the wheel of one siamese-sdk distribution: the same code, one ONNX Runtime build per distribution.

``onnxruntime``, ``onnxruntime-gpu``, ... all install the module ``onnxruntime`` and overwrite each other, and
a pip extra cannot remove a base dependency, so GPU/edge users get their own distribution (as fastembed /
fastembed-gpu): ``siamese-sdk-gpu`` is ``siamese-sdk`` with ``onnxruntime`` replaced by ``onnxruntime-gpu``.

Usage: python scripts/build_dist.py [cpu|gpu|openvino|qnn|directml] [-o dist/]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
from siamese_sdk.providers import FLAVOURS  # noqa: E402  (the one list of flavours)

TARGETS = {"cpu": "siamese-sdk", **{name.removeprefix("siamese-sdk-"): name for name in FLAVOURS if name != "siamese-sdk"}}
BASE_PIN = re.compile(r'"onnxruntime(>=[^"]*)",')


def pyproject_for(distribution: str, text: str) -> str:
    """``pyproject.toml`` text of ``distribution``: its name, and its ONNX Runtime build as the runtime dependency."""
    if 'name = "siamese-sdk"' not in text or not BASE_PIN.search(text):
        raise SystemExit('pyproject.toml lacks name = "siamese-sdk" or the "onnxruntime>=..." dependency; update build_dist.py')
    build = FLAVOURS[distribution]
    text = text.replace('name = "siamese-sdk"', f'name = "{distribution}"', 1)
    return BASE_PIN.sub(lambda m: f'"{build}{m.group(1)}",', text, count=1)


def build(target: str, out: Path) -> Path:
    """Build ``target``'s wheel into ``out``; returns the wheel's path."""
    distribution = TARGETS[target]
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / distribution
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
        for folder in ("sdk", "trainer", "export"):
            shutil.copytree(ROOT / folder, stage / folder, ignore=ignore)
        shutil.copy2(ROOT / "README.md", stage / "README.md")
        (stage / "pyproject.toml").write_text(pyproject_for(distribution, (ROOT / "pyproject.toml").read_text()))
        before = set(out.glob("*.whl"))
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", str(out), str(stage)],
            check=True,
        )
    wheel = sorted(set(out.glob(f"{distribution.replace('-', '_')}-*.whl")) - before) or sorted(
        out.glob(f"{distribution.replace('-', '_')}-*.whl")
    )
    return wheel[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="cpu", choices=sorted(TARGETS))
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    print(build(args.target, args.out))


if __name__ == "__main__":
    main()
