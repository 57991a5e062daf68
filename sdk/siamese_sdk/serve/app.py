"""``create_app``: the verification service as a FastAPI app (the HTTP contract is in ``docs/deploy.md``).

Routes parse the form and hand the images to the ``MicroBatcher`` (decoding, preprocessing and the encoder run in
its thread) and store calls to worker threads, so the event loop only moves bytes (and runs the one-pair head). Errors are JSON
``{"error": "<one line>"}``: 400 for anything wrong in a request (``InputError``, a missing or malformed field),
401 without a valid key, 404 for an unknown identity or path, 413 for an upload over its bound, 501 for gallery
routes of a service started without a store, 503 when the store cannot be reached; a 500 is a bug.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import InputError, StoreError
from ..format.pixels import decode_image
from ..gallery.milvus import MAX_ID_BYTES
from ..gallery.stores import Store
from ..runtime.model import SiameseModel
from .auth import BearerAuth
from .batching import DEFAULT_MAX_ROWS, MicroBatcher
from .uploads import DEFAULT_MAX_IMAGE_BYTES, BodyLimit, body_limit, check_count, check_upload

log = logging.getLogger("siamese_sdk.serve")

#: largest ``k`` a search takes
MAX_K = 1000


class Embeddings(BaseModel):
    embeddings: list[list[float]]


class VerifyResult(BaseModel):
    same: bool
    score: float
    threshold: float
    operating_point: str
    supported: bool


class Enrolled(BaseModel):
    id: str
    added: int


class Hit(BaseModel):
    id: str
    score: float
    match: bool


class SearchResult(BaseModel):
    results: list[Hit]


class Removed(BaseModel):
    id: str
    removed: int


class Error(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error, "description": what}
    for code, what in ((400, "bad input"), (401, "missing or wrong API key"), (413, "upload too large"))
}


def create_app(
    model: SiameseModel,
    store: Store | None = None,
    *,
    api_keys: Collection[str] = (),
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    close_store: bool = False,
) -> FastAPI:
    """The service for ``model`` (a one-encoder image bundle) and, for the identity routes, ``store``.

    Args:
        model: the loaded bundle.
        store: where enrolments live (``gallery.stores.open_store``), bound to ``model``; None: no gallery routes.
        api_keys: keys a client must send as ``Authorization: Bearer KEY`` (empty: no key needed).
        max_image_bytes: bound of one uploaded image (413 above it).
        max_rows: images per encoder run when concurrent requests are batched (1: no batching).
        close_store: close ``store`` when the app shuts down (it owns the store).

    Raises ``InputError`` for a text, dialog or two-branch bundle (the service takes images for one encoder).
    """
    if model.branches or model.input is None or model.input.kind != "image":
        raise InputError(f"the service serves one-encoder image bundles; {model.path} is not one (use the Python API)")
    if max_image_bytes < 1:
        raise InputError(f"--max-image-bytes {max_image_bytes} invalid; pass a positive number of bytes")

    def prepare(named: Sequence[tuple[str, bytes]]) -> np.ndarray:
        """``(name, bytes)`` uploads -> ``(N, C, H, W) float32`` encoder rows (``InputError`` naming the bad one)."""
        return model.preprocess([decode_image(data, name) for name, data in named])

    batcher = MicroBatcher(prepare, model.embed, max_rows=max_rows)
    score = model.manifest.score

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()
        if close_store and store is not None:
            store.close()

    app = FastAPI(
        title="siamese-sdk verification service",
        version=__version__,
        description=(
            f"Bundle {model.path.name} (variant {model.variant}, {model.manifest.metric}, D={model.embedding_dim}). "
            'Images are multipart/form-data files. Errors are {"error": "<one line>"}. '
            + ("Every route but /v1/health needs Authorization: Bearer KEY." if api_keys else "")
        ),
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    _handlers(app)

    async def embed_uploads(files: list[tuple[str, UploadFile]]) -> np.ndarray:
        """``(N, D)`` embeddings of uploaded ``(field, file)`` images: read and size-checked here, decoded,
        preprocessed and embedded in the batcher's encoder thread (batched with other requests)."""
        named = []
        for i, (field, f) in enumerate(files):
            data = await f.read()
            many = sum(fl == field for fl, _ in files) > 1
            name = f"{field}[{i}] ({f.filename or 'unnamed'})" if many else f"{field} ({f.filename or 'unnamed'})"
            check_upload(name, data, max_image_bytes)
            named.append((name, data))
        return await batcher(named)

    async def embed_field(files: list[UploadFile], field: str) -> np.ndarray:
        check_count(len(files), field)
        return await embed_uploads([(field, f) for f in files])

    def needs_store() -> Store:
        if store is None:
            raise HTTPException(501, "this service has no gallery; start it with --store PATH.npz or --store milvus:...")
        return store

    @app.get("/v1/health", summary="Liveness, the model and the store (no key needed)")
    async def health() -> dict[str, Any]:
        enrolled = None if store is None else await run_in_threadpool(len, store)
        return {
            "status": "ok",
            "model": {
                "bundle": model.path.name,
                "variant": model.variant,
                "fingerprint": model.fingerprint,
                "embedding_dim": model.embedding_dim,
                "metric": model.manifest.metric,
            },
            "store": None if store is None else type(store).__name__,
            "enrolled": enrolled,
        }

    @app.post("/v1/embed", response_model=Embeddings, responses=ERRORS, summary="Embed one or more images")
    async def embed(image: Annotated[list[UploadFile], File(description="one or more image files")]) -> Embeddings:
        e = await embed_field(image, "image")
        return Embeddings(embeddings=e.tolist())

    @app.post("/v1/verify", response_model=VerifyResult, responses=ERRORS, summary="Do images a and b show one identity?")
    async def verify(
        a: Annotated[UploadFile, File(description="the first image")],
        b: Annotated[UploadFile, File(description="the second image")],
        operating_point: Annotated[str | None, Form(description="eer, far_1e-2 or far_1e-3 (default: the bundle's)")] = None,
    ) -> VerifyResult:
        op = operating_point or model.manifest.default_operating_point
        t = model.threshold(op)  # InputError (400) for an unknown operating point, before any image work
        e = await embed_uploads([("a", a), ("b", b)])  # one encoder run for the pair
        s = float(model.distance(e[:1], e[1:])[0])  # one pair through the head: microseconds, run in place
        support = model.manifest.variants[model.variant].support.get(op, {})
        return VerifyResult(
            same=bool(score.is_match(s, t)),
            score=s,
            threshold=t,
            operating_point=op,
            supported=bool(support.get("supported", True)),
        )

    @app.post("/v1/identities/{id}", response_model=Enrolled, responses=ERRORS, summary="Enrol images under an identity")
    async def enrol(
        id: Annotated[str, Path(description="the identity (1 to 512 bytes of UTF-8)")],
        image: Annotated[list[UploadFile], File(description="one or more image files")],
    ) -> Enrolled:
        s = needs_store()
        _check_id(id)
        e = await embed_field(image, "image")
        await run_in_threadpool(s.add, e, [id] * len(e))
        return Enrolled(id=id, added=len(e))

    @app.post("/v1/search", response_model=SearchResult, responses=ERRORS, summary="The k closest enrolled images")
    async def search(
        image: Annotated[UploadFile, File(description="the probe image")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="hits to return")] = 5,
    ) -> SearchResult:
        s = needs_store()
        e = await embed_field([image], "image")
        t = model.threshold()
        ids, scores = await run_in_threadpool(_search, s, e, k)
        hits = [
            Hit(id=str(i), score=float(v), match=bool(score.is_match(v, t))) for i, v in zip(ids[0], scores[0], strict=True) if i
        ]
        return SearchResult(results=hits)

    @app.delete("/v1/identities/{id}", response_model=Removed, responses=ERRORS, summary="Remove an identity")
    async def remove(id: Annotated[str, Path(description="the identity")]) -> Removed:
        s = needs_store()
        _check_id(id)
        n = await run_in_threadpool(s.remove, [id])
        if n == 0:
            raise HTTPException(404, f"identity {id!r} is not enrolled")
        return Removed(id=id, removed=n)

    app.add_middleware(BodyLimit, limit=body_limit(max_image_bytes))
    if api_keys:
        app.add_middleware(BearerAuth, keys=frozenset(api_keys))  # added last: runs first, before the body is read
    return app


