"""The one blocked top-k loop of the numpy searches (flat metrics and a learned head alike).

Queries are taken in blocks of at most ``QUERY_BLOCK`` rows and the gallery in chunks; a caller-supplied
function scores one (block, chunk) pair as ranking keys, **lower = closer**, and ``merge_topk`` keeps each
query's running best ``k``. Ties are broken by gallery row (insertion order, ``smallest``), so the result
is exact and does not depend on the chunking.

Memory: extra memory per search is bounded by about ``max_chunk_bytes`` (default 64 MiB) plus ``O(B·k)``,
whatever ``N``: the gallery is taken in chunks of ``C`` rows with ``C·(16·b + 4·D) <= max_chunk_bytes`` (``b``
the query block; the ``4·D`` term, a dequantised copy of the chunk, only for float16/int8; at least ``k``
rows; a learned head's chunk is sized for its ``(b, C, D)`` difference tensor). ``tests/sdk/test_gallery.py``
checks the bound with ``tracemalloc``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: queries per block in the numpy searches (bounds the (block, chunk) score matrix).
QUERY_BLOCK = 256

#: ``keys(c0, c1) -> (b, c1 - c0) float32`` ranking keys (lower = closer) of gallery rows ``[c0, c1)`` for one query block
ChunkKeys = Callable[[int, int], np.ndarray]
#: ``block(qb (b, D)) -> (chunk rows, ChunkKeys)``: sets up one query block (its buffers, its chunk size)
BlockSetup = Callable[[np.ndarray], tuple[int, ChunkKeys]]


def search_topk(
    queries: np.ndarray, n: int, k: int, block: BlockSetup, first_chunk: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest keys of each query over gallery rows ``[0, n)``, lowest first.

    Args:
        queries: ``(B, D)`` float32.
        n: live gallery rows; k: hits per query, ``1 <= k <= n``.
        block: sets up each query block; see ``BlockSetup``.
        first_chunk: rows of a small first chunk that seeds each query's k-th best cheaply (later chunks are
            then mostly pruned); None: every chunk has the block's size.

    Returns:
        ``rows (B, k) int64`` and ``keys (B, k) float32``.
    """
    b_total = queries.shape[0]
    rows_out = np.empty((b_total, k), dtype=np.int64)
    keys_out = np.empty((b_total, k), dtype=np.float32)
    for q0 in range(0, b_total, QUERY_BLOCK):
        qb = queries[q0 : q0 + QUERY_BLOCK]
        b = qb.shape[0]
        chunk, keys_of = block(qb)
        best_k = np.full((b, k), np.inf, dtype=np.float32)
        best_r = np.full((b, k), -1, dtype=np.int64)
        filled = False
        c0 = 0
        while c0 < n:
            size = chunk if filled or first_chunk is None else max(k, min(chunk, first_chunk))
            c1 = min(c0 + size, n)
            best_k, best_r, filled = merge_topk(keys_of(c0, c1), c0, best_k, best_r, filled)
            c0 = c1
        order = np.lexsort((best_r, best_k), axis=1) if k > 1 else np.zeros((b, 1), dtype=np.int64)
        rows_out[q0 : q0 + b] = np.take_along_axis(best_r, order, axis=1)
        keys_out[q0 : q0 + b] = np.take_along_axis(best_k, order, axis=1)
    return rows_out, keys_out


