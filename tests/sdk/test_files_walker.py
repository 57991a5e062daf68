"""``tools.files``: the one image walker (order, suffixes, hidden files, symlinks, loops) and its users agree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from siamese_sdk import InputError
from siamese_sdk.tools.files import find_images, iter_images, walk
from siamese_sdk.tools.imagefolder import ImageFolder


def make(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_order_suffixes_hidden_and_non_files(tmp_path):
    make(tmp_path, "b/x.png", "b.png", "a-b/y.PNG", "a/z.jpg", "a/notes.txt", ".hidden/h.png", "c/d/deep.bmp", "B/up.png")
    (tmp_path / "dir.png").mkdir()  # a folder with an image suffix is walked, not listed
    make(tmp_path, "dir.png/in.gif")
    (tmp_path / "broken.png").symlink_to(tmp_path / "missing.png")  # a broken link is not an image file
    (tmp_path / "linked.png").symlink_to(tmp_path / "b.png")  # a link to an image file is
    got = [os.path.relpath(p, tmp_path) for p in walk(tmp_path)]
    assert got == [
        ".hidden/h.png",
        "B/up.png",
        "a/z.jpg",
        "a-b/y.PNG",
        "b/x.png",
        "b.png",
        "c/d/deep.bmp",
        "dir.png/in.gif",
        "linked.png",
    ]
    assert [str(p) for p in find_images([tmp_path])] == list(walk(tmp_path)) == list(iter_images([tmp_path]))


def test_symlinked_folders_followed_only_on_request_and_loops_skipped(tmp_path):
    make(tmp_path, "data/cls/1.png", "elsewhere/cls2/2.png")
    (tmp_path / "data" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "data" / "cls" / "loop").symlink_to(tmp_path / "data", target_is_directory=True)
    root = tmp_path / "data"
    assert list(walk(root)) == [str(root / "cls/1.png")]
    assert list(walk(root, follow_symlinks=True)) == [str(root / "cls/1.png"), str(root / "link/cls2/2.png")]
    assert ImageFolder.scan(root).classes == ["cls", "link/cls2"]  # the labelled scan follows links, never loops


def test_spelling_follows_the_argument(tmp_path, monkeypatch):
    make(tmp_path, "t/a/1.png")
    assert list(walk(str(tmp_path / "t") + "/")) == [str(tmp_path / "t/a/1.png")]
    monkeypatch.chdir(tmp_path / "t")
    assert list(walk(".")) == ["a/1.png"] == [str(p) for p in find_images(["."])]
    assert ImageFolder.scan(".").classes == ["a"]


def test_imagefolder_lists_the_walk(tiny_data):
    folder = ImageFolder.scan(tiny_data)
    assert sorted(map(str, folder.paths)) == sorted(walk(tiny_data))
    by_class: dict[str, list[str]] = {}
    for p in walk(tiny_data):
        by_class.setdefault(Path(p).parent.relative_to(tiny_data).as_posix(), []).append(p)
    assert [str(p) for p in folder.paths] == [p for c in sorted(by_class) for p in by_class[c]]


def test_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        list(iter_images([tmp_path / "empty"]))
    with pytest.raises(InputError, match="image not found"):
        find_images([tmp_path / "missing.png"])
    assert list(walk(tmp_path / "missing")) == []

