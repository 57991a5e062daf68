"""The embedded Omniglot subset ships as one packed file and unpacks to the same pixels in the same order."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile

import numpy as np
from PIL import Image
from siamese_sdk.tools.imagefolder import ImageFolder
from siamese_trainer import embedded

#: sha256 over (relative path, decoded pixels, label) of every image in ImageFolder.scan order, computed on
#: the 6,000 PNG files the package shipped before it was packed: the default run trains on exactly these
PIXELS_DIGEST = "ca8e9441ba6082a739f6b8d822fc4f00b552ac0bb458ea664be7348389f466f9"


def _digest(root) -> str:
    folder = ImageFolder.scan(root)
    h = hashlib.sha256()
    for path, label in zip(folder.paths, folder.labels, strict=True):
        h.update(str(path.relative_to(root)).encode())
        h.update(np.asarray(Image.open(path)).tobytes())
        h.update(int(label).to_bytes(4, "little"))
    return h.hexdigest()


def test_the_package_carries_one_pack_with_the_licence():
    files = sorted(p.name for p in embedded.package_dir().iterdir())
    assert files == ["LICENSE", "README.md", "images.zip"]
    with zipfile.ZipFile(embedded.pack_path()) as z:
        assert len(z.namelist()) == 6000 and all(n.endswith(".png") for n in z.namelist())


def test_unpacked_folder_has_the_same_pixels_in_the_same_order(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMESE_SDK_CACHE", str(tmp_path / "cache"))
    root = embedded.embedded_root()
    assert root.is_relative_to(tmp_path / "cache") and (root / "LICENSE").is_file()
    folder = ImageFolder.scan(root)
    assert len(folder) == 6000 and len(folder.classes) == 300
    assert _digest(root) == PIXELS_DIGEST
    assert embedded.embedded_root() == root  # unpacked once


def test_concurrent_first_use_unpacks_one_folder(tmp_path):
    env = {**os.environ, "SIAMESE_SDK_CACHE": str(tmp_path / "cache")}
    code = "from siamese_trainer.embedded import embedded_root; print(embedded_root())"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    roots = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs) and len(roots) == 1
    assert sorted(os.listdir(tmp_path / "cache" / "datasets")) == [os.path.basename(roots.pop())]  # no temp folder left
