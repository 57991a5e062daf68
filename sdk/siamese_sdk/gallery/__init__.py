"""``Gallery``: an embedding store for 1:N search, bound to the encoder that made its embeddings.

A gallery holds ``N`` embeddings of dimension ``D`` with one string id each (ids need not be unique:
several embeddings may enrol one identity). ``search`` returns, for each query, the ``k`` closest
entries by the bundle's ``metric``, scored exactly as the bundle's matrix head scores them
(``SiameseModel.distance_matrix``): **scores are distances, lower = closer**; Euclidean distance, or cosine
distance ``1 - cos`` in ``[0, 2]``. So a hit matches when ``score <= model.threshold()``. For
``metric="cosine"`` the gallery stores L2-normalised vectors (the head normalises anyway).

A ``learned`` bundle (``siamese-train --head learned``) scores with its trained head, p(same), **higher =
closer**: such a gallery holds the model's ``distance_matrix`` (``for_model`` / ``load(..., model=m)``
pass it), searches flat only, chunk by chunk through the head, and returns hits highest first; a hit
matches when ``score >= model.threshold()`` (``siamese_sdk.metric.get(metric).is_match``).

Binding: a gallery records its encoder's ``fingerprint`` (``model.fingerprint``, the sha256 prefix of the
encoder file of the loaded variant), ``embedding_dim`` and ``metric``; ``Gallery.load(path, model=...)``
refuses a gallery written by another model (or another variant of it), because embeddings of different
encoders are not comparable.

The package, one concern per module:

- ``store``: the ``Gallery`` class (add, remove, search, save, load) and its memory-bounded flat search;
- ``codec``: the storage encodings (``storage="float32" | "float16" | "int8"``, bytes per vector, quantisation);
- ``topk``: the one blocked top-k loop and its pruned merge;
- ``faiss``: the optional faiss indexes (``index="faiss-flat" | "faiss-hnsw"``);
- ``io``: the ``.npz`` file format and the model-binding check;
- ``lock``: the reader-writer lock (thread-safety).

``benchmarks/test_gallery_speed.py`` and ``tests/sdk/test_gallery.py`` measure the recall@5 cost of compact storage.
"""

from __future__ import annotations

from .codec import STORAGES
from .faiss import faiss_available
from .io import FORMAT, FORMAT_VERSION, METRICS
from .store import FIRST_CHUNK, INDEXES, MAX_CHUNK_BYTES, Gallery
from .topk import QUERY_BLOCK

__all__ = [
    "FIRST_CHUNK",
    "FORMAT",
    "FORMAT_VERSION",
    "INDEXES",
    "MAX_CHUNK_BYTES",
    "METRICS",
    "QUERY_BLOCK",
    "STORAGES",
    "Gallery",
    "faiss_available",
]
