"""The gallery's reader-writer lock.

One gallery may be shared by any number of threads. ``search`` (and ``save``, ``ids``, ``embeddings``) take
the shared side and run in parallel with each other; ``add`` and ``remove`` take the exclusive side. Hence
every search sees the gallery either entirely before or entirely after each ``add``/``remove``, never a
half-added batch (rows without ids, or some rows of a batch but not all). Waiting writers go first, so a
stream of searches cannot starve an ``add``. (With ``faiss-hnsw`` an ``add`` holds the exclusive side while
the graph grows, which is slow: enrol in batches.)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no writer starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
