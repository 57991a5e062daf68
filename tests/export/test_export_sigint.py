"""Ctrl-C in real ``siamese-export`` processes: SIGINT as it starts, while it imports torch, and mid-export
(torch.onnx.export) ends in one line ("nothing was written: rerun"), exit 130, no traceback, no bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from interrupts import GOLDEN, SIAMESE_EXPORT, assert_interrupted, blocking_input, interrupt

pytest.importorskip("torch")


def _args(out: Path, checkpoint: Path = GOLDEN / "image" / "model.pt") -> list[str]:
    return [str(checkpoint), "-o", str(out), "--no-int8"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "after, wait_for",
    # as it starts; importing torch (seconds); inside torch.onnx.export (which imports more of torch lazily)
    [(0.02, "started"), (1.0, "started"), (2.0, "started"), (3.0, "started"), (0.1, "[1/5]"), (0.5, "[1/5]")],
)
def test_sigint_during_export(tmp_path, after, wait_for):
    from siamese_export.cli import main

    checkpoint, held = GOLDEN / "image" / "model.pt", None
    if wait_for == "started":  # a checkpoint it waits for: the signal lands before the export can end, on any CPU
        (tmp_path / "run").mkdir()
        checkpoint = held = blocking_input(tmp_path / "run", "model.pt")
    rc, out = interrupt(_args(tmp_path / "bundle", checkpoint), after, wait_for=wait_for, launch=SIAMESE_EXPORT, release=held)
    assert "bundle written" not in out, out  # torch.onnx.export of even this tiny encoder takes seconds
    assert_interrupted(rc, out, main.interrupted)
    assert "nothing was written" in main.interrupted and not (tmp_path / "bundle").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]  # no temp folder left
