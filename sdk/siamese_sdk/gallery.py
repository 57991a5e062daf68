"""``Gallery``: an embedding store for 1:N search, bound to the encoder that made its embeddings.

A gallery holds ``N`` embeddings of dimension ``D`` with one string id each (ids need not be unique:
several embeddings may enrol one identity). ``search`` returns, for each query, the ``k`` closest
entries by the bundle's ``metric``, scored exactly as the bundle's matrix head scores them
(``SiameseModel.distance_matrix``): **scores are distances, lower = closer**; Euclidean distance, or cosine
distance ``1 - cos`` in ``[0, 2]``. So a hit matches when ``score <= model.threshold()``.

Binding: a gallery records its encoder's ``fingerprint`` (``model.fingerprint``, the sha256 prefix of the
encoder file of the loaded variant), ``embedding_dim`` and ``metric``; ``Gallery.load(path, model=...)``
refuses a gallery written by another model (or another variant of it), because embeddings of different
encoders are not comparable.

Storage (``storage=``), per vector of dimension D (ids and the per-row float32 norm/scale not counted):

- ``"float32"`` (default): ``4·D`` bytes; exact.
- ``"float16"``: ``2·D`` bytes; values beyond +-65504 are refused.
- ``"int8"``: ``D + 4`` bytes; **per-vector symmetric** quantisation: ``scale = max|x| / 127``,
  ``code = round(x / scale)`` in ``[-127, 127]``, stored with its float32 ``scale``. Per-vector (not
  per-dimension) so that each ``add`` is quantised on its own: a per-dimension scale would depend on the
  data already stored and would need re-quantising the gallery as it grows.

Scores are computed from the stored (dequantised) vectors, so a compact gallery ranks by an approximation;
``benchmarks/test_gallery_speed.py`` and ``tests/test_gallery.py`` measure the recall@5 cost. For
``metric="cosine"`` the gallery stores L2-normalised vectors (the head normalises anyway).

A ``learned`` bundle (``siamese-train --head learned``) scores with its trained head, p(same), **higher =
closer**: such a gallery holds the model's ``distance_matrix`` (``for_model`` / ``load(..., model=m)``
pass it), searches flat only, chunk by chunk through the head, and returns hits highest first; a hit
matches when ``score >= model.threshold()``.

Search (``index=``):

- ``"flat"`` (default): exact search in numpy, ``||q - g||² = ||q||² + ||g||² - 2 q·g`` with one matrix
  product per chunk of the gallery and a threshold-pruned ``np.argpartition`` top-k. Extra memory per
  ``search`` call is bounded by about ``max_chunk_bytes`` (default 64 MiB) plus ``O(B·k)``, whatever ``N``:
  queries are taken in blocks of at most ``QUERY_BLOCK`` rows and the gallery in chunks of ``C`` rows
  with ``C·(16·b + 4·D) <= max_chunk_bytes`` (``b`` the query block; the ``4·D`` term, a dequantised copy
  of the chunk, only for float16/int8; at least ``k`` rows). ``tests/test_gallery.py`` checks the bound
  with ``tracemalloc``.
- ``"faiss-flat"``, ``"faiss-hnsw"``: the same scores through faiss (``pip install 'siamese-sdk[faiss]'``):
  ``IndexFlatL2``/``IndexFlatIP`` (exact) or ``IndexHNSWFlat`` (approximate: recall below 1, and a query
  may get fewer than ``k`` hits, padded with id ``""`` and score ``inf``). The faiss index is an in-memory
  accelerator holding its own float32 copy of the vectors (``4·D`` bytes more per vector, plus the HNSW
  graph); it is not saved, and is rebuilt on ``load`` and after ``remove``.

Thread-safety: one gallery may be shared by any number of threads. ``search`` (and ``save``, ``ids``,
``embeddings``) take a shared lock and run in parallel with each other; ``add`` and ``remove`` take an
exclusive lock. Hence every search sees the gallery either entirely before or entirely after each
``add``/``remove``, never a half-added batch (rows without ids, or some rows of a batch but not all).
Waiting writers go first, so a stream of searches cannot starve an ``add``. (With ``faiss-hnsw`` an ``add``
holds the exclusive lock while the graph grows, which is slow: enrol in batches.)

File format (``save``/``load``): one uncompressed ``.npz`` (a zip of ``.npy`` members, each with a
CRC-32), written atomically and read with ``allow_pickle=False``:

- ``meta``: 0-d unicode array holding JSON: ``{"format": "siamese-gallery", "format_version": 1,
  "fingerprint", "embedding_dim", "metric", "storage", "count"}``;
- ``ids``: ``(N,)`` unicode; ``vectors``: ``(N, D)`` float32 / float16 / int8 (the stored form);
- ``scales``: ``(N,)`` float32, only for ``int8``.

Norms are recomputed on load. A newer ``format_version``, a missing or malformed member, a truncated or
corrupt file, or a fingerprint that differs from the given model's raise ``BundleError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .atomic import write_atomic
from .errors import BundleError, ExtraMissingError, InputError

if TYPE_CHECKING:
    from .model import SiameseModel

FORMAT = "siamese-gallery"
FORMAT_VERSION = 1
METRICS = ("euclidean", "cosine", "learned")
STORAGES = ("float32", "float16", "int8")
INDEXES = ("flat", "faiss-flat", "faiss-hnsw")
#: queries per block in the numpy flat search (bounds the (block, chunk) score matrix).
QUERY_BLOCK = 256
#: gallery rows of the first chunk of a numpy flat search (it seeds the pruning threshold).
FIRST_CHUNK = 2048
#: default bound on the extra memory of one numpy flat search, in bytes.
MAX_CHUNK_BYTES = 64 << 20
_EPS = np.float32(1e-12)  # as the bundle's cosine head: x / max(||x||, 1e-12)
_F16_MAX = float(np.finfo(np.float16).max)


class _RWLock:
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


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise ExtraMissingError(
            "faiss is not installed; install the extra: pip install 'siamese-sdk[faiss]', or use index='flat'"
        ) from None
    return faiss


def faiss_available() -> bool:
    """Whether ``faiss`` can be imported (the ``[faiss]`` extra)."""
    import importlib.util

    return importlib.util.find_spec("faiss") is not None


class Gallery:
    """Embeddings with string ids for 1:N search; see the module docstring for storage, format and locking.

    Args:
        fingerprint: id of the encoder that makes the embeddings (``model.fingerprint``).
        embedding_dim: D.
        metric: ``"euclidean"`` or ``"cosine"``, the bundle's ``manifest.metric``.
        storage: ``"float32"``, ``"float16"`` or ``"int8"``.
        index: ``"flat"`` (numpy, exact), ``"faiss-flat"`` (exact) or ``"faiss-hnsw"`` (approximate).
        max_chunk_bytes: bound on the extra memory of one numpy ``search``.
        hnsw_m, hnsw_ef_construction, hnsw_ef_search: HNSW graph degree and beam widths (``faiss-hnsw``).

    Prefer ``Gallery.for_model(model, ...)``, which fills in the first three from a loaded bundle.
    """

    def __init__(
        self,
        fingerprint: str,
        embedding_dim: int,
        metric: str,
        storage: str = "float32",
        index: str = "flat",
        *,
        max_chunk_bytes: int = MAX_CHUNK_BYTES,
        hnsw_m: int = 32,
        hnsw_ef_construction: int = 80,
        hnsw_ef_search: int = 64,
        scorer: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if not isinstance(fingerprint, str) or not fingerprint:
            raise InputError(f"fingerprint {fingerprint!r} invalid; pass model.fingerprint (or use Gallery.for_model)")
        if not isinstance(embedding_dim, (int, np.integer)) or embedding_dim < 1:
            raise InputError(f"embedding_dim {embedding_dim!r} invalid; pass a positive int (model.embedding_dim)")
        if metric not in METRICS:
            raise InputError(f"metric {metric!r} unknown; expected one of {list(METRICS)} (model.manifest.metric)")
        if storage not in STORAGES:
            raise InputError(f"storage {storage!r} unknown; expected one of {list(STORAGES)}")
        if index not in INDEXES:
            raise InputError(f"index {index!r} unknown; expected one of {list(INDEXES)}")
        if metric == "learned" and index != "flat":
            raise InputError(f"index {index!r} cannot rank a learned head's p(same); use index='flat' for a learned bundle")
        if not isinstance(max_chunk_bytes, int) or max_chunk_bytes < 1:
            raise InputError(f"max_chunk_bytes={max_chunk_bytes!r} invalid; pass a positive int")
        self.fingerprint = fingerprint
        self.embedding_dim = int(embedding_dim)
        self.metric = metric
        self.storage = storage
        self.index = index
        self.max_chunk_bytes = max_chunk_bytes
        #: ``(B, D), (C, D) -> (B, C)`` p(same) of a learned head (``model.distance_matrix``); None for the built-in metrics
        self._scorer = scorer if metric == "learned" else None
        self._hnsw = (int(hnsw_m), int(hnsw_ef_construction), int(hnsw_ef_search))
        self._faiss = _import_faiss() if index != "flat" else None
        self._lock = _RWLock()
        # Rows [0, _n) of these buffers are live. Invariant: live rows are never changed in place; add
        # writes beyond _n (or into a new, larger buffer) and remove builds new buffers.
        self._n = 0
        self._vec = np.empty((0, self.embedding_dim), dtype=storage)
        self._scale: np.ndarray | None = np.empty(0, np.float32) if storage == "int8" else None
        self._add = np.empty(0, np.float32)  # euclidean: ||g||² of the dequantised vector
        self._mul = np.empty(0, np.float32)  # cosine, compact storage: (int8 scale) / ||g||
        self._ids: list[str] = []
        self._fidx: Any = None
        if self._faiss is not None:
            self._fidx = self._new_faiss_index()

    @classmethod
    def for_model(cls, model: SiameseModel, storage: str = "float32", index: str = "flat", **kwargs: Any) -> Gallery:
        """An empty gallery bound to ``model`` (its fingerprint, embedding dim and metric)."""
        if model.manifest.metric == "learned":
            kwargs.setdefault("scorer", model.distance_matrix)
        return cls(model.fingerprint, model.embedding_dim, model.manifest.metric, storage=storage, index=index, **kwargs)

    # ---- size and contents --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return (
            f"Gallery(n={self._n}, dim={self.embedding_dim}, metric={self.metric!r}, storage={self.storage!r}, "
            f"index={self.index!r}, fingerprint={self.fingerprint!r})"
        )

    @property
    def ids(self) -> np.ndarray:
        """``(N,)`` unicode array of the ids, in insertion order (a copy)."""
        with self._lock.read():
            return np.array(self._ids[: self._n], dtype=str) if self._n else np.empty(0, dtype="<U1")

    @property
    def nbytes(self) -> int:
        """Bytes of the stored vectors and their per-row float32 norm/scale (ids and any faiss index excluded)."""
        with self._lock.read():
            n = self._n
            extra = (self._scale is not None) + self._has_add() + self._mul_stored()
            return n * self._vec.itemsize * self.embedding_dim + 4 * n * extra

    def embeddings(self) -> np.ndarray:
        """``(N, D) float32``: the stored vectors, dequantised (unit length for ``metric="cosine"``)."""
        with self._lock.read():
            vec, scale = self._vec[: self._n], None if self._scale is None else self._scale[: self._n]
        return self._dequantize(vec, scale)

    # ---- mutation -----------------------------------------------------------------------------------
    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        """Append ``embeddings (N, D)`` (float, cast to float32) with one id per row.

        Raises ``InputError`` for a wrong shape, NaN/Inf, an id count that differs from N, a non-string or
        empty id, or (``float16``) values beyond its range.
        """
        e = self._check_embeddings(embeddings, "embeddings")
        id_list = self._check_ids(ids, e.shape[0])
        if self.metric == "cosine":
            e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), _EPS)
        vec, scale = self._quantize(e)
        deq = self._dequantize(vec, scale)
        add, mul = self._row_terms(deq, scale)
        with self._lock.write():
            n, m = self._n, e.shape[0]
            self._reserve(n + m)
            self._vec[n : n + m] = vec
            if scale is not None:
                self._scale[n : n + m] = scale
            if add is not None:
                self._add[n : n + m] = add
            if mul is not None:
                self._mul[n : n + m] = mul
            del self._ids[n:]
            self._ids.extend(id_list)
            if self._fidx is not None:
                self._fidx.add(self._faiss_rows(deq))
            self._n = n + m

    def remove(self, ids: Sequence[str] | str) -> int:
        """Remove every row whose id is in ``ids``; returns how many rows were removed (0 when none matched)."""
        drop = {ids} if isinstance(ids, str) else {str(i) for i in ids}
        with self._lock.write():
            n = self._n
            keep = np.fromiter((i not in drop for i in self._ids[:n]), dtype=bool, count=n)
            removed = int(n - keep.sum())
            if removed == 0:
                return 0
            self._vec = self._vec[:n][keep].copy()
            if self._scale is not None:
                self._scale = self._scale[:n][keep].copy()
            self._add = self._add[:n][keep].copy() if self._has_add() else self._add
            self._mul = self._mul[:n][keep].copy() if self._mul_stored() else self._mul
            self._ids = [i for i, k in zip(self._ids[:n], keep, strict=True) if k]
            self._n = int(keep.sum())
            if self._fidx is not None:
                self._rebuild_faiss()
            return removed

    # ---- search -------------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` closest gallery entries of each query.

        Args:
            queries: ``(B, D)`` float embeddings from the same encoder (cast to float32).
            k: hits per query; capped at ``len(gallery)``.

        Returns:
            ``ids (B, k')`` unicode array and ``scores (B, k') float32`` distances, closest first (for a
            learned head p(same), highest first), where ``k' = min(k, len(gallery))``. Ties are broken by insertion order.

        Raises:
            InputError: empty gallery, bad ``k``, wrong shape, NaN/Inf.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k={k!r} invalid; pass a positive int")
        q = self._check_embeddings(queries, "queries")
        with self._lock.read():
            n = self._n
            if n == 0:
                raise InputError("the gallery is empty; add embeddings (gallery.add) before searching")
            kk = min(int(k), n)
            if self.metric == "learned":
                rows, scores = self._search_learned(q, kk, n)
            elif self._fidx is not None:
                rows, scores = self._search_faiss(q, kk)
            else:
                rows, scores = self._search_flat(q, kk, n)
            ids_list = self._ids
            ids = np.array([ids_list[r] if r >= 0 else "" for r in rows.ravel()], dtype=str).reshape(rows.shape)
        return ids, scores

    def _search_flat(self, q: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over live rows ``[0, n)``: ``(B, k)`` row numbers and float32 scores."""
        b_total, d = q.shape
        if self.metric == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), _EPS)
        rows_out = np.empty((b_total, k), dtype=np.int64)
        keys_out = np.empty((b_total, k), dtype=np.float32)
        has_add = self._has_add()
        mul = self._mul if self._mul_stored() else self._scale  # None for float32/float16 euclidean, float32 cosine
        convert = self.storage != "float32"
        for q0 in range(0, b_total, QUERY_BLOCK):
            qb = q[q0 : q0 + QUERY_BLOCK]
            b = qb.shape[0]
            # ranking key per gallery row g (lower = closer): euclidean ||g||² - 2 q·g (||q||² is constant per
            # query); cosine -q·g/||g||. With codes c and factors f: key = (q' · c) * f + a.
            qk = np.ascontiguousarray(qb * np.float32(-2.0 if self.metric == "euclidean" else -1.0))
            per_row = 16 * b + (4 * d if convert else 0)
            chunk = int(min(n, max(k, self.max_chunk_bytes // per_row)))
            keys = np.empty((b, chunk), dtype=np.float32)
            deq = np.empty((chunk, d), dtype=np.float32) if convert else None
            best_k = np.full((b, k), np.inf, dtype=np.float32)
            best_r = np.full((b, k), -1, dtype=np.int64)
            filled = False
            c0 = 0
            while c0 < n:
                # a small first chunk sets each query's k-th best cheaply; later chunks are then mostly pruned
                c1 = min(c0 + (chunk if filled else max(k, min(chunk, FIRST_CHUNK))), n)
                cn = c1 - c0
                block = self._vec[c0:c1]
                if deq is not None:
                    np.copyto(deq[:cn], block, casting="unsafe")
                    block = deq[:cn]
                kv = keys[:, :cn]
                np.matmul(qk, block.T, out=kv)
                if mul is not None:
                    kv *= mul[c0:c1]
                if has_add:
                    kv += self._add[c0:c1]
                best_k, best_r, filled = _merge_topk(kv, c0, best_k, best_r, filled)
                c0 = c1
            order = np.lexsort((best_r, best_k), axis=1) if best_k.shape[1] > 1 else np.zeros((b, 1), dtype=np.int64)
            rows_out[q0 : q0 + b] = np.take_along_axis(best_r, order, axis=1)
            keys_out[q0 : q0 + b] = np.take_along_axis(best_k, order, axis=1)
        if self.metric == "euclidean":
            q2 = np.einsum("ij,ij->i", q, q)[:, None]
            scores = np.sqrt(np.maximum(q2 + keys_out, np.float32(0.0)))
        else:
            scores = np.float32(1.0) + keys_out
        return rows_out, scores.astype(np.float32, copy=False)

    def _search_learned(self, q: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by the learned head's p(same), highest first: ``(B, k)`` rows and float32 scores."""
        if self._scorer is None:
            raise InputError(
                "a learned-head gallery scores through the bundle's head; make it with Gallery.for_model(model) or Gallery.load(path, model=model)"
            )
        b_total, d = q.shape
        rows_out = np.empty((b_total, k), dtype=np.int64)
        keys_out = np.empty((b_total, k), dtype=np.float32)
        for q0 in range(0, b_total, QUERY_BLOCK):
            qb = q[q0 : q0 + QUERY_BLOCK]
            b = qb.shape[0]
            # the head holds a (b, C, D) difference tensor and a few copies of it: size the chunk for that
            chunk = int(min(n, max(k, self.max_chunk_bytes // (16 * b * d + 16 * b))))
            best_k = np.full((b, k), np.inf, dtype=np.float32)
            best_r = np.full((b, k), -1, dtype=np.int64)
            filled = False
            for c0 in range(0, n, chunk):
                c1 = min(c0 + chunk, n)
                s = None if self._scale is None else self._scale[c0:c1]
                keys = -np.asarray(self._scorer(qb, self._dequantize(self._vec[c0:c1], s)), dtype=np.float32)  # lower = closer
                best_k, best_r, filled = _merge_topk(keys, c0, best_k, best_r, filled)
            order = np.lexsort((best_r, best_k), axis=1) if k > 1 else np.zeros((b, 1), dtype=np.int64)
            rows_out[q0 : q0 + b] = np.take_along_axis(best_r, order, axis=1)
            keys_out[q0 : q0 + b] = np.take_along_axis(best_k, order, axis=1)
        return rows_out, -keys_out

    def _search_faiss(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.metric == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), _EPS)
        dist, rows = self._fidx.search(np.ascontiguousarray(q, dtype=np.float32), k)
        rows = rows.astype(np.int64, copy=False)
        missing = rows < 0
        if self.metric == "euclidean":
            scores = np.sqrt(np.maximum(dist, np.float32(0.0)))
        else:
            scores = np.float32(1.0) - dist
        scores = scores.astype(np.float32, copy=False)
        scores[missing] = np.inf
        return rows, scores

    # ---- persistence --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the gallery to ``path`` (one ``.npz``, the exact name given) atomically; returns the path.

        Concurrent adds wait only while the live rows are referenced, not while the file is written.
        """
        with self._lock.read():
            n = self._n
            vec = self._vec[:n]
            scale = None if self._scale is None else self._scale[:n]
            ids = list(self._ids[:n])
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "embedding_dim": self.embedding_dim,
            "metric": self.metric,
            "storage": self.storage,
            "count": n,
        }
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps(meta)),
            "ids": np.array(ids, dtype=str) if ids else np.empty(0, dtype="<U1"),
            "vectors": vec,
        }
        if scale is not None:
            arrays["scales"] = scale

        def write(p: Path) -> None:
            with open(p, "wb") as f:
                np.savez(f, **arrays)

        return write_atomic(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike, model: SiameseModel | None = None, index: str = "flat", **kwargs: Any) -> Gallery:
        """Read a gallery written by ``save``.

        Args:
            path: the ``.npz`` file.
            model: when given, the gallery must have been built by this model's encoder (same fingerprint,
                dim and metric), or ``BundleError`` is raised.
            index, kwargs: search settings, as for the constructor (not stored in the file).

        Raises:
            BundleError: missing, truncated, corrupt or malformed file; newer format version; another model.
        """
        path = Path(path)
        if not path.is_file():
            hint = "pass the .npz file, not a directory" if path.is_dir() else "check the path, or build one with siamese gallery"
            raise BundleError(f"gallery not found: {path}; {hint}")
        bad = f"gallery {path} is truncated or corrupt"
        try:
            with np.load(path, allow_pickle=False) as z:
                names = set(z.files)
                missing = sorted({"meta", "ids", "vectors"} - names)
                if missing:
                    raise BundleError(
                        f"{path} is not a siamese gallery (no {', '.join(missing)}); build one with siamese gallery"
                    )
                meta = _parse_meta(z["meta"], path)
                ids = z["ids"]
                vec = z["vectors"]
                scale = z["scales"] if "scales" in names else None
        except BundleError:
            raise
        except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise BundleError(f"{bad} ({first}); rebuild it with siamese gallery or Gallery.save") from None
        n, d, storage = meta["count"], meta["embedding_dim"], meta["storage"]
        if ids.dtype.kind != "U" or ids.shape != (n,):
            raise BundleError(f"{path}: ids must be a ({n},) unicode array, got {ids.dtype} {ids.shape}; rebuild the gallery")
        if vec.dtype != np.dtype(storage) or vec.shape != (n, d):
            raise BundleError(f"{path}: vectors are {vec.dtype} {vec.shape}, meta says {storage} ({n}, {d}); rebuild the gallery")
        if storage == "int8":
            if scale is None or scale.dtype != np.float32 or scale.shape != (n,):
                raise BundleError(f"{path}: int8 storage needs ({n},) float32 scales; rebuild the gallery")
            if not np.all(np.isfinite(scale)):
                raise BundleError(f"{path}: scales contain NaN or Inf; rebuild the gallery")
        elif not np.all(np.isfinite(vec)):
            raise BundleError(f"{path}: vectors contain NaN or Inf; rebuild the gallery")
        if model is not None:
            _check_model_meta(meta, model, path)
            if meta["metric"] == "learned":
                kwargs.setdefault("scorer", model.distance_matrix)
        g = cls(meta["fingerprint"], d, meta["metric"], storage=storage, index=index, **kwargs)
        g._load_rows(vec, scale, [str(i) for i in ids])
        return g

    def check_model(self, model: SiameseModel) -> None:
        """Raise ``BundleError`` unless ``model`` made this gallery's embeddings (fingerprint, dim, metric)."""
        _check_model_meta(
            {"fingerprint": self.fingerprint, "embedding_dim": self.embedding_dim, "metric": self.metric}, model, "this gallery"
        )

    # ---- internals ----------------------------------------------------------------------------------
    def _has_add(self) -> bool:
        return self.metric == "euclidean"

    def _mul_stored(self) -> bool:
        """Whether rows carry a cosine factor ``scale / ||g||`` (int8 euclidean uses ``_scale`` itself)."""
        return self.metric == "cosine" and self.storage != "float32"

    def _check_embeddings(self, e: Any, name: str) -> np.ndarray:
        from .model import check_embeddings

        return check_embeddings(e, self.embedding_dim, name)

    @staticmethod
    def _check_ids(ids: Sequence[str], n: int) -> list[str]:
        if isinstance(ids, str):
            raise InputError("ids must be a sequence of strings, one per row, not one string; wrap it: [id]")
        out = list(ids.tolist() if isinstance(ids, np.ndarray) else ids)
        if len(out) != n:
            raise InputError(f"got {n} embeddings but {len(out)} ids; pass one id per row")
        for i in out:
            if not isinstance(i, str) or not i:
                raise InputError(f"id {i!r} invalid; ids must be non-empty strings")
        return out

    def _quantize(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.storage == "float32":
            return e, None
        if self.storage == "float16":
            if np.abs(e).max(initial=0.0) > _F16_MAX:
                raise InputError(f"embedding values exceed the float16 range (+-{_F16_MAX:g}); use storage='float32' or 'int8'")
            return e.astype(np.float16), None
        amax = np.abs(e).max(axis=1)
        scale = (amax / np.float32(127.0)).astype(np.float32)
        safe = np.where(scale > 0, scale, np.float32(1.0))
        codes = np.clip(np.rint(e / safe[:, None]), -127, 127).astype(np.int8)
        return codes, scale

    @staticmethod
    def _dequantize(vec: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
        out = vec.astype(np.float32)
        if scale is not None:
            out *= scale[:, None]
        return out

    def _row_terms(self, deq: np.ndarray, scale: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-row ranking terms of dequantised rows: ``(||g||² or None, scale/||g|| or None)``."""
        add = np.einsum("ij,ij->i", deq, deq).astype(np.float32) if self._has_add() else None
        if not self._mul_stored():
            return add, None
        mul = np.ones(deq.shape[0], np.float32) if scale is None else scale.astype(np.float32)
        return add, (mul / np.maximum(np.sqrt(np.einsum("ij,ij->i", deq, deq)), _EPS)).astype(np.float32)

    def _reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows: a new, larger buffer (live rows copied) when full; amortised O(1)."""
        cap = self._vec.shape[0]
        if rows <= cap:
            return
        new = max(rows, int(cap * 1.5), 1024)
        n = self._n

        def grow(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
            b = np.empty(shape, dtype=a.dtype)
            b[:n] = a[:n]
            return b

        self._vec = grow(self._vec, (new, self.embedding_dim))
        if self._scale is not None:
            self._scale = grow(self._scale, (new,))
        if self._has_add():
            self._add = grow(self._add, (new,))
        if self._mul_stored():
            self._mul = grow(self._mul, (new,))

    def _load_rows(self, vec: np.ndarray, scale: np.ndarray | None, ids: list[str]) -> None:
        """Fill an empty gallery with already quantised rows (from a file), in bounded-memory chunks."""
        n = vec.shape[0]
        with self._lock.write():
            self._vec = np.ascontiguousarray(vec)
            self._scale = None if scale is None else np.ascontiguousarray(scale)
            self._add = np.empty(n if self._has_add() else 0, np.float32)
            self._mul = np.empty(n if self._mul_stored() else 0, np.float32)
            for c0 in range(0, n, 65536):
                c1 = min(c0 + 65536, n)
                s = None if scale is None else scale[c0:c1]
                add, mul = self._row_terms(self._dequantize(vec[c0:c1], s), s)
                if add is not None:
                    self._add[c0:c1] = add
                if mul is not None:
                    self._mul[c0:c1] = mul
            self._ids = ids
            self._n = n
            if self._fidx is not None:
                self._rebuild_faiss()

    # faiss -------------------------------------------------------------------------------------------
    def _new_faiss_index(self) -> Any:
        faiss = self._faiss
        d = self.embedding_dim
        metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        if self.index == "faiss-flat":
            return faiss.IndexFlatL2(d) if self.metric == "euclidean" else faiss.IndexFlatIP(d)
        m, ef_construction, ef_search = self._hnsw
        idx = faiss.IndexHNSWFlat(d, m, metric)
        idx.hnsw.efConstruction = ef_construction
        idx.hnsw.efSearch = ef_search
        return idx

    def _faiss_rows(self, deq: np.ndarray) -> np.ndarray:
        """What faiss indexes: the dequantised rows, re-normalised for cosine (so inner product = cos)."""
        if self.metric == "cosine":
            deq = deq / np.maximum(np.linalg.norm(deq, axis=1, keepdims=True), _EPS)
        return np.ascontiguousarray(deq, dtype=np.float32)

    def _rebuild_faiss(self) -> None:
        self._fidx = self._new_faiss_index()
        for c0 in range(0, self._n, 65536):
            c1 = min(c0 + 65536, self._n)
            s = None if self._scale is None else self._scale[c0:c1]
            self._fidx.add(self._faiss_rows(self._dequantize(self._vec[c0:c1], s)))


def _merge_topk(
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
            part = np.argpartition(keys, k - 1, axis=1)[:, :k]
            return np.take_along_axis(keys, part, axis=1), part + offset, True
        return keys.copy(), np.broadcast_to(np.arange(offset, offset + c), (b, c)).copy(), True
    tau = best_k.max(axis=1, keepdims=True)
    hits = np.flatnonzero(keys < tau)  # (much faster than a 2-D np.nonzero)
    if hits.size == 0:
        return best_k, best_r, True
    if hits.size > 4 * b * k and c > k:
        # many candidates (early chunks, or a gallery sorted best-last): take the chunk's own top-k first
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
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
    part = np.argpartition(cand_k, k - 1, axis=1)[:, :k]
    return np.take_along_axis(cand_k, part, axis=1), np.take_along_axis(cand_r, part, axis=1), True


def _parse_meta(raw: np.ndarray, path: Path) -> dict[str, Any]:
    """Validate the ``meta`` member: format, version, and typed fields."""
    if raw.dtype.kind != "U" or raw.shape != ():
        raise BundleError(f"{path}: meta is not a JSON string; it is not a siamese gallery (build one with siamese gallery)")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise BundleError(f"{path}: meta is not valid JSON ({e}); rebuild the gallery") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{path} is not a siamese gallery (format is not {FORMAT!r}); build one with siamese gallery")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise BundleError(f"{path}: gallery has no valid format_version; rebuild the gallery")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"gallery format version {version} is newer than this siamese-sdk reads ({FORMAT_VERSION}); "
            "upgrade: pip install -U siamese-sdk"
        )
    fields = {"fingerprint": str, "embedding_dim": int, "metric": str, "storage": str, "count": int}
    for key, typ in fields.items():
        if not isinstance(meta.get(key), typ) or isinstance(meta.get(key), bool):
            raise BundleError(f"{path}: gallery meta lacks a valid {key!r}; rebuild the gallery")
    if meta["metric"] not in METRICS or meta["storage"] not in STORAGES or meta["embedding_dim"] < 1 or meta["count"] < 0:
        raise BundleError(
            f"{path}: gallery meta has metric {meta['metric']!r}, storage {meta['storage']!r}, dim {meta['embedding_dim']}, "
            f"count {meta['count']}; rebuild the gallery"
        )
    return meta


def _check_model_meta(meta: dict[str, Any], model: SiameseModel, where: str | Path) -> None:
    """Raise ``BundleError`` (one line, both fingerprints, the fix) unless ``model`` made the gallery ``meta``."""
    if meta["fingerprint"] != model.fingerprint:
        raise BundleError(
            f"{where} was built by encoder {meta['fingerprint']}, but the loaded model is {model.fingerprint} "
            f"({model.path}, variant {model.variant}): a gallery saved by another model (or variant); "
            "rebuild it with this model (siamese gallery BUNDLE IMAGES... -o GALLERY) or load the model that built it"
        )
    if meta["embedding_dim"] != model.embedding_dim or meta["metric"] != model.manifest.metric:
        raise BundleError(
            f"{where} holds {meta['embedding_dim']}-d {meta['metric']} embeddings, the model makes "
            f"{model.embedding_dim}-d {model.manifest.metric}; rebuild the gallery with this model"
        )
