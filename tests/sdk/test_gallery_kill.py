"""kill -9 at random points of ``Gallery.save``: the file at the path is absent or one complete saved state.

A forked child saves galleries of a few thousand rows in a loop over one path, each iteration's content a
function of its number (``_content``), and appends the number to a log (one ``write`` syscall, before the save).
The parent kills it with SIGKILL after a random delay (fixed seed), then loads the file: it must be absent (the
first save never finished) or load and equal, bit for bit, the content of a logged iteration. The next child
saves over the same path. Stray files: ``atomic.write_atomic`` removes its temp file on any error it sees, but
a SIGKILL leaves it, so at most one ``.NAME.*.tmp`` per kill may remain beside the file, and nothing else.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from siamese_sdk import Gallery
from siamese_sdk.errors import SiameseError
from siamese_sdk.security import sealed  # noqa: F401  (imported before forking: the child imports nothing)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")]

D = 16
KEY = bytes(range(32))


def _content(it: int) -> tuple[list[str], np.ndarray]:
    """Iteration ``it``'s gallery: 2000..3200 rows (the count varies, so a truncated file cannot pass)."""
    n = 2000 + (it % 7) * 200
    vec = np.random.default_rng(it).standard_normal((n, D), dtype=np.float32)
    return [f"it{it}-{r}" for r in range(n)], vec


def _child(path: Path, log: Path, first: int, key: bytes | None) -> None:
    """Save iteration after iteration over ``path`` until killed; never returns."""
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        it = first
        while True:
            ids, vec = _content(it)
            g = Gallery("f" * 16, D, "euclidean")
            g.add(vec, ids)
            os.write(fd, f"{it}\n".encode())
            g.save(path, key=key)
            it += 1
    finally:
        os._exit(0)


def _kill_loop(tmp: Path, kills: int, key: bytes | None, rng: random.Random) -> dict[str, int]:
    path, log = tmp / "gallery.npz", tmp.parent / f"{tmp.name}.log"
    counts = dict(kills=0, absent=0, loaded_equal=0, loaded_wrong=0)
    seen = False  # a complete file was at the path after some kill: from then on it may never be absent
    for trial in range(kills):
        pid = os.fork()
        if pid == 0:
            _child(path, log, trial * 100_000, key)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        counts["kills"] += 1
        logged = {int(s) for s in log.read_text().split()} if log.exists() else set()
        if not path.exists():
            counts["absent"] += 1
            assert not seen, "a saved gallery vanished"
            continue
        seen = True
        try:
            g = Gallery.load(path, key=key)
            ids = list(g.ids)
            it = int(ids[0].split("-")[0][2:])
            want_ids, want_vec = _content(it)
            ok = it in logged and ids == want_ids and np.array_equal(g.embeddings(), want_vec)
        except (SiameseError, ValueError, IndexError):
            ok = False
        counts["loaded_equal" if ok else "loaded_wrong"] += 1
    stray = [p.name for p in tmp.iterdir() if p.name != path.name]
    bad = [s for s in stray if not (s.startswith(f".{path.name}.") and s.endswith(".tmp"))]
    assert not bad, f"unexpected files beside the gallery: {bad}"
    assert len(stray) <= counts["kills"], f"{len(stray)} temp files after {counts['kills']} kills"
    counts["stray_tmp"] = len(stray)
    return counts


@pytest.mark.parametrize(("mode", "kills", "key"), [("plain", 30, None), ("sealed", 8, KEY)])
def test_kill_during_save(tmp_path: Path, mode: str, kills: int, key: bytes | None) -> None:
    d = tmp_path / mode
    d.mkdir()
    counts = _kill_loop(d, kills, key, random.Random(18 if key is None else 19))
    print(f"kill -9 during Gallery.save ({mode}): {counts}")
    assert counts["loaded_wrong"] == 0, counts
    assert counts["kills"] == kills
    assert counts["absent"] + counts["loaded_equal"] == kills
