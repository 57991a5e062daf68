"""A run folder's safety: one owner (the lock), resume flags applied or refused, Ctrl-C, readable files,
skipped unreadable images, the thread default, and the CLI's small helpers (--examples, --version, --batch-size)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_sdk.atomic import default_mode  # noqa: E402
from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint, loop  # noqa: E402
from siamese_trainer.cli import main  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402

SMALL = ["--p", "4", "--k", "4", "--batches-per-epoch", "3", "--embedding-dim", "8", "--val-fraction", "0.34", "--threads", "1", "--quiet"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "siamese_trainer.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _wait(pred, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not pred():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory) -> Path:
    """A finished 2-epoch CLI run."""
    out = tmp_path_factory.mktemp("safety") / "run"
    result = CliRunner().invoke(main, ["--data", str(tiny_data), "--out", str(out), "--epochs", "2", *SMALL])
    assert result.exit_code == 0, result.output
    return out


# ---------------------------------------------------------------- one owner


@pytest.mark.slow
def test_a_second_process_is_refused_and_a_stale_lock_is_taken_over(tiny_data, tmp_path):
    out = tmp_path / "run"
    long_run = _cli("--data", str(tiny_data), "--out", str(out), "--epochs", "50", *SMALL)
    first = subprocess.Popen(long_run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait(lambda: (out / "train.lock").exists() and b"pid" in (out / "train.lock").read_bytes())
        second = subprocess.run(long_run, capture_output=True, text=True, env=_env())
        assert second.returncode == 1
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"in use by siamese-train pid {first.pid}" in lines[0], second.stderr
        _wait(lambda: (out / "model.pt").exists())
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert (out / "train.lock").exists()  # kill -9 leaves a stale lock behind
    done = checkpoint.load(out / "model.pt")["epoch"]  # however far the killed run got: one epoch more
    third = subprocess.run(
        _cli("--out", str(out), "--resume", "--epochs", str(done + 1), "--quiet"), capture_output=True, text=True, env=_env()
    )
    assert third.returncode == 0, third.stderr
    assert f"note: took over the stale lock of pid {first.pid}" in third.stdout
    assert not (out / "train.lock").exists()


def test_a_refused_new_run_leaves_no_folder(tmp_path):
    with pytest.raises(InputError, match="--loss"):
        train(TrainConfig(data=str(tmp_path), out=str(tmp_path / "new"), loss="nope"), progress=False)
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------- resume flags


def test_resume_refuses_flags_that_differ_naming_given_and_saved(run):
    before = (run / "model.pt").read_bytes()
    result = CliRunner().invoke(main, ["--out", str(run), "--resume", "--loss", "triplet", "--lr", "0.01", "--quiet"])
    assert result.exit_code == 1
    assert "--loss triplet (saved: ntxent), --lr 0.01 (saved: 0.002)"  # the recipe's picks are saved in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (run / "model.pt").read_bytes() == before


def test_resume_accepts_flags_equal_to_the_saved_ones(run):
    result = CliRunner().invoke(main, ["--out", str(run), "--resume", "--loss", "ntxent", "--p", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "already completed 2 epoch(s)" in result.output


def test_resume_refuses_fewer_epochs_than_done(run):
    result = CliRunner().invoke(main, ["--out", str(run), "--resume", "--epochs", "1", "--quiet"])
    assert result.exit_code == 1 and "--epochs 1 is fewer than the 2 epochs" in result.output


def test_resume_without_epochs_keeps_the_saved_plan(run):
    """--resume alone no longer trains on to the --epochs default (10)."""
    result = CliRunner().invoke(main, ["--out", str(run), "--resume", "--quiet"])
    assert result.exit_code == 0 and "already completed 2 epoch(s)" in result.output
    assert checkpoint.load(run / "model.pt")["epoch"] == 2


def test_resume_with_fewer_epochs_than_planned_stops_there(tiny_data, tmp_path):
    out = tmp_path / "run"
    config = TrainConfig(data=str(tiny_data), out=str(out), epochs=4, p=4, k=4, batches_per_epoch=3, embedding_dim=8, val_fraction=0.34)

    class Stop(Exception):
        pass

    def stop_after_first(line: str) -> None:
        if line.startswith("epoch 2/"):  # logged before epoch 2 is saved: epoch 1 is on disk
            raise Stop

    with pytest.raises(Stop):
        train(config, log=stop_after_first, progress=False)
    assert checkpoint.load(out / "model.pt")["epoch"] == 1
    result = CliRunner().invoke(main, ["--out", str(out), "--resume", "--epochs", "2", "--threads", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    ckpt = checkpoint.load(out / "model.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"]["epochs"] == 2 and "epoch 2/2" in result.output
    assert ckpt["scheduler"]["T_max"] == 2 * 3  # the cosine re-planned to end at epoch 2
    more = CliRunner().invoke(main, ["--out", str(out), "--resume", "--epochs", "3", "--patience", "5", "--quiet"])
    assert more.exit_code == 0 and checkpoint.load(out / "model.pt")["config"]["patience"] == 5


# ---------------------------------------------------------------- Ctrl-C


def _interrupt(cmd: list[str], when) -> subprocess.CompletedProcess:
    from interrupts import default_sigint

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), preexec_fn=default_sigint)
    when(proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_ctrl_c_during_import_and_data_scan_prints_one_line(tmp_path):
    out = tmp_path / "run"
    cmd = _cli("--out", str(out), "--epochs", "1", "--threads", "1", "--quiet")  # the embedded set: a long scan
    during_import = _interrupt(cmd, lambda p: time.sleep(0.8))
    scanning = _interrupt(cmd, lambda p: _wait(lambda: (out / "index.npz").exists()))  # walked; now decoding 6,000 images
    for r in (during_import, scanning):
        assert r.returncode == 130, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "interrupted" in r.stderr and "rerun" in r.stderr
    assert not (out / "model.pt").exists() and not (out / "train.lock").exists()


@pytest.mark.slow
def test_ctrl_c_mid_epoch_keeps_the_last_complete_epoch(tiny_data, tmp_path):
    out = tmp_path / "run"
    small = [a if a != "3" else "40" for a in SMALL]  # 40 batches per epoch: a long epoch to interrupt
    cmd = _cli("--data", str(tiny_data), "--out", str(out), "--epochs", "5", *small)
    r = _interrupt(cmd, lambda p: (_wait(lambda: (out / "model.pt").exists()), time.sleep(0.5)))
    assert r.returncode == 130 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"interrupted; {out / 'model.pt'} holds the last completed epoch: rerun with --resume to continue"
    ]
    done = checkpoint.load(out / "model.pt")["epoch"]
    assert 1 <= done < 5 and r.stdout.count("epoch ") >= done
    assert not list(out.glob(".*.tmp")) and not (out / "train.lock").exists()


# ---------------------------------------------------------------- files and data


def test_run_files_have_ordinary_permissions(run):
    for name in ("model.pt", "best.pt", "metrics.json", "split.json", "index.npz"):
        assert (run / name).stat().st_mode & 0o777 == default_mode(), name


def test_one_unreadable_image_is_skipped_with_a_warning(tiny_data, tmp_path):
    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    bad = sorted(data.rglob("*.png"))[5]
    bad.write_bytes(b"not a png")
    lines: list[str] = []
    config = TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, p=4, k=4, batches_per_epoch=2, embedding_dim=8, val_fraction=0.34)
    train(config, log=lines.append, progress=False)
    warnings = [line for line in lines if line.startswith("warning: skipped")]
    assert len(warnings) == 1 and str(bad) in warnings[0]
    for other in sorted(data.rglob("*.png"))[6:8]:
        other.write_bytes(b"")
    with pytest.raises(InputError, match="3 of .* images under .* are unreadable"):
        train(TrainConfig(**{**config.__dict__, "out": str(tmp_path / "run2")}), log=lines.append, progress=False)


# ---------------------------------------------------------------- threads


def test_thread_default(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(loop, "cpu_count", lambda: 4)
    monkeypatch.setattr(loop, "busy_cpus", lambda seconds=0.2: 0.1)
    assert loop.pick_threads(None)[0] == 4
    monkeypatch.setattr(loop, "busy_cpus", lambda seconds=0.2: 2.7)
    assert loop.pick_threads(None)[0] == 1  # a busy machine: the free CPUs only
    monkeypatch.setattr(loop, "busy_cpus", lambda seconds=0.2: 9.0)
    assert loop.pick_threads(None)[0] == 1
    monkeypatch.setattr(loop, "busy_cpus", lambda seconds=0.2: 0.0)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert loop.pick_threads(None)[0] == 2  # torchrun: the cores split between its processes
    assert loop.pick_threads(3) == (3, "--threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert loop.pick_threads(None) == (2, "OMP_NUM_THREADS")
    assert 0.0 <= loop.busy_cpus(0.05) <= loop.cpu_count() + 0.5


def test_the_first_line_names_the_threads(run):
    result = CliRunner().invoke(main, ["--out", str(run), "--resume", "--threads", "1", "--quiet"])
    lines = [line for line in result.output.splitlines() if not line.startswith("warning: ")]  # data advice comes first
    assert lines[0] == "threads: 1 (--threads)"  # before "already completed ..."


# ---------------------------------------------------------------- small CLI helpers


def test_examples_copies_two_classes_without_training(tmp_path):
    result = CliRunner().invoke(main, ["--examples", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert names == ["LICENSE.omniglot", "a1.png", "a2.png", "a3.png", "b1.png", "b2.png", "b3.png"]
    assert str(tmp_path / "ex" / "a1.png") in result.output and "siamese verify" in result.output
    again = CliRunner().invoke(main, ["--examples", str(tmp_path / "ex")])
    assert again.exit_code == 1 and "exists" in again.output


def test_example_classes_are_unseen_by_the_default_run():
    from siamese_sdk.tools.imagefolder import ImageFolder
    from siamese_trainer.data.images import embedded_root, split_classes
    from siamese_trainer.embedded import EXAMPLE_CLASSES

    _, val = split_classes(ImageFolder.scan(embedded_root()), TrainConfig.val_fraction, TrainConfig.seed)
    assert set(EXAMPLE_CLASSES.values()) <= set(val)


def test_version():
    from siamese_sdk import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output == f"siamese-train, version {__version__}\n"


@pytest.mark.parametrize("flag", ["--batch-size", "--batch_size", "--bs"])
def test_batch_size_names_p_and_k(flag):
    result = CliRunner().invoke(main, ["--out", "x", flag, "64"])
    assert result.exit_code == 2 and "--p classes x --k images per class" in result.output


def test_resume_reads_the_saved_file_list_under_todays_root(tiny_data, tmp_path):
    """An index saved under another root (the embedded set unpacked elsewhere, an older install) still resumes."""
    from siamese_sdk.tools.imagefolder import ImageFolder, PathTable

    out = tmp_path / "run"
    config = TrainConfig(data=str(tiny_data), out=str(out), epochs=1, p=4, k=4, batches_per_epoch=2, embedding_dim=8, val_fraction=0.34)
    train(config, log=lambda s: None, progress=False)
    saved = ImageFolder.load(out / "index.npz")
    moved = Path("/nonexistent/old/root")
    ImageFolder(moved, saved.classes, PathTable(moved, saved.paths.rel), saved.labels).save(out / "index.npz")
    train(TrainConfig(out=str(out), epochs=2), resume=True, log=lambda s: None, progress=False)
    assert checkpoint.load(out / "model.pt")["epoch"] == 2


def test_pseudo_resume_with_fewer_epochs_stops_there(tiny_data, tmp_path):
    out = tmp_path / "pseudo"
    common = ["--p", "4", "--k", "4", "--batches-per-epoch", "2", "--embedding-dim", "8", "--width", "8", "--val-fraction", "0.34"]
    args = ["--data", str(tiny_data), "--pseudo", "--data-b", str(tiny_data), "--out", str(out), "--quiet", "--threads", "1", *common]
    first = CliRunner().invoke(main, [*args, "--epochs", "1"])
    assert first.exit_code == 0, first.output
    # plan 3, then come back with --epochs 2: it stops at 2 (the saved plan of 3 does not win)
    state = checkpoint.load(out / "model.pt")
    state["config"]["epochs"] = 3
    checkpoint.save(out / "model.pt", state)
    again = CliRunner().invoke(main, ["--out", str(out), "--resume", "--epochs", "2", "--quiet"])
    assert again.exit_code == 0, again.output
    assert checkpoint.load(out / "model.pt")["epoch"] == 2 and "epoch 2/2" in again.output
    refused = CliRunner().invoke(main, ["--out", str(out), "--resume", "--size-b", "40", "--quiet"])
    assert refused.exit_code == 1 and "--size-b 40 (saved: None)" in refused.output
