"""Who may call the service: API keys (``Authorization: Bearer KEY``) and the bind-address rule.

Keys come from a file, one a line (blank lines and ``#`` comments skipped), compared in constant time. Binding
an address other than loopback without keys is refused unless the operator says ``--insecure``: a service that
answers the network with nobody's key is a decision, not a default.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from pathlib import Path
from typing import Any

from ..errors import InputError

#: paths any client may call without a key: the health check and the API description
OPEN_PATHS = frozenset({"/v1/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def read_api_keys(path: str | os.PathLike) -> frozenset[str]:
    """The keys in ``path``: one a line, surrounding blanks dropped, blank lines and ``#`` lines skipped.

    Raises ``InputError`` for a file with no key or a key with inner whitespace, ``OSError`` when unreadable.
    """
    keys = set()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        if any(c.isspace() for c in key):
            raise InputError(f"{path}, line {n}: a key has no spaces; write one key a line")
        keys.add(key)
    if not keys:
        raise InputError(
            f"{path} holds no key; write one key a line (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return frozenset(keys)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, keys: Collection[str], insecure: bool) -> None:
    """Refuse (``InputError``) a non-loopback ``host`` without keys unless ``insecure``."""
    if not keys and not insecure and not is_loopback(host):
        raise InputError(
            f"--host {host} answers the network, and no --api-key-file is given; pass --api-key-file FILE, "
            "or --insecure to serve without keys (e.g. behind a proxy that authenticates)"
        )


def key_ok(authorization: str | None, keys: Collection[str]) -> bool:
    """Whether an ``Authorization`` header carries one of ``keys`` as a Bearer token (constant-time per key)."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    given = token.strip().encode()
    # every key is compared (no early exit), so the time does not tell which key was close
    return sum(hmac.compare_digest(given, k.encode()) for k in keys) > 0


class BearerAuth:
    """ASGI middleware: every HTTP request outside ``OPEN_PATHS`` needs one of ``keys``, else 401 before its body is read."""

    def __init__(self, app: ASGIApp, keys: Collection[str]) -> None:
        self.app = app
        self.keys = frozenset(keys)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            headers = dict(scope.get("headers") or [])
            header = headers.get(b"authorization", b"").decode("latin-1")
            if not key_ok(header, self.keys):
                why = "missing Authorization header" if not header else "wrong API key"
                await send_error(send, 401, f"{why}; send Authorization: Bearer KEY", [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


async def send_error(
    send: Callable[[Any], Awaitable[None]], status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer a raw ASGI request with ``status`` and ``{"error": message}`` (for middleware, before any route runs)."""
    body = json.dumps({"error": message}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
