"""The verification service (extra ``serve``: FastAPI, uvicorn, python-multipart); ``siamese serve`` runs it.

- ``app``: ``create_app(model, store, ...)``, the routes and their error contract;
- ``batching``: ``MicroBatcher``, concurrent requests sharing encoder runs off the event loop;
- ``auth``: API keys (Bearer), the bind-address rule;
- ``uploads``: the request-body and per-image bounds (413).

``app_from_env`` builds the app from ``SIAMESE_*`` environment variables, for ``uvicorn --factory`` with several
worker processes (``docs/deploy.md``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import require_extra

if TYPE_CHECKING:
    from fastapi import FastAPI

for _module in ("fastapi", "uvicorn", "multipart"):
    require_extra(_module, "serve")

from .app import create_app  # noqa: E402  (after the extra check: a missing extra is one line, not a traceback)


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory siamese_sdk.serve:app_from_env``, configured by the environment:
    ``SIAMESE_BUNDLE`` (required), ``SIAMESE_STORE``, ``SIAMESE_API_KEY_FILE``, ``SIAMESE_MAX_IMAGE_BYTES``,
    ``SIAMESE_VARIANT`` (default auto), ``SIAMESE_THREADS``."""
    from ..errors import InputError
    from ..gallery.stores import open_store
    from ..runtime.model import load
    from .auth import read_api_keys
    from .uploads import DEFAULT_MAX_IMAGE_BYTES

    bundle = os.environ.get("SIAMESE_BUNDLE")
    if not bundle:
        raise InputError("SIAMESE_BUNDLE is not set; export SIAMESE_BUNDLE=path/to/bundle")
    threads = os.environ.get("SIAMESE_THREADS")
    model = load(bundle, variant=os.environ.get("SIAMESE_VARIANT", "auto"), threads=int(threads) if threads else None)
    store_uri = os.environ.get("SIAMESE_STORE")
    key_file = os.environ.get("SIAMESE_API_KEY_FILE")
    kwargs: dict[str, Any] = dict(
        api_keys=read_api_keys(key_file) if key_file else (),
        max_image_bytes=int(os.environ.get("SIAMESE_MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES)),
    )
    return create_app(model, open_store(store_uri, model) if store_uri else None, close_store=True, **kwargs)


__all__ = ["app_from_env", "create_app"]
