"""``MicroBatcher``: concurrent requests share encoder runs, off the event loop.

Each request hands in its items (uploaded images) and awaits their embeddings ``(n, D)``. One worker thread
prepares (decodes and preprocesses) each request's items and runs the encoder; while it works, new requests queue,
and the next run takes every queued request (up to ``max_rows`` rows) in one ``embed`` call. Preparing in the same
thread saves a thread hop per request (measured: the HTTP work, not the encoder, is most of a small model's cost);
for more cores, run more service processes (``docs/deploy.md``). Nothing waits for a batch to fill: an idle service runs a lone request
at once, and a busy one batches exactly as much as arrived during the previous run (adaptive, no timer to tune).

Rows are independent in the encoder (no cross-row op), and a batch is cut into the same encoder runs a serial
``embed`` makes, so a request gets the embeddings a serial call gives (``tests/sdk/test_serve.py`` checks it with
concurrent clients). ``max_rows=1`` turns batching off (one request a run, still off the event loop).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: rows one encoder call takes at most (several requests' images together)
DEFAULT_MAX_ROWS = 64


class MicroBatcher:
    """Batch the encoder calls of concurrent requests (module docstring); use one per event loop.

    Args:
        prepare: one request's items (a sequence, e.g. uploaded images) -> its encoder rows ``(len(items), ...)``;
            runs in the encoder thread, and an error there fails that request only.
        embed: rows ``(N, ...)`` -> embeddings ``(N, D)``.
        max_rows: rows per encoder call at most (a larger request runs alone).

    Attributes:
        runs: encoder calls made; ``requests``: requests served (``requests / runs``: the mean batch).
    """

    def __init__(
        self,
        prepare: Callable[[Sequence[Any]], np.ndarray],
        embed: Callable[[np.ndarray], np.ndarray],
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows={max_rows} invalid; pass a positive int")
        self._prepare = prepare
        self._embed = embed
        self.max_rows = max_rows
        self._pending: deque[tuple[Sequence[Any], asyncio.Future[np.ndarray]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamese-encoder")
        self.runs = 0
        self.requests = 0

    async def __call__(self, items: Sequence[Any]) -> np.ndarray:
        """The embeddings ``(len(items), D) float32`` of one request's ``items``, from a run shared with others."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((items, fut))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, total = [], 0
            while self._pending and (not batch or total + len(self._pending[0][0]) <= self.max_rows):
                items, fut = self._pending.popleft()
                if fut.cancelled():  # the client went away while queued
                    continue
                batch.append((items, fut))
                total += len(items)
            if not batch:
                continue
            try:
                prepared, out = await loop.run_in_executor(self._pool, self._run, [items for items, _ in batch])
            except Exception as e:  # the encoder failed: every request of the run gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            self.runs += out is not None
            start = 0
            for rows, (_, fut) in zip(prepared, batch, strict=True):
                if isinstance(rows, Exception):
                    result: np.ndarray | Exception = rows
                else:
                    result, start = out[start : start + len(rows)], start + len(rows)
                    self.requests += 1
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)

    def _run(self, requests: list[Sequence[Any]]) -> tuple[list[np.ndarray | Exception], np.ndarray | None]:
        """In the encoder thread: prepare each request (its error kept as its result), then one encoder call."""
        prepared: list[np.ndarray | Exception] = []
        for items in requests:
            try:
                prepared.append(self._prepare(items))
            except Exception as e:  # this request's input is bad: it alone fails
                prepared.append(e)
        rows = [p for p in prepared if not isinstance(p, Exception)]
        if not rows:
            return prepared, None
        return prepared, self._embed(rows[0] if len(rows) == 1 else np.concatenate(rows))

    def close(self) -> None:
        """Stop the worker thread (after the run in progress)."""
        self._pool.shutdown(wait=True)
