"""Ctrl-C in real ``siamese`` processes: SIGINT at a few points (as the command starts, while it imports
onnxruntime and loads the bundle, mid-work) ends in one line naming how to continue, exit 130, no traceback.
Uses the checked-in golden bundle (no torch)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from interrupts import GOLDEN, assert_interrupted, interrupt, run_cli

BUNDLE = GOLDEN / "bundle"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))
EMBED_HINT = "interrupted; the rows embedded so far are kept: rerun the same command to resume"


@pytest.fixture(scope="module")
def many_images(tmp_path_factory) -> Path:
    """3,000 images (links to the six golden ones): seconds of work at batch size 1."""
    d = tmp_path_factory.mktemp("many")
    for i in range(3000):
        os.link(IMAGES[i % len(IMAGES)], d / f"{i:05d}.png")
    return d


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.02, 0.1, 0.3])  # as main starts; importing onnxruntime / loading the bundle
def test_sigint_early_and_during_imports(tmp_path, after, many_images):
    # 3,000 images one at a time: seconds of work after the imports, so the signal always lands before the end
    args = ["embed", str(BUNDLE), str(many_images), "-o", str(tmp_path / "e.npy"), "--batch-size", "1", "--threads", "1"]
    rc, out = interrupt(args, after)
    assert "wrote " not in out, out
    assert_interrupted(rc, out, EMBED_HINT)
    assert not (tmp_path / "e.npy").exists()


def _embedded_rows(partial: Path) -> Callable[[], bool]:
    """Whether ``siamese embed`` has written its second row into ``partial`` (rows start as zeros): the first row
    is then counted as done (at batch size 1, a row is counted before the next one is embedded)."""

    def check() -> bool:
        try:
            return bool(np.any(np.load(partial, mmap_mode="r")[1] != 0))
        except (OSError, ValueError, IndexError):  # not created, or its header not written yet
            return False

    return check


@pytest.mark.slow
def test_sigint_mid_embed_names_the_rerun_and_the_rerun_resumes(tmp_path, many_images):
    out_npy = tmp_path / "e.npy"
    args = ["embed", str(BUNDLE), str(many_images), "-o", str(out_npy), "--batch-size", "1", "--threads", "1"]
    ready = _embedded_rows(out_npy.with_suffix(".partial.npy"))  # the signal comes after the first row is done
    rc, out = interrupt(args, 0, wait_for="embedding 3000 images", ready=ready)
    assert_interrupted(rc, out, EMBED_HINT)
    assert not out_npy.exists() and out_npy.with_suffix(".partial.json").exists()
    done = run_cli(args)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr and out_npy.exists()


@pytest.mark.slow
def test_sigint_in_other_commands_says_nothing_was_written(tmp_path, many_images):
    from siamese_sdk.cli.common import INTERRUPTED

    args = ["gallery", str(BUNDLE), str(many_images), "-o", str(tmp_path / "g.npz"), "--batch-size", "1"]
    rc, out = interrupt(args, 0.1, wait_for="embedding 3000 images")  # 3,000 images embed in about a second here
    assert_interrupted(rc, out, INTERRUPTED)
    assert not (tmp_path / "g.npz").exists()


@pytest.fixture
def terminal_sigint():
    """SIGINT raising KeyboardInterrupt in this process, as under a terminal, also when the suite runs with SIGINT
    ignored (a shell's background job); the previous handler afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_an_error_caused_by_a_sigint_is_an_interrupt(tmp_path, terminal_sigint):
    """An interrupted ``import torch`` can end in ``ImportError: cannot load module more than once per process``
    (torch's wrapping, not a KeyboardInterrupt): after a SIGINT, any error is the interrupt line and exit 130."""
    import click
    from click.testing import CliRunner
    from siamese_sdk.cli.common import FriendlyCommand
    from siamese_sdk.errors import ExtraMissingError

    @click.command(cls=FriendlyCommand, interrupted="interrupted; rerun it")
    @click.argument("kind")
    def cmd(kind: str) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            if kind == "import":
                raise ImportError("cannot load module more than once per process") from None
            raise ExtraMissingError("torch is not installed") from None

    for kind in ("import", "siamese"):
        r = CliRunner().invoke(cmd, [kind])
        assert r.exit_code == 130 and r.output == "interrupted; rerun it\n", r.output
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    r = CliRunner().invoke(cmd, ["--bad"])  # without a SIGINT, errors are what they were
    assert r.exit_code == 2
