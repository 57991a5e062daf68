"""Atomic writes: a reader sees the old file (or directory) or the new one, never a partial one."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def default_mode(directory: bool = False) -> int:
    """The mode ``open()`` / ``mkdir()`` would give a new file (``0o666``) or folder (``0o777``) under the current
    umask: ``mkstemp``/``mkdtemp`` create theirs private (0600 / 0700), which is wrong for outputs."""
    return (0o777 if directory else 0o666) & ~_umask()


def _umask() -> int:
    """The process umask: from ``/proc/self/status`` where Linux has it, else by setting and restoring it."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere the umask can only be read by setting it (briefly, for this process)
        umask = os.umask(0o022)
        os.umask(umask)
    return umask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], mode: int | None = None) -> Path:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, fsync it, then rename it onto ``path``.

    ``mode``: the file's permission bits (default: ``0o666`` less the umask, as ``open()`` gives; pass ``0o600``
    for a secret). Returns the final path. On any error the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _hold(fd)  # held until the rename: a later save sweeps the temp file only once this process is gone
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, default_mode() if mode is None else mode)
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    _fsync_dir(path.parent)
    return path


#: a temp file younger than this (seconds) is never swept: its writer may not hold its lock yet
_SWEEP_MIN_AGE = 2.0
#: without ``flock`` (Windows), a temp file is swept once it is this old (seconds)
_SWEEP_AGE_NO_LOCKS = 86400.0


def _hold(fd: int) -> None:
    """Take an exclusive ``flock`` on ``fd`` (a temp file being written), where the OS has ``flock``."""
    with contextlib.suppress(ImportError, OSError):
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _abandoned(tmp: Path) -> bool:
    """Whether the temp file ``tmp`` belongs to no live writer: old enough and its ``flock`` free (or, without
    ``flock``, older than a day)."""
    try:
        age = time.time() - tmp.lstat().st_mtime
    except OSError:
        return False
    if age < _SWEEP_MIN_AGE or tmp.is_symlink():
        return False
    try:
        import fcntl
    except ImportError:
        return age > _SWEEP_AGE_NO_LOCKS
    try:
        fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live writer holds it
    finally:
        os.close(fd)
    return True


def sweep_stale(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files ``.NAME.*.tmp`` that killed saves of ``path`` left beside it (not those of a save
    still running); returns the paths removed. ``write_atomic`` calls it before every save."""
    path = Path(path)
    removed = []
    with contextlib.suppress(OSError):
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            if _abandoned(tmp):
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed.append(tmp)
    return removed


def write_bytes_atomic(path: str | os.PathLike, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (``mode`` as for ``write_atomic``)."""
    return write_atomic(path, lambda p: p.write_bytes(data), mode=mode)


def write_text_atomic(path: str | os.PathLike, text: str, mode: int | None = None) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (``mode`` as for ``write_atomic``)."""
    return write_bytes_atomic(path, text.encode("utf-8"), mode=mode)


@contextlib.contextmanager
def atomic_directory(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp directory beside ``dest``; on success it replaces ``dest`` (mode ``0o777`` less the umask).

    On error (or a kill) the temp directory is the only thing left behind, named ``.NAME.tmp-*``,
    and an existing ``dest`` is untouched. Replacing an existing ``dest`` renames it aside first, so a
    crash between the two renames leaves no bundle at ``dest`` rather than a mixed one.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would become the bundle's
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
