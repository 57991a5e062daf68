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


def test_cold_start_path_imports_only_what_it_needs(bundle, tiny_data):
    """``import siamese_sdk`` + ``load`` + ``embed(array)`` leave Pillow, click, importlib.metadata, the
    gallery's zip code and the text tokenizer unimported (cold start); decoding an image file then brings Pillow in."""
    img = sorted(tiny_data.rglob("*.png"))[0]
    code = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import siamese_sdk
        heavy = ("PIL", "click", "importlib.metadata", "zipfile", "siamese_sdk.gallery", "siamese_sdk.tokenizer")
        loaded = lambda: [m for m in heavy if m in sys.modules]
        print("import", loaded())
        m = siamese_sdk.load({str(bundle)!r})
        m.embed(np.zeros((1, *m.manifest.preprocess.shape), np.float32))
        print("embed", loaded())
        m.embed({str(img)!r})
        print("file", "PIL" in sys.modules, siamese_sdk.Gallery.__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["import []", "embed []", "file True Gallery"], out.stdout
