"""``siamese-export DIR`` on a folder without a checkpoint says what the folder holds, which files it looked for,
and what to pass instead, in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402
from siamese_export.cli import main  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _error(folder: Path) -> str:
    r = CliRunner().invoke(main, [str(folder)])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert f"looked for {folder / 'best.pt'} and {folder / 'model.pt'}" in lines[0], lines[0]
    return lines[0]


def test_each_kind_of_folder_is_named_with_what_to_do(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "is an empty folder" in (line := _error(empty)) and "siamese-export runs/demo" in line

    images = tmp_path / "photos" / "alice"
    images.mkdir(parents=True)
    shutil.copy(GOLDEN / "images" / "a1.png", images / "1.png")
    line = _error(tmp_path / "photos")
    assert "is an image folder" in line and f"siamese-train --data {tmp_path / 'photos'}" in line

    bundle = Path(shutil.copytree(GOLDEN / "bundle", tmp_path / "bundle"))
    line = _error(bundle)
    assert "is a bundle folder" in line and f"siamese info {bundle}" in line

    run = tmp_path / "run"
    run.mkdir()
    (run / "split.json").write_text(json.dumps({"root": "x", "train": [], "val": []}))
    line = _error(run)
    assert "is a run folder without a checkpoint" in line and "split.json" in line

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    assert "holds no checkpoint" in (line := _error(other)) and "notes.txt" in line

