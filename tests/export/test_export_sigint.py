"""Ctrl-C in real ``siamese-export`` processes: SIGINT as it starts, while it imports torch, and mid-export
(torch.onnx.export) ends in one line ("nothing was written: rerun"), exit 130, no traceback, no bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from interrupts import GOLDEN, SIAMESE_EXPORT, assert_interrupted, interrupt

pytest.importorskip("torch")


def _args(out: Path) -> list[str]:
    return [str(GOLDEN / "image" / "model.pt"), "-o", str(out), "--no-int8"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "after, wait_for",
    # as it starts; importing torch (seconds); inside torch.onnx.export (which imports more of torch lazily)
    [(0.02, "started"), (1.0, "started"), (2.0, "started"), (3.0, "started"), (0.1, "[1/5]"), (0.5, "[1/5]")],
)
def test_sigint_during_export(tmp_path, after, wait_for):
    from siamese_export.cli import main

    rc, out = interrupt(_args(tmp_path / "bundle"), after, wait_for=wait_for, launch=SIAMESE_EXPORT)
    if "bundle written" in out:
        pytest.skip("the export finished before the signal")
    assert_interrupted(rc, out, main.interrupted)
    assert "nothing was written" in main.interrupted and not (tmp_path / "bundle").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]  # no temp folder left
