"""The run folder's files (``model.pt``, ``best.pt``, ``metrics.json``, ``split.json``, ``index.npz``): written
atomically (``siamese_sdk.atomic``) with the permissions of an ordinary file, ``0666`` less the umask (0644
under the usual 022), not the ``0600`` of the temp file the atomic writer renames into place."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from siamese_sdk import atomic


@functools.cache
def file_mode() -> int:
    """``0o666 & ~umask``: the mode ``open()`` gives a new file (the umask read once, without changing it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """``siamese_sdk.atomic.write_atomic`` with an ordinary file's mode, set before the rename."""

    def write_public(p: Path) -> None:
        write(p)
        os.chmod(p, file_mode())

    return atomic.write_atomic(path, write_public)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically, with an ordinary file's mode."""
    return write_atomic(path, lambda p: p.write_bytes(text.encode("utf-8")))


def make_ordinary(path: str | os.PathLike) -> None:
    """Give a file another writer made (``ImageFolder.save``) an ordinary file's mode."""
    os.chmod(path, file_mode())
