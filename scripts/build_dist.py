"""Build the wheels of the siamese-sdk distributions: lean runtimes, one per ONNX Runtime build, and the trainer.

``onnxruntime``, ``onnxruntime-gpu``, ... all install the module ``onnxruntime`` and overwrite each other, and
a pip extra cannot remove a base dependency, so GPU/edge users get their own distribution (as fastembed /
fastembed-gpu): ``siamese-sdk-gpu`` is ``siamese-sdk`` with ``onnxruntime`` replaced by ``onnxruntime-gpu``.

A runtime wheel holds only ``siamese_sdk`` and the ``siamese`` command: no trainer, no exporter, no training data.
``siamese-sdk-train`` (target ``train``) holds ``siamese_trainer``, ``siamese_export``, their two commands and the
embedded data set; it requires torch, onnx and onnxscript but no ONNX Runtime build (pip cannot say "any one of
the runtime distributions"): install a runtime wheel first, then the train wheel. A runtime wheel's ``train``
extra is ``siamese-sdk-train`` of the same version, so ``pip install 'siamese-sdk[train]' --find-links dist``
works from the built wheels. ``pip install .`` in the checkout still installs all three packages.

Each wheel is built from a fresh staging copy of only the folders it ships, so a stale ``build/`` or
``*.egg-info`` in the checkout never leaks into a wheel.

Usage: python scripts/build_dist.py [cpu|gpu|openvino|qnn|directml|train ...] [-o dist/]   (prints each wheel's path)
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
from siamese_sdk import __version__  # noqa: E402
from siamese_sdk.providers import FLAVOURS  # noqa: E402  (the one list of flavours)

#: target -> runtime distribution (one per ONNX Runtime build)
TARGETS = {"cpu": "siamese-sdk", **{name.removeprefix("siamese-sdk-"): name for name in FLAVOURS if name != "siamese-sdk"}}
TRAIN = "siamese-sdk-train"
#: target -> source folders it ships
FOLDERS = {**dict.fromkeys(TARGETS, ("sdk",)), "train": ("trainer", "export")}
BASE_PIN = re.compile(r'"onnxruntime(>=[^"]*)",')
TRAIN_DESCRIPTION = (
    "Training and export for siamese-sdk: siamese-train and siamese-export (torch, onnx). "
    "Install a runtime (siamese-sdk, siamese-sdk-gpu, ...) first."
)


def _table(text: str, header: str) -> str:
    """The body of TOML table ``[header]`` in ``text`` (up to the next table); SystemExit when it is missing."""
    m = re.search(rf"^\[{re.escape(header)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not m:
        raise SystemExit(f"pyproject.toml lacks [{header}]; update build_dist.py")
    return m.group(1)


def _drop_table(text: str, header: str) -> str:
    """``text`` without TOML table ``[header]``."""
    return text.replace(f"[{header}]\n{_table(text, header)}", "", 1)


def _set_table(text: str, header: str, body: str) -> str:
    """``text`` with the body of ``[header]`` replaced by ``body``."""
    old = _table(text, header)
    return text.replace(f"[{header}]\n{old}", f"[{header}]\n{body}", 1)


def _sub(pattern: str, repl: str, text: str) -> str:
    """``re.sub`` of exactly one line-anchored match; SystemExit when ``pattern`` does not match."""
    new, n = re.subn(pattern, lambda _m: repl, text, count=1, flags=re.M | re.S)
    if n != 1:
        raise SystemExit(f"pyproject.toml lacks {pattern!r}; update build_dist.py")
    return new


def _list_block(text: str, key: str) -> str:
    """The multi-line TOML list ``key = [ ... ]`` (``key`` at the start of a line), with its brackets."""
    m = re.search(rf"^{re.escape(key)} = (\[\n.*?^\])\n", text, re.M | re.S)
    if not m:
        raise SystemExit(f"pyproject.toml lacks the list {key} = [...]; update build_dist.py")
    return m.group(1)


def _common(distribution: str, text: str) -> str:
    """Name and a static version (the staged copy may not hold ``siamese_sdk``, where the version is read)."""
    if 'name = "siamese-sdk"' not in text:
        raise SystemExit('pyproject.toml lacks name = "siamese-sdk"; update build_dist.py')
    text = text.replace('name = "siamese-sdk"', f'name = "{distribution}"', 1)
    text = _sub(r'^dynamic = \["version"\]$', f'version = "{__version__}"', text)
    return _drop_table(text, "tool.setuptools.dynamic")


def pyproject_for(distribution: str, text: str) -> str:
    """``pyproject.toml`` text of runtime ``distribution``: only ``siamese_sdk``, its ONNX Runtime build, ``siamese``."""
    if not BASE_PIN.search(text):
        raise SystemExit('pyproject.toml lacks the "onnxruntime>=..." dependency; update build_dist.py')
    build = FLAVOURS[distribution]
    text = BASE_PIN.sub(lambda m: f'"{build}{m.group(1)}",', _common(distribution, text), count=1)
    extras = _table(text, "project.optional-dependencies")
    extras = extras.replace(f"train = {_list_block(extras, 'train')}", f'train = ["{TRAIN}=={__version__}"]', 1)
    text = _set_table(text, "project.optional-dependencies", extras)
    text = _set_table(text, "project.scripts", 'siamese = "siamese_sdk.cli:main"\n\n')
    text = _set_table(text, "tool.setuptools.packages.find", 'where = ["sdk"]\n\n')
    return _drop_table(text, "tool.setuptools.package-data")


def train_pyproject(text: str) -> str:
    """``pyproject.toml`` text of ``siamese-sdk-train``: trainer + exporter + embedded data, no ONNX Runtime build."""
    text = _sub(r"^description = .*?$", f'description = "{TRAIN_DESCRIPTION}"', _common(TRAIN, text))
    extras = _table(text, "project.optional-dependencies")
    train = _list_block(extras, "train").splitlines()[1:-1]
    runtime = [line for line in _list_block(text, "dependencies").splitlines()[1:-1] if not BASE_PIN.search(line)]
    # siamese_sdk comes from the runtime distribution installed first; here only what the training code imports itself
    text = text.replace(_list_block(text, "dependencies"), "[\n" + "\n".join(runtime + train) + "\n]", 1)
    text = _set_table(text, "project.optional-dependencies", f"plots = {_plots(extras)}\n\n")
    scripts = _table(text, "project.scripts")
    text = _set_table(text, "project.scripts", "".join(s for s in scripts.splitlines(True) if not s.startswith("siamese =")))
    return _set_table(text, "tool.setuptools.packages.find", 'where = ["trainer", "export"]\n\n')


def _plots(extras: str) -> str:
    """The ``plots`` extra's list, as TOML text."""
    m = re.search(r"^plots = (\[.*?\])$", extras, re.M)
    if not m:
        raise SystemExit("pyproject.toml lacks the plots extra; update build_dist.py")
    return m.group(1)


def build(target: str, out: Path) -> Path:
    """Build ``target``'s wheel into ``out`` from a clean staging copy; returns the wheel's path."""
    distribution = TRAIN if target == "train" else TARGETS[target]
    root_text = (ROOT / "pyproject.toml").read_text()
    text = train_pyproject(root_text) if target == "train" else pyproject_for(distribution, root_text)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / distribution
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc", "build", "dist")
        for folder in FOLDERS[target]:
            shutil.copytree(ROOT / folder, stage / folder, ignore=ignore)
        shutil.copy2(ROOT / "README.md", stage / "README.md")
        (stage / "pyproject.toml").write_text(text)
        before = set(out.glob("*.whl"))
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check", "-w", str(out), str(stage)],
            check=True,
        )
    pattern = f"{distribution.replace('-', '_')}-{__version__}-*.whl"
    wheel = sorted(set(out.glob(pattern)) - before) or sorted(out.glob(pattern))
    return wheel[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["cpu"], choices=[*sorted(TARGETS), "train"], metavar="TARGET")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    for target in args.targets:
        print(build(target, args.out))


if __name__ == "__main__":
    main()
