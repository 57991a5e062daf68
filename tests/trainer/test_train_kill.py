"""kill -9 during siamese-train, then --resume: the run finishes with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")


def _cmd(data, out, *extra):
    return [
        sys.executable,
        "-m",
        "siamese_trainer.cli",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "4",
        "--p",
        "4",
        "--k",
        "4",
        "--batches-per-epoch",
        "6",
        "--embedding-dim",
        "8",
        "--val-fraction",
        "0.34",
        "--threads",
        "1",
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
def test_kill_9_then_resume_matches_uninterrupted(tiny_data, tmp_path):
    from siamese_trainer import checkpoint

    straight = tmp_path / "straight"
    subprocess.run(_cmd(tiny_data, straight), check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(tiny_data, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once at least one epoch is safely on disk, mid-run
        if (killed / "model.pt").exists() and checkpoint.load(killed / "model.pt")["epoch"] >= 1:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted_at = checkpoint.load(killed / "model.pt")["epoch"]
    assert interrupted_at < 4, "the run finished before it could be killed; make it longer"

    subprocess.run(_cmd(tiny_data, killed, "--resume"), check=True, capture_output=True)
    a, b = checkpoint.load(straight / "model.pt"), checkpoint.load(killed / "model.pt")
    assert b["epoch"] == a["epoch"] == 4
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