def _search(store: Store, e: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``store.search``, or no hits from an empty store (a service answers an empty list, not an error)."""
    if len(store) == 0:
        return np.empty((1, 0), dtype=str), np.empty((1, 0), np.float32)
    return store.search(e, k)


def _check_id(identity: str) -> None:
    """``InputError`` for an id a store cannot hold: empty, over ``MAX_ID_BYTES`` bytes, or with control characters."""
    if not identity.strip():
        raise InputError("the identity is empty; put it in the path: /v1/identities/ID")
    if len(identity.encode("utf-8")) > MAX_ID_BYTES:
        raise InputError(f"the identity is over {MAX_ID_BYTES} bytes of UTF-8; use a shorter id")
    if any(ord(c) < 32 or ord(c) == 127 for c in identity):
        raise InputError("the identity holds control characters; use printable text")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _handlers(app: FastAPI) -> None:
    """JSON ``{"error": ...}`` for every failure (module docstring)."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        msg = str(first.get("msg", "invalid request")).splitlines()[0]
        return _error(400, f"{where}: {msg}; see /docs for the fields")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail).splitlines()[0], exc.headers)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return _error(400, str(exc).splitlines()[0])

    @app.exception_handler(StoreError)
    async def store_down(request: Request, exc: StoreError) -> JSONResponse:
        log.error("store: %s", exc)
        return _error(503, str(exc).splitlines()[0])

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the service log")
