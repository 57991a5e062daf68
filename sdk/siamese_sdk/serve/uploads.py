"""What one request may carry: the request body bound (413 before it is read), and the uploaded images.

``BodyLimit`` counts the bytes of every request body as they arrive (``Content-Length`` first, then the stream,
so a chunked upload cannot pass it) and answers 413 past the bound. Each image must also be at most
``max_image_bytes`` (413) and at most ``MAX_IMAGES`` ride one request (400). Images are decoded with the SDK's
own decoder (``format.pixels.decode_image``: the decompression-bomb guard, one-line errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException

from ..errors import InputError
from .auth import ASGIApp, Scope, send_error

#: images one request may carry (embed, enrol)
MAX_IMAGES = 64
#: default bound of one uploaded image, in bytes (``--max-image-bytes``)
DEFAULT_MAX_IMAGE_BYTES = 10 << 20
#: room for the multipart headers and the small form fields of one request, in bytes
FORM_OVERHEAD = 64 << 10


class TooLarge(HTTPException):
    """An upload over its bound: 413 with a one-line message (an ``HTTPException``, so FastAPI's body parsing passes
    it on instead of turning it into a 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


def body_limit(max_image_bytes: int) -> int:
    """The bound of one request body: ``MAX_IMAGES`` images of ``max_image_bytes`` and the form around them."""
    return MAX_IMAGES * max_image_bytes + FORM_OVERHEAD


class BodyLimit:
    """ASGI middleware: 413 ``{"error": ...}`` for a request body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over {self.limit:,} bytes; send smaller images (the service takes --max-image-bytes each)"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await send_error(send, 413, message)
            return
        seen = 0
        started = False

        async def counted() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise TooLarge(message)
            return msg

        async def tracked(msg: Any) -> None:
            nonlocal started
            started = started or msg["type"] == "http.response.start"
            await send(msg)

        try:
            await self.app(scope, counted, tracked)
        except TooLarge as e:  # raised past the app's handlers (not expected: they answer it)
            if not started:
                await send_error(send, 413, e.detail)


def check_upload(name: str, data: bytes, max_image_bytes: int) -> None:
    """Raise ``TooLarge`` for an image over ``max_image_bytes`` and ``InputError`` for an empty one."""
    if len(data) > max_image_bytes:
        raise TooLarge(f"{name} is {len(data):,} bytes, over the limit of {max_image_bytes:,}; send a smaller image")
    if not data:
        raise InputError(f"{name} is empty; send an image file")


def check_count(n: int, field: str) -> None:
    """Raise ``InputError`` unless 1 <= ``n`` <= ``MAX_IMAGES`` files came in ``field``."""
    if n < 1:
        raise InputError(f"no {field!r} file in the form; send at least one image as multipart/form-data")
    if n > MAX_IMAGES:
        raise InputError(f"{n} {field!r} files in one request; send at most {MAX_IMAGES} (split the rest over more requests)")
