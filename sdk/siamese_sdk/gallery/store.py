"""``Gallery``: the embedding store (add, remove, search, save, load); the package docstring has the overview.

The numpy flat search ranks by ``||q - g||² = ||q||² + ||g||² - 2 q·g`` (cosine: ``-q·g/||g||``), one matrix
product per chunk of the gallery (``topk.linear_block``; memory bound there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import metric as metric_mod
from ..errors import BundleError, InputError
from . import codec, io, topk
from .codec import STORAGES
from .faiss import KINDS as FAISS_KINDS
from .faiss import FaissIndex
from .io import METRICS
from .lock import RWLock

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

INDEXES = ("flat", *FAISS_KINDS)
#: gallery rows of the first chunk of a numpy flat search (it seeds the pruning threshold).
FIRST_CHUNK = 2048
#: default bound on the extra memory of one numpy flat search, in bytes.
MAX_CHUNK_BYTES = 64 << 20
#: rows dequantised at a time when a gallery is loaded or its faiss index rebuilt
_LOAD_CHUNK = 65536

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Gallery:
    """Embeddings with string ids for 1:N search; see the package docstring for storage, format and locking.

    Args:
        fingerprint: id of the encoder that makes the embeddings (``model.fingerprint``).
        embedding_dim: D.
        metric: ``"euclidean"``, ``"cosine"`` or ``"learned"``, the bundle's ``manifest.metric``.
        storage: ``"float32"``, ``"float16"`` or ``"int8"``.
        index: ``"flat"`` (numpy, exact), ``"faiss-flat"`` (exact) or ``"faiss-hnsw"`` (approximate).
        max_chunk_bytes: bound on the extra memory of one numpy ``search``.
        hnsw_m, hnsw_ef_construction, hnsw_ef_search: HNSW graph degree and beam widths (``faiss-hnsw``).
        scorer: ``(B, D), (C, D) -> (B, C)`` p(same) of a learned head (``model.distance_matrix``).

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
        scorer: Scorer | None = None,
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
        m = metric_mod.get(metric)
        # the numpy and faiss formulas are distances; a higher-is-closer metric (a learned head's p(same)) is
        # scored by the bundle's own head graph
        self._by_head = m.higher_is_closer
        if self._by_head and index != "flat":
            raise InputError(f"index {index!r} cannot rank a learned head's p(same); use index='flat' for a learned bundle")
        if not isinstance(max_chunk_bytes, int) or max_chunk_bytes < 1:
            raise InputError(f"max_chunk_bytes={max_chunk_bytes!r} invalid; pass a positive int")
        self.fingerprint = fingerprint
        self.embedding_dim = int(embedding_dim)
        self.metric = metric
        self.storage = storage
        self.index = index
        self.max_chunk_bytes = max_chunk_bytes
        self._m = m
        self._scorer = scorer if self._by_head else None
        hnsw = (int(hnsw_m), int(hnsw_ef_construction), int(hnsw_ef_search))
        self._fidx = FaissIndex(index, m, self.embedding_dim, hnsw) if index != "flat" else None
        self._lock = RWLock()
        # Rows [0, _n) of these buffers are live. Invariant: live rows are never changed in place; add
        # writes beyond _n (or into a new, larger buffer) and remove builds new buffers.
        self._n = 0
        self._vec = np.empty((0, self.embedding_dim), dtype=storage)
        self._scale: np.ndarray | None = np.empty(0, np.float32) if storage == "int8" else None
        self._add = np.empty(0, np.float32)  # euclidean: ||g||² of the dequantised vector
        self._mul = np.empty(0, np.float32)  # cosine, compact storage: (int8 scale) / ||g||
        self._ids: list[str] = []
        #: rows still holding an older, compatible encoder's templates (``Gallery.load(old, model=new)``), and
        #: that encoder's fingerprint; None while every row is this encoder's
        self.legacy_fingerprint: str | None = None
        self._legacy = np.empty(0, bool)

    @classmethod
    def for_model(cls, model: SiameseModel, storage: str = "float32", index: str = "flat", **kwargs: Any) -> Gallery:
        """An empty gallery bound to ``model`` (its fingerprint, embedding dim and metric)."""
        if metric_mod.get(model.manifest.metric).higher_is_closer:
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

    @property
    def legacy_count(self) -> int:
        """Rows still on the old encoder's templates (``legacy_fingerprint``); 0 for a gallery of one encoder."""
        with self._lock.read():
            return int(self._legacy[: self._n].sum()) if self._legacy.size else 0

    def legacy_mask(self) -> np.ndarray:
        """``(N,) bool``: True for each row still on the old encoder's template (a copy)."""
        with self._lock.read():
            return self._legacy[: self._n].copy() if self._legacy.size else np.zeros(self._n, bool)

    def embeddings(self) -> np.ndarray:
        """``(N, D) float32``: the stored vectors, dequantised (unit length for ``metric="cosine"``)."""
        with self._lock.read():
            vec, scale = self._vec[: self._n], None if self._scale is None else self._scale[: self._n]
        return codec.dequantize(vec, scale)

    # ---- mutation -----------------------------------------------------------------------------------
    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        """Append ``embeddings (N, D)`` (float, cast to float32) with one id per row.

        Raises ``InputError`` for a wrong shape, NaN/Inf, an id count that differs from N, a non-string or
        empty id, or (``float16``) values beyond its range.
        """
        self._add_rows(embeddings, ids, legacy=False)

    def _add_rows(self, embeddings: np.ndarray, ids: Sequence[str], legacy: bool) -> None:
        """``add``, the rows marked as old-encoder templates when ``legacy`` (``upgrade`` keeps such rows)."""
        e = self._check_embeddings(embeddings, "embeddings")
        id_list = codec.check_ids(ids, e.shape[0])
        if self._m.normalized_inputs:
            e = codec.unit(e)
        vec, scale = codec.quantize(e, self.storage)
        deq = codec.dequantize(vec, scale)
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
            if legacy or self._legacy.size:
                self._grow_legacy(n + m)
                self._legacy[n : n + m] = legacy
            del self._ids[n:]
            self._ids.extend(id_list)
            if self._fidx is not None:
                self._fidx.add(deq)
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
            self._legacy = self._legacy[:n][keep].copy() if self._legacy.size else self._legacy
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
            if self._by_head:
                rows, keys = topk.search_topk(q, n, kk, self._head_block(kk, n))
                scores = self._m.as_distance(keys).astype(np.float32)  # keys are the scores as distances: map them back
            elif self._fidx is not None:
                rows, scores = self._fidx.search(q, kk)
            else:
                rows, scores = self._search_flat(q, kk, n)
            ids_list = self._ids
            ids = np.array([ids_list[r] if r >= 0 else "" for r in rows.ravel()], dtype=str).reshape(rows.shape)
        return ids, scores

    def _search_flat(self, q: np.ndarray, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k over live rows ``[0, n)``: ``(B, k)`` row numbers and float32 scores."""
        if self._m.normalized_inputs:
            q = codec.unit(q)
        # ranking key per gallery row g (lower = closer): euclidean ||g||² - 2 q·g (||q||² is constant per
        # query); cosine -q·g/||g||. With codes c and factors f: key = (q' · c) * f + a.
        l2 = self._has_add()
        block = topk.linear_block(
            self._vec,
            n,
            k,
            self.max_chunk_bytes,
            weight=-2.0 if l2 else -1.0,
            mul=self._mul if self._mul_stored() else self._scale,  # None: float32/float16 euclidean, float32 cosine
            add=self._add if l2 else None,
        )
        rows, keys = topk.search_topk(q, n, k, block, first_chunk=FIRST_CHUNK)
        if l2:
            q2 = np.einsum("ij,ij->i", q, q)[:, None]
            scores = np.sqrt(np.maximum(q2 + keys, np.float32(0.0)))
        else:
            scores = np.float32(1.0) + keys
        return rows, scores.astype(np.float32, copy=False)

    def _head_block(self, k: int, n: int) -> topk.BlockSetup:
        """Block setup scoring through the learned head (``scorer``): keys are its scores as distances."""
        scorer = self._scorer
        if scorer is None:
            raise InputError(
                "a learned-head gallery scores through the bundle's head; make it with Gallery.for_model(model) or Gallery.load(path, model=model)"
            )
        d = self.embedding_dim

        def block(qb: np.ndarray) -> tuple[int, topk.ChunkKeys]:
            # the head holds a (b, C, D) difference tensor and a few copies of it: size the chunk for that
            b = qb.shape[0]

            def keys_of(c0: int, c1: int) -> np.ndarray:
                s = None if self._scale is None else self._scale[c0:c1]
                scores = scorer(qb, codec.dequantize(self._vec[c0:c1], s))
                return self._m.as_distance(np.asarray(scores, dtype=np.float32)).astype(np.float32)

            return topk.chunk_rows(n, k, self.max_chunk_bytes, 16 * b * d + 16 * b), keys_of

        return block

    # ---- persistence --------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, key: bytes | str | None = None, encrypt: bool = False) -> Path:
        """Write the gallery to ``path`` (one ``.npz``, the exact name given) atomically; returns the path.

        A plain file (no ``key``) is checked on load for corruption and its encoder only: whoever can write it can
        enrol, remove or edit ids. ``key`` (32 bytes, ``security.generate_key()``, or a passphrase ``str``) seals it:
        a wrong key or a changed byte is refused (a rollback to an older sealed copy is not); ``encrypt`` also
        encrypts it (``signing`` extra). Adds wait only while the live rows are referenced, not during the write.
        """
        with self._lock.read():
            n = self._n
            vec = self._vec[:n]
            scale = None if self._scale is None else self._scale[:n]
            ids = list(self._ids[:n])
            legacy = self._legacy[:n].copy() if self._legacy[:n].any() else None
        meta = self._meta() | ({"legacy_fingerprint": self.legacy_fingerprint} if legacy is not None else {})
        return io.write(path, meta, ids, vec, scale, key=key, encrypt=encrypt, legacy=legacy)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: SiameseModel | None = None,
        index: str = "flat",
        key: bytes | str | None = None,
        **kwargs: Any,
    ) -> Gallery:
        """Read a gallery written by ``save`` (format in ``gallery.io``).

        Args:
            path: the ``.npz`` file.
            model: when given, the gallery must have been built by this model's encoder (same fingerprint,
                dim and metric), or by an older encoder that ``model``'s bundle declares compatible
                (``manifest.compatibility``, ``siamese-train --compatible-with``), or ``BundleError`` is raised.
                A compatible old gallery is bound to ``model`` from then on: its rows are marked as old templates
                (``legacy_count``), new ``add``s are ``model``'s, and ``save`` writes it as ``model``'s gallery.
            index, kwargs: search settings, as for the constructor (not stored in the file).
            key: the key it was saved with (then it must be sealed and authentic); None: it must be plain.

        Raises:
            BundleError: missing, truncated, corrupt or malformed file; newer format version; another model; a
                sealed file without its key, a plain one with a key, a wrong key or a changed byte.
        """
        f = io.read(path, key=key)
        meta = f.meta
        fingerprint, legacy, legacy_fp = meta["fingerprint"], f.legacy, meta.get("legacy_fingerprint")
        if model is not None:
            io.check_model_meta(meta, model, Path(path))
            if metric_mod.get(meta["metric"]).higher_is_closer:
                kwargs.setdefault("scorer", model.distance_matrix)
            if fingerprint != model.fingerprint:  # an older encoder's gallery that model's bundle declares compatible
                if legacy is not None:
                    raise BundleError(
                        f"{path} still holds templates of encoder {legacy_fp} besides {fingerprint}'s; upgrade them with "
                        f"the bundle of {fingerprint} first (siamese gallery upgrade), then load it with this model"
                    )
                fingerprint, legacy, legacy_fp = model.fingerprint, np.ones(len(f.ids), bool), meta["fingerprint"]
        g = cls(fingerprint, meta["embedding_dim"], meta["metric"], storage=meta["storage"], index=index, **kwargs)
        g._load_rows(f.vectors, f.scales, f.ids)
        if legacy is not None:
            g._legacy, g.legacy_fingerprint = legacy, legacy_fp
        return g

    def check_model(self, model: SiameseModel) -> None:
        """Raise ``BundleError`` unless ``model`` made this gallery's embeddings (fingerprint, dim, metric)."""
        io.check_model_meta(self._meta(), model, "this gallery")

    # ---- internals ----------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        """The file's ``meta`` fields (``gallery.io``) that bind it to its encoder, and its storage."""
        return dict(fingerprint=self.fingerprint, embedding_dim=self.embedding_dim, metric=self.metric, storage=self.storage)

    def _has_add(self) -> bool:
        """Whether rows carry ``||g||²`` (the L2 formula: distances on raw, not unit, vectors)."""
        return not self._by_head and not self._m.normalized_inputs

    def _mul_stored(self) -> bool:
        """Whether rows carry a cosine factor ``scale / ||g||`` (int8 euclidean uses ``_scale`` itself)."""
        return self._m.normalized_inputs and self.storage != "float32"

    def _check_embeddings(self, e: Any, name: str) -> np.ndarray:
        from ..runtime.heads import check_embeddings

        return check_embeddings(e, self.embedding_dim, name)

    def _row_terms(self, deq: np.ndarray, scale: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-row ranking terms of dequantised rows: ``(||g||² or None, scale/||g|| or None)``."""
        add = codec.squared_norms(deq) if self._has_add() else None
        return add, codec.cosine_factors(deq, scale) if self._mul_stored() else None

    def _grow_legacy(self, rows: int) -> None:
        """Make the legacy flags cover ``rows`` rows (new rows False)."""
        if self._legacy.size < rows:
            grown = np.zeros(max(rows, self._vec.shape[0]), bool)
            grown[: self._legacy.size] = self._legacy
            self._legacy = grown

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
            for c0 in range(0, n, _LOAD_CHUNK):
                c1 = min(c0 + _LOAD_CHUNK, n)
                s = None if scale is None else scale[c0:c1]
                add, mul = self._row_terms(codec.dequantize(vec[c0:c1], s), s)
                if add is not None:
                    self._add[c0:c1] = add
                if mul is not None:
                    self._mul[c0:c1] = mul
            self._ids = ids
            self._n = n
            if self._fidx is not None:
                self._rebuild_faiss()

    def _rebuild_faiss(self) -> None:
        self._fidx.reset()
        for c0 in range(0, self._n, _LOAD_CHUNK):
            c1 = min(c0 + _LOAD_CHUNK, self._n)
            s = None if self._scale is None else self._scale[c0:c1]
            self._fidx.add(codec.dequantize(self._vec[c0:c1], s))
