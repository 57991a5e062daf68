"""``MicroBatcher``: concurrent requests share encoder runs, off the event loop.

Each request hands in its preprocessed rows ``(n, C, H, W) float32`` and awaits its embeddings ``(n, D)``. One
worker thread runs the encoder; while it runs, new requests queue, and the next run takes every queued request (up
to ``max_rows`` rows) in one ``embed`` call. Nothing waits for a batch to fill: an idle service runs a lone request
at once, and a busy one batches exactly as much as arrived during the previous run (adaptive, no timer to tune).

Rows are independent in the encoder (no cross-row op), and a batch is cut into the same encoder runs a serial
``embed`` makes, so a request gets the embeddings a serial call gives (``tests/sdk/test_serve.py`` checks it with
concurrent clients). ``max_rows=1`` turns batching off (one request a run, still off the event loop).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: rows one encoder call takes at most (several requests' images together)
DEFAULT_MAX_ROWS = 64


class MicroBatcher:
    """Batch ``embed (N, ...) -> (N, D)`` calls of concurrent requests (module docstring); use one per event loop.

    Attributes:
        runs: encoder calls made; ``requests``: requests served (``requests / runs``: the mean batch).
    """

    def __init__(self, embed: Callable[[np.ndarray], np.ndarray], max_rows: int = DEFAULT_MAX_ROWS) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows={max_rows} invalid; pass a positive int")
        self._embed = embed
        self.max_rows = max_rows
        self._pending: deque[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamese-encoder")
        self.runs = 0
        self.requests = 0

    async def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The embeddings ``(n, D) float32`` of ``rows`` ``(n, ...)``, from a run shared with other requests."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((rows, fut))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, total = [], 0
            while self._pending and (not batch or total + len(self._pending[0][0]) <= self.max_rows):
                rows, fut = self._pending.popleft()
                if fut.cancelled():  # the client went away while queued
                    continue
                batch.append((rows, fut))
                total += len(rows)
            if not batch:
                continue
            x = batch[0][0] if len(batch) == 1 else np.concatenate([r for r, _ in batch])
            try:
                out = await loop.run_in_executor(self._pool, self._embed, x)
            except Exception as e:  # the encoder failed: every request of the run gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.runs += 1
            self.requests += len(batch)
            start = 0
            for rows, fut in batch:
                if not fut.done():
                    fut.set_result(out[start : start + len(rows)])
                start += len(rows)

    def close(self) -> None:
        """Stop the worker thread (after the run in progress)."""
        self._pool.shutdown(wait=True)
