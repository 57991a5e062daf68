"""The sdk is the leaf: it imports no torch, onnx, trainer or exporter, and runs with them blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "onnx", "onnxscript", "siamese_trainer", "siamese_export"):
                raise ImportError(f"the sdk imported {name}")
    sys.meta_path.insert(0, Block())
    import siamese_sdk
    for m in pkgutil.walk_packages(siamese_sdk.__path__, "siamese_sdk."):
        importlib.import_module(m.name)
    """
)


def test_sdk_imports_without_torch_or_onnx():
    code = BLOCKER + "\nprint(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'onnx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sdk_runs_a_bundle_with_torch_blocked(bundle, tiny_data):
    imgs = sorted(tiny_data.rglob("*.png"))
    code = BLOCKER + textwrap.dedent(
        f"""
        m = siamese_sdk.load({str(bundle)!r})
        r = m.verify([{str(imgs[0])!r}], [{str(imgs[1])!r}])
        from siamese_sdk.cli import main
        main(["info", {str(bundle)!r}], standalone_mode=False)
        print("ok", bool(r.same[0]) in (True, False))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok True")
