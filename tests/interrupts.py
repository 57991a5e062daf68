"""Sending SIGINT to real ``siamese`` / ``siamese-export`` processes, for the Ctrl-C tests of both."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: ``tests/data/golden``
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
#: the checkout (its sdk/, trainer/ and export/ go on the processes' PYTHONPATH)
ROOT = GOLDEN.parents[2]
#: ``siamese`` from a checkout, printing a line once ``main`` is about to run (the earliest point it controls)
SIAMESE = "import sys; from siamese_sdk.cli import main; print('started', flush=True); main(sys.argv[1:], prog_name='siamese')"
#: ``siamese-export`` from a checkout, likewise
SIAMESE_EXPORT = "import sys; from siamese_export.cli import main; print('started', flush=True); main(sys.argv[1:], prog_name='siamese-export')"


def default_sigint() -> None:
    """``preexec_fn`` of a process that gets a Ctrl-C: SIGINT at its default, as under a terminal, also when the
    suite itself runs with SIGINT ignored (a shell's background job, ``cmd &``, inherits it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env() -> dict[str, str]:
    paths = [str(ROOT / p) for p in ("sdk", "trainer", "export")]
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*paths, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def interrupt(
    args: list[str],
    after: float,
    wait_for: str = "started",
    launch: str = SIAMESE,
    release: Path | None = None,
    ready: Callable[[], bool] | None = None,
) -> tuple[int, str]:
    """Start ``siamese ARGS``, wait for ``wait_for`` on its output, sleep ``after`` s, send SIGINT; (exit code, stdout + stderr).

    ``release``: a FIFO among the inputs (made by ``blocking_input``), which holds the command until the signal
    is sent and is then opened for writing and closed, so that a thread blocked reading it sees end-of-file.
    ``ready``: polled after ``wait_for`` until true (the process still running) before the ``after`` s sleep.
    """
    p = subprocess.Popen(
        [sys.executable, "-c", launch, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        preexec_fn=default_sigint,
    )
    seen = []
    assert p.stdout is not None
    for line in p.stdout:
        seen.append(line)
        if wait_for in line:
            break
    while ready is not None and not ready():
        assert p.poll() is None, "".join(seen) + p.communicate()[0]
        time.sleep(0.02)
    time.sleep(after)
    p.send_signal(signal.SIGINT)
    while release is not None and p.poll() is None:
        try:
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as e:  # ENXIO: nobody is reading it (yet, or any more)
            assert e.errno == errno.ENXIO, e
        time.sleep(0.05)
    rest = p.communicate(timeout=120)[0]
    return p.returncode, "".join(seen) + rest


def assert_interrupted(rc: int, out: str, hint: str) -> None:
    assert rc == 130, out
    assert "Traceback" not in out and "Aborted" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1] == hint, out
    assert sum("interrupted" in line for line in lines) == 1, out


def run_cli(args: list[str], launch: str = SIAMESE) -> subprocess.CompletedProcess:
    """Run ``siamese ARGS`` to the end (stdout and stderr captured)."""
    return subprocess.run([sys.executable, "-c", launch, *args], capture_output=True, text=True, env=_env(), timeout=300)


def blocking_input(folder: Path, name: str) -> Path:
    """A FIFO ``folder/name`` that nothing writes to: a command that opens it (``torch.load`` of a checkpoint) waits
    there, so it cannot finish before a signal sent at any point (until ``interrupt(release=...)`` opens the other end)."""
    path = folder / name
    os.mkfifo(path)
    return path
