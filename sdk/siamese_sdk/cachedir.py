"""The per-user cache folder (compiled TensorRT engines, OpenVINO blobs): never the shared temp dir.

``SIAMESE_SDK_CACHE`` overrides it; otherwise the platform's convention: ``$XDG_CACHE_HOME/siamese-sdk``
(default ``~/.cache/siamese-sdk``) on Linux, ``~/Library/Caches/siamese-sdk`` on macOS,
``%LOCALAPPDATA%\\siamese-sdk\\Cache`` on Windows. Everything in it can be deleted at any time; it is
rebuilt on the next load (slowly, for TensorRT engines).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "SIAMESE_SDK_CACHE"


def user_cache_dir(*parts: str, create: bool = True) -> Path:
    """``<user cache>/<parts...>``, created (mode 0700 for the root) unless ``create`` is False."""
    if os.environ.get(ENV):
        root = Path(os.environ[ENV]).expanduser()
    elif sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "siamese-sdk" / "Cache"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches" / "siamese-sdk"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "siamese-sdk"
    path = root.joinpath(*parts)
    if create:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.mkdir(parents=True, exist_ok=True)
    return path
