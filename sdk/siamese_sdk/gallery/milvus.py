"""``MilvusStore``: a gallery store in a Milvus collection (Milvus Lite in a local ``.db``, or a server / cluster).

One collection per model: fields ``pk`` (INT64, auto id: insertion order), ``identity`` (VARCHAR, the id as given),
``key`` (VARCHAR, sha256 of the id: deletes filter on it, so no id is ever spliced into a filter expression) and
``vector`` (FLOAT_VECTOR, D). The collection's property ``siamese.meta`` holds the binding JSON (fingerprint,
embedding_dim, metric) that the ``.npz`` gallery keeps in its ``meta``; an existing collection is checked against
the model on open (``gallery.io.check_model_meta``).

Scores are the bundle's: Milvus ``L2`` is the squared distance (its square root is returned, as ``Gallery``
does) and ``COSINE`` a similarity (``1 - cos`` is returned). The index is ``FLAT`` (exact, as ``Gallery``'s
numpy search) unless another is given at creation; hits with equal scores are ordered by ``pk``. Reads and
writes are ``Strong``ly consistent: a search sees every ``add`` that returned. A ``learned`` bundle (its
head scores pairs) cannot be ranked by a vector database: use an ``.npz`` store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import metric as metric_mod
from ..errors import BundleError, InputError, StoreError, require_extra
from . import codec, io

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

#: Milvus metric per bundle metric
MILVUS_METRICS = {"euclidean": "L2", "cosine": "COSINE"}
#: the collection property that binds it to its encoder
META_PROPERTY = "siamese.meta"
#: bytes of one id (VARCHAR max_length)
MAX_ID_BYTES = 512
#: rows per insert call (well under gRPC's message limit at D = 2048)
INSERT_ROWS = 4096
#: ids per delete filter
FILTER_IDS = 1024
#: Milvus's largest ``limit``
MAX_K = 16384


def _key(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


class MilvusStore:
    """A gallery store in the Milvus collection ``collection`` at ``uri`` (module docstring).

    Args:
        uri: a Milvus Lite file (``PATH.db``; a folder is created there) or a server (``http://HOST:PORT``).
        fingerprint, embedding_dim, metric: the encoder's (``model.fingerprint``, ...), as for ``Gallery``: recorded
            in a new collection, compared with an existing one's. Prefer ``MilvusStore.for_model``.
        collection: the collection name.
        token: a server's ``user:password`` or API key (default: ``MILVUS_TOKEN`` from the environment).
        index_type, index_params: the vector index made with a new collection (default ``FLAT``: exact search).
        model: the loaded bundle, for the model check's message (which variant built the collection).

    Raises ``BundleError`` (another model's collection), ``StoreError`` (unreachable server, a collection not
    made by siamese-sdk), ``InputError`` (a learned-head bundle, a bad path), ``ExtraMissingError``.
    """

    def __init__(
        self,
        uri: str,
        fingerprint: str,
        embedding_dim: int,
        metric: str,
        collection: str = "siamese_gallery",
        token: str | None = None,
        index_type: str = "FLAT",
        index_params: dict[str, Any] | None = None,
        model: SiameseModel | None = None,
    ) -> None:
        require_extra("pymilvus", "milvus")
        if metric not in MILVUS_METRICS:
            raise InputError(
                f"a {metric} bundle ranks through its head graph, which a vector database cannot run; use an .npz store"
            )
        remote = uri.startswith(("http://", "https://", "tcp://", "grpc://"))
        if not remote:
            if not uri.endswith(".db"):
                raise InputError(
                    f"milvus:{uri}: a Milvus Lite database is a path ending in .db (or pass milvus:http://HOST:PORT)"
                )
            require_extra("milvus_lite", "milvus")
            os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        self.uri = uri
        self.collection = collection
        self.fingerprint = fingerprint
        self.embedding_dim = int(embedding_dim)
        self.metric = metric
        self._m = metric_mod.get(metric)
        self._milvus_metric = MILVUS_METRICS[metric]
        self._where = f"milvus collection {collection!r} at {uri}"
        self._client = self._connect(token if token is not None else os.environ.get("MILVUS_TOKEN", ""))
        self._call(self._open, model, index_type, index_params or {})

    @classmethod
    def for_model(cls, uri: str, model: SiameseModel, **kwargs: Any) -> MilvusStore:
        """The store of ``model``'s embeddings at ``uri`` (``kwargs``: collection, token, index_type, index_params)."""
        return cls(uri, model.fingerprint, model.embedding_dim, model.manifest.metric, model=model, **kwargs)

    # ---- setup --------------------------------------------------------------------------------------
    def _connect(self, token: str) -> Any:
        from pymilvus import MilvusClient

        try:
            return MilvusClient(uri=self.uri, token=token)
        except Exception as e:  # pymilvus raises its own exceptions, and grpc/OS ones underneath
            fix = (
                "check that it runs and the URI"
                if self.uri.startswith(("http://", "https://", "tcp://", "grpc://"))
                else "Milvus Lite opens a .db in one process at a time: stop the other one, or use a Milvus server"
            )
            raise StoreError(f"cannot open Milvus at {self.uri} ({_first_line(e)}); {fix}") from None

    def _open(self, model: SiameseModel | None, index_type: str, index_params: dict[str, Any]) -> None:
        c, name = self._client, self.collection
        if not c.has_collection(name):
            try:
                self._create(index_type, index_params)
                return
            except Exception:  # another process (a second service worker) created it first: check theirs below
                if not c.has_collection(name):
                    raise
        props = c.describe_collection(name).get("properties") or {}
        if META_PROPERTY not in props:
            raise StoreError(f"{self._where} was not made by siamese-sdk; pick another ?collection=NAME")
        try:
            meta = json.loads(props[META_PROPERTY])
            ok = isinstance(meta, dict) and {"fingerprint", "embedding_dim", "metric"} <= set(meta)
        except ValueError:
            ok = False
        if not ok:
            raise StoreError(f"{self._where} has a damaged {META_PROPERTY} property; drop the collection and enrol again")
        self._check_meta(meta, model)
        c.load_collection(name)

    def _create(self, index_type: str, index_params: dict[str, Any]) -> None:
        """A new collection for this store's encoder (layout in the module docstring), loaded."""
        from pymilvus import DataType, MilvusClient

        c, name = self._client, self.collection

        schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("identity", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("key", DataType.VARCHAR, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.embedding_dim)
        index = c.prepare_index_params()
        index.add_index(field_name="vector", index_type=index_type, metric_type=self._milvus_metric, params=index_params)
        meta = dict(fingerprint=self.fingerprint, embedding_dim=self.embedding_dim, metric=self.metric)
        c.create_collection(
            name, schema=schema, index_params=index, consistency_level="Strong", properties={META_PROPERTY: json.dumps(meta)}
        )
        c.load_collection(name)

    def _check_meta(self, meta: dict[str, Any], model: SiameseModel | None) -> None:
        """``BundleError`` unless the collection's ``meta`` is this store's encoder (the model's message when given)."""
        if model is not None:
            io.check_model_meta(meta, model, self._where)
        mine = dict(fingerprint=self.fingerprint, embedding_dim=self.embedding_dim, metric=self.metric)
        if {k: meta[k] for k in mine} != mine:
            raise BundleError(
                f"{self._where} holds {meta['embedding_dim']}-d {meta['metric']} embeddings of encoder {meta['fingerprint']}, "
                f"not {self.embedding_dim}-d {self.metric} of {self.fingerprint}; use the model that built it or another ?collection=NAME"
            )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args)``; a Milvus or connection failure becomes one ``StoreError`` line (our own errors pass)."""
        from ..errors import SiameseError

        try:
            return fn(*args, **kwargs)
        except SiameseError:
            raise
        except Exception as e:  # pymilvus's MilvusException and the grpc errors beneath it
            raise StoreError(f"{self._where}: {_first_line(e)}") from None

    # ---- the store protocol -------------------------------------------------------------------------
    def add(self, embeddings: np.ndarray, ids: Sequence[str]) -> None:
        """Insert ``embeddings (N, D)`` with one id per row (``InputError``: shape, NaN/Inf, ids, an id over 512 bytes)."""
        from ..runtime.heads import check_embeddings

        e = check_embeddings(embeddings, self.embedding_dim, "embeddings")
        id_list = codec.check_ids(ids, e.shape[0])
        for i in id_list:
            if len(i.encode("utf-8")) > MAX_ID_BYTES:
                raise InputError(
                    f"id {i[:40]!r}... is over {MAX_ID_BYTES} bytes of UTF-8; use a shorter id (a key into your records)"
                )
        if self._m.normalized_inputs:
            e = codec.unit(e)
        for r0 in range(0, len(id_list), INSERT_ROWS):
            rows = [
                {"identity": i, "key": _key(i), "vector": v}
                for i, v in zip(id_list[r0 : r0 + INSERT_ROWS], e[r0 : r0 + INSERT_ROWS].tolist(), strict=True)
            ]
            self._call(self._client.insert, self.collection, rows)

    def remove(self, ids: Sequence[str] | str) -> int:
        """Delete every row of ``ids``; the number of rows deleted."""
        keys = sorted({_key(ids)} if isinstance(ids, str) else {_key(str(i)) for i in ids})
        removed = 0
        for k0 in range(0, len(keys), FILTER_IDS):
            expr = f"key in {json.dumps(keys[k0 : k0 + FILTER_IDS])}"  # hex digests only: nothing to escape
            n = self._count(expr)
            if n:
                self._call(self._client.delete, self.collection, filter=expr)
                removed += n
        return removed

    def search(self, queries: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` closest rows of each query (``Gallery.search`` semantics; ``k`` also capped at 16384)."""
        from ..runtime.heads import check_embeddings

        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InputError(f"k={k!r} invalid; pass a positive int")
        q = check_embeddings(queries, self.embedding_dim, "queries")
        if self._m.normalized_inputs:
            q = codec.unit(q)
        hits = self._call(
            self._client.search,
            self.collection,
            data=q.tolist(),
            limit=min(int(k), MAX_K),
            output_fields=["identity"],
            search_params={"metric_type": self._milvus_metric},
            anns_field="vector",
        )
        kk = max((len(row) for row in hits), default=0)  # min(k, rows stored) for an exact index
        if kk == 0 and len(self) == 0:
            raise InputError("the gallery is empty; add embeddings (gallery.add) before searching")
        ids = np.full((q.shape[0], kk), "", dtype=object)
        scores = np.full((q.shape[0], kk), np.inf, dtype=np.float32)
        for b, row in enumerate(hits):
            ranked = sorted((self._score(h["distance"]), h.get("pk", h.get("id")), h["entity"]["identity"]) for h in row)
            for j, (s, _, i) in enumerate(ranked[:kk]):
                ids[b, j], scores[b, j] = i, s
        return ids.astype(str), scores

    def __len__(self) -> int:
        return self._count("")

    def flush(self) -> None:
        """Seal the rows added so far into indexed segments. Optional (a server seals on its own, and every add is
        already durable and searchable); on Milvus Lite a search of sealed rows is several times faster."""
        self._call(self._client.flush, self.collection)

    def close(self) -> None:
        """Close the client (Milvus Lite: stops its embedded server once no client uses the file)."""
        self._call(self._client.close)

    # ---- internals ----------------------------------------------------------------------------------
    def _score(self, d: float) -> float:
        """Milvus's distance as the bundle scores it: squared L2 -> L2; cosine similarity -> ``1 - cos``."""
        return float(np.sqrt(max(d, 0.0))) if self._milvus_metric == "L2" else 1.0 - float(d)

    def _count(self, expr: str) -> int:
        res = self._call(self._client.query, self.collection, filter=expr, output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def __repr__(self) -> str:
        return f"MilvusStore({self.uri!r}, collection={self.collection!r}, metric={self.metric!r})"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines() or [type(e).__name__])[0][:200]
