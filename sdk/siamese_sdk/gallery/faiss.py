"""The optional faiss accelerator of a gallery (``pip install 'siamese-sdk[faiss]'``).

``"faiss-flat"``: ``IndexFlatL2`` (euclidean) / ``IndexFlatIP`` on unit vectors (cosine), exact;
``"faiss-hnsw"``: ``IndexHNSWFlat``, approximate: recall below 1, and a query may get fewer than ``k`` hits,
padded with row ``-1`` and score ``inf``. The index holds its own float32 copy of the vectors (``4·D`` bytes
more per vector, plus the HNSW graph); it is never saved, and is rebuilt on ``load`` and after ``remove``.
Scores are the gallery's: euclidean distance, or cosine distance ``1 - cos``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ExtraMissingError
from ..metric import Metric
from .codec import unit

#: the faiss index kinds a gallery may use
KINDS = ("faiss-flat", "faiss-hnsw")


def import_faiss() -> Any:
    """The ``faiss`` module; ``ExtraMissingError`` naming the extra when it is not installed."""
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


class FaissIndex:
    """A faiss index over dequantised gallery rows of one ``metric`` (euclidean or cosine).

    Args:
        kind: ``"faiss-flat"`` or ``"faiss-hnsw"``.
        metric: the gallery's metric; unit-input metrics (cosine) are indexed by inner product.
        dim: D.
        hnsw: ``(M, efConstruction, efSearch)`` of the HNSW graph.
    """

    def __init__(self, kind: str, metric: Metric, dim: int, hnsw: tuple[int, int, int]) -> None:
        self._faiss = import_faiss()
        self.kind, self.metric, self.dim, self._hnsw = kind, metric, dim, hnsw
        self._index = self._new()

    def _new(self) -> Any:
        faiss, d = self._faiss, self.dim
        inner = self.metric.normalized_inputs
        if self.kind == "faiss-flat":
            return faiss.IndexFlatIP(d) if inner else faiss.IndexFlatL2(d)
        m, ef_construction, ef_search = self._hnsw
        idx = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT if inner else faiss.METRIC_L2)
        idx.hnsw.efConstruction = ef_construction
        idx.hnsw.efSearch = ef_search
        return idx

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(unit(x) if self.metric.normalized_inputs else x, dtype=np.float32)

    def reset(self) -> None:
        """Drop every row (a new, empty index)."""
        self._index = self._new()

    def add(self, deq: np.ndarray) -> None:
        """Append dequantised rows ``(N, D) float32``."""
        self._index.add(self._rows(deq))

    def search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``rows (B, k) int64`` (-1: no hit) and ``scores (B, k) float32`` (``inf`` where no hit), closest first."""
        dist, rows = self._index.search(self._rows(q), k)
        rows = rows.astype(np.int64, copy=False)
        scores = (np.float32(1.0) - dist) if self.metric.normalized_inputs else np.sqrt(np.maximum(dist, np.float32(0.0)))
        scores = scores.astype(np.float32, copy=False)
        scores[rows < 0] = np.inf
        return rows, scores
