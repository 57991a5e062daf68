"""Image folders: class per leaf folder, compact path table, saved index, symlinks followed."""

from __future__ import annotations

import numpy as np
import pytest
from siamese_sdk import BundleError, InputError
from siamese_sdk.tools.imagefolder import ImageFolder


def test_scan_layout_and_subset(tiny_data):
    f = ImageFolder.scan(tiny_data)
    assert len(f.classes) == 12 and len(f) == 96 and f.classes[0].count("/") == 1
    assert all(p.parent.relative_to(tiny_data).as_posix() == f.classes[label] for p, label in zip(f.paths, f.labels, strict=True))
    sub = f.subset([f.classes[3], f.classes[1]])
    assert sub.classes == [f.classes[3], f.classes[1]] and list(np.unique(sub.labels)) == [0, 1]
    assert all(p.parent.name == f.classes[3].split("/")[1] for p, label in zip(sub.paths, sub.labels, strict=True) if label == 0)
    taken = f.take(np.array([5, 0]))
    assert list(taken.paths) == [f.paths[5], f.paths[0]] and list(taken.labels) == [f.labels[5], f.labels[0]]


def test_index_round_trip(tiny_data, tmp_path):
    f = ImageFolder.scan(tiny_data)
    f.save(tmp_path / "index.npz")
    g = ImageFolder.load(tmp_path / "index.npz")
    assert g.classes == f.classes and list(g.paths) == list(f.paths) and np.array_equal(g.labels, f.labels)
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(BundleError, match="unreadable"):
        ImageFolder.load(tmp_path / "bad.npz")


def test_symlinked_class_folders_are_followed(tiny_data, tmp_path):
    (tmp_path / "split").mkdir()
    alphabet = sorted(p for p in tiny_data.iterdir())[0]
    (tmp_path / "split" / alphabet.name).symlink_to(alphabet, target_is_directory=True)
    assert len(ImageFolder.scan(tmp_path / "split").classes) == 3


def test_non_ascii_names(tmp_path, tiny_data):
    src = sorted(tiny_data.rglob("*.png"))[0]
    for c in ("ä", "名前"):
        (tmp_path / c).mkdir()
        (tmp_path / c / "é.png").write_bytes(src.read_bytes())
    f = ImageFolder.scan(tmp_path)
    assert [p.exists() for p in f.paths] == [True, True]


def test_scan_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        ImageFolder.scan(tmp_path / "missing")
    with pytest.raises(InputError, match="no images found"):
        ImageFolder.scan(tmp_path)
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(InputError, match="directly inside"):
        ImageFolder.scan(tmp_path)