def chunk_rows(n: int, k: int, budget_bytes: int, bytes_per_row: int) -> int:
    """Gallery rows per chunk: as many as ``budget_bytes`` allows at ``bytes_per_row``, at least ``k``, at most ``n``."""
    return int(min(n, max(k, budget_bytes // bytes_per_row)))


def merge_topk(
    keys: np.ndarray, offset: int, best_k: np.ndarray, best_r: np.ndarray, filled: bool
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Merge a chunk's ``keys (b, c)`` (rows ``offset + j``) into the running top-k ``best_k/best_r (b, k)``.

    After the first chunk only the keys below each query's current k-th best can enter, so usually a single
    comparison pass and a handful of candidates replace a full ``argpartition`` of the chunk.
    """
    b, c = keys.shape
    k = best_k.shape[1]
    if not filled:
        if c > k:
            part = smallest(keys, np.arange(offset, offset + c), k)
            return np.take_along_axis(keys, part, axis=1), part + offset, True
        return keys.copy(), np.broadcast_to(np.arange(offset, offset + c), (b, c)).copy(), True
    tau = best_k.max(axis=1, keepdims=True)
    hits = np.flatnonzero(keys < tau)  # (much faster than a 2-D np.nonzero)
    if hits.size == 0:
        return best_k, best_r, True
    if hits.size > 4 * b * k and c > k:
        # many candidates (early chunks, or a gallery sorted best-last): take the chunk's own top-k first
        part = smallest(keys, np.arange(offset, offset + c), k)
        cand_k = np.concatenate([best_k, np.take_along_axis(keys, part, axis=1)], axis=1)
        cand_r = np.concatenate([best_r, part + offset], axis=1)
    else:
        rr, cc = np.divmod(hits, c)
        per_row = np.bincount(rr, minlength=b)
        width = int(per_row.max())
        starts = np.concatenate([[0], np.cumsum(per_row)[:-1]])
        pos = np.arange(rr.size) - starts[rr] + k
        cand_k = np.full((b, k + width), np.inf, dtype=np.float32)
        cand_r = np.full((b, k + width), -1, dtype=np.int64)
        cand_k[:, :k] = best_k
        cand_r[:, :k] = best_r
        cand_k[rr, pos] = keys[rr, cc]
        cand_r[rr, pos] = cc + offset
    part = smallest(cand_k, cand_r, k)
    return np.take_along_axis(cand_k, part, axis=1), np.take_along_axis(cand_r, part, axis=1), True


def smallest(keys: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """``(b, k)`` column indices of the ``k`` smallest ``keys (b, c)`` per query, ties broken by lower ``rows``.

    ``rows``: the gallery row of each column, ``(c,)`` shared or ``(b, c)``. ``np.argpartition`` picks among
    keys tied at the k-th value arbitrarily, so queries whose tie straddles the k-th place are re-picked
    by a full (key, row) sort; they are rare outside galleries holding the same vector several times.
    """
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(keys, part, axis=1).max(axis=1, keepdims=True)
    for i in np.flatnonzero(np.count_nonzero(keys <= kth, axis=1) > k):
        r = rows if rows.ndim == 1 else rows[i]
        part[i] = np.lexsort((r, keys[i]))[:k]
    return part


def linear_block(
    vec: np.ndarray, n: int, k: int, budget_bytes: int, weight: float, mul: np.ndarray | None, add: np.ndarray | None
) -> BlockSetup:
    """Block setup of a linear ranking key over stored rows: ``key = weight·(q · c) * mul + add``.

    ``vec (N', D)`` holds the stored codes ``c`` (float32/float16/int8; only rows ``[0, n)`` are read);
    ``mul``/``add`` are per-row ``(N',) float32`` factors and terms, or None. Chunks are sized so that the
    ``(b, C)`` keys and (for compact storage) a dequantised ``(C, D)`` copy fit ``budget_bytes``.
    """
    d = vec.shape[1]
    convert = vec.dtype != np.float32

    def block(qb: np.ndarray) -> tuple[int, ChunkKeys]:
        b = qb.shape[0]
        qk = np.ascontiguousarray(qb * np.float32(weight))
        chunk = chunk_rows(n, k, budget_bytes, 16 * b + (4 * d if convert else 0))
        keys = np.empty((b, chunk), dtype=np.float32)
        deq = np.empty((chunk, d), dtype=np.float32) if convert else None

        def keys_of(c0: int, c1: int) -> np.ndarray:
            cn = c1 - c0
            rows = vec[c0:c1]
            if deq is not None:
                np.copyto(deq[:cn], rows, casting="unsafe")
                rows = deq[:cn]
            kv = keys[:, :cn]
            np.matmul(qk, rows.T, out=kv)
            if mul is not None:
                kv *= mul[c0:c1]
            if add is not None:
                kv += add[c0:c1]
            return kv

        return chunk, keys_of

    return block
