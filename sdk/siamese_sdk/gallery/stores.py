"""Gallery stores: one protocol for where enrolled embeddings live, and ``open_store`` that picks one from a URI.

A store has the ``Gallery`` semantics (``add``, ``remove``, ``search``, ``len``): string ids (several rows may share
one), scores as the bundle's head scores them (distances, lower = closer), closest first, capped at the store's
size; ``InputError`` for bad embeddings or ids, and for a search of an empty store. Every store records the
fingerprint of the encoder that made its embeddings and refuses another model in one line, and every store keeps
its enrolments across a restart:

- ``PATH.npz``: ``NpzStore``, a ``Gallery`` in memory, saved atomically to its file after each change;
- ``milvus:PATH.db``: ``MilvusStore`` on Milvus Lite (embedded, a local folder; extra ``milvus``);
- ``milvus:http://HOST:PORT``: ``MilvusStore`` on a Milvus server or cluster (the same client and collection
  layout; ``MILVUS_TOKEN`` in the environment authenticates, ``user:password`` or an API key).

Either Milvus form takes ``?collection=NAME`` (default ``siamese_gallery``): one collection per model.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError
from .store import Gallery

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

#: the collection a ``milvus:`` URI without ``?collection=`` uses
DEFAULT_COLLECTION = "siamese_gallery"
#: what ``open_store`` accepts, for messages
URI_FORMS = "PATH.npz, milvus:PATH.db or milvus:http://HOST:PORT"


@runtime_checkable
class Store(Protocol):
    """Where enrolled embeddings live; ``Gallery`` semantics (see the module docstring).

    Attributes:
        fingerprint: the encoder the embeddings come from (``model.fingerprint``).
        embedding_dim: D.
        metric: the bundle's metric (``euclidean`` or ``cosine``; ``learned`` only in ``NpzStore``).
    """

    fingerprint: str
    embedding_dim: int
    metric: str

    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        """Enrol ``embeddings (N, D)`` float, one id per row; durable when it returns."""

    def remove(self, ids: Sequence[str] | str) -> int:
        """Drop every row of these ids; the number of rows removed (0 when none matched)."""

    def search(self, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """``ids (B, k')`` and ``scores (B, k') float32`` of the ``k`` closest rows per query, closest first."""

    def __len__(self) -> int:
        """Rows stored."""

    def close(self) -> None:
        """Release connections (a no-op where there are none)."""


class NpzStore:
    """A ``Gallery`` bound to one ``.npz`` file: loaded on open (created empty when absent), and saved atomically
    after every ``add`` and ``remove`` before they return. A save that fails leaves the file as it was and the
    store as the file says (the change is undone), and raises.

    One process owns the file: two processes writing one ``.npz`` lose each other's changes (use Milvus there).
    Reads run concurrently; changes are serialised (a change rewrites the whole file: O(N) per change).
    """

    def __init__(self, path: str | os.PathLike, gallery: Gallery, key: bytes | str | None = None) -> None:
        self.path = Path(path)
        self._gallery = gallery
        self._key = key
        self._write = threading.Lock()

    @classmethod
    def open(
        cls, path: str | os.PathLike, model: SiameseModel, key: bytes | str | None = None, storage: str = "float32"
    ) -> NpzStore:
        """The store in ``path`` (its model checked), or a new empty one written there now (``storage``: see ``Gallery``).

        Raises ``BundleError`` for a file of another model or a damaged file, ``OSError`` when it cannot be written.
        """
        path = Path(path)
        if path.exists():
            return cls(path, Gallery.load(path, model=model, key=key), key)
        store = cls(path, Gallery.for_model(model, storage=storage), key)
        store._gallery.save(path, key=key)
        return store

    @property
    def gallery(self) -> Gallery:
        """The in-memory gallery (read it; change it through the store, or the file falls behind)."""
        return self._gallery

    @property
    def fingerprint(self) -> str:
        return self._gallery.fingerprint

    @property
    def embedding_dim(self) -> int:
        return self._gallery.embedding_dim

    @property
    def metric(self) -> str:
        return self._gallery.metric

    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        with self._write:
            self._gallery.add(embeddings, ids)
            self._save()

    def remove(self, ids: Sequence[str] | str) -> int:
        with self._write:
            removed = self._gallery.remove(ids)
            if removed:
                self._save()
            return removed

    def search(self, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        return self._gallery.search(queries, k)

    def __len__(self) -> int:
        return len(self._gallery)

    def close(self) -> None:
        """Nothing to release: every change is already on disk."""

    def _save(self) -> None:
        g = self._gallery
        try:
            g.save(self.path, key=self._key)
        except BaseException:
            # the file still holds the state before this change: make memory agree with it again
            self._gallery = Gallery.load(self.path, index=g.index, key=self._key, scorer=g._scorer)
            raise

    def __repr__(self) -> str:
        return f"NpzStore({str(self.path)!r}, n={len(self)}, metric={self.metric!r})"


def open_store(uri: str | os.PathLike, model: SiameseModel, key: bytes | str | None = None) -> Store:
    """The store that ``uri`` names (module docstring), bound to ``model``; created empty when it does not exist.

    ``key`` seals an ``.npz`` store (``Gallery.save``); a Milvus store refuses one (secure the server instead).

    Raises:
        InputError: a URI of none of the three forms; a key for a Milvus store.
        BundleError: a store built by another model (fingerprint, dim or metric), or a damaged file.
        StoreError: a Milvus server that cannot be reached, or a collection that is not a siamese gallery.
        ExtraMissingError: ``milvus:`` without the ``milvus`` extra.
    """
    text = os.fspath(uri)
    if text.startswith("milvus:"):
        if key is not None:
            raise InputError("a gallery key seals .npz stores only; secure a Milvus store with its server's TLS and users")
        from .milvus import MilvusStore

        target, collection = _split_collection(text.removeprefix("milvus:"), text)
        return MilvusStore.for_model(target, model, collection=collection)
    if text.endswith(".npz"):
        return NpzStore.open(text, model, key=key)
    raise InputError(f"store {text!r} not understood; pass {URI_FORMS}")


def _split_collection(rest: str, uri: str) -> tuple[str, str]:
    """``(target, collection)`` of the part after ``milvus:``, whose optional ``?collection=NAME`` names the collection."""
    target, sep, query = rest.partition("?")
    collection = DEFAULT_COLLECTION
    if sep:
        name, eq, value = query.partition("=")
        if name != "collection" or not eq or not value:
            raise InputError(f"store {uri!r}: the only option is ?collection=NAME; drop {query!r} or write it that way")
        collection = value
    if not target:
        raise InputError(f"store {uri!r} names no database; pass {URI_FORMS}")
    return target, collection
