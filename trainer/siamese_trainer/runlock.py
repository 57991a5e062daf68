"""One process owns a run folder: ``RUN_DIR/train.lock`` holds the owner's pid and host while it trains.

``hold(out)`` takes the lock before the run reads or writes anything and releases it at exit (normal end,
error, Ctrl-C). A second process on the same folder is refused in one line naming the owner's pid and host.
On POSIX the file is also ``flock``-ed, so a lock left by a process that died (``kill -9``, power loss) is
stale as soon as that process is gone: it is taken over with a one-line note. Without ``flock`` (Windows)
a lock is stale when its pid no longer runs on this host.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from siamese_sdk.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "train.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path: Path) -> dict:
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(path.read_text())
        if isinstance(info, dict):
            return info
    return {}


def _refuse(out: Path, info: dict) -> InputError:
    return InputError(
        f"{out} is in use by siamese-train pid {info.get('pid', '?')} on {info.get('host', '?')}; "
        f"wait for it to finish or choose another --out (if that process is gone, delete {out / LOCK_NAME})"
    )


def _open_locked(path: Path, out: Path) -> tuple[int, dict]:
    """Open ``path`` and take its flock; returns ``(fd, previous holder)``."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refuse(out, _holder(path)) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file the previous owner unlinked while we opened it
            return fd, _holder(path)
        os.close(fd)


def _open_exclusive(path: Path, out: Path) -> tuple[int, dict]:
    """Without flock: create ``path`` exclusively, taking over a lock whose pid is gone from this host."""
    previous: dict = {}
    for _ in range(2):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), previous
        except FileExistsError:
            previous = _holder(path)
            pid = previous.get("pid")
            if previous.get("host") != socket.gethostname() or not isinstance(pid, int) or _alive(pid):
                raise _refuse(out, previous) from None
            path.unlink(missing_ok=True)
    raise _refuse(out, _holder(path))


@contextlib.contextmanager
def hold(out: str | os.PathLike, log: Callable[[str], None] = print) -> Iterator[Path]:
    """Own ``out`` (created if missing; removed again at exit if the run left nothing in it) while the block runs.

    Raises ``InputError`` when another live process owns it.
    """
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd, previous = (_open_locked if fcntl is not None else _open_exclusive)(path, out)
    try:
        if previous.get("pid") not in (None, os.getpid()):
            log(f"note: took over the stale lock of pid {previous['pid']} on {previous.get('host', '?')} (that process is gone)")
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n").encode())
        os.fsync(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # closing releases the flock
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if empty: a run refused before it wrote anything leaves no folder
