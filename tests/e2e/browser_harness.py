"""Running the browser runtime (``sdk/js``) from pytest: a loopback static server and headless Chromium.

``serve(root)`` serves a directory over HTTP on 127.0.0.1 (a free port) in a background thread.
``run_in_browser(url, job)`` hands ``job`` to ``sdk/js/test/browser.mjs`` (playwright-core driving the
system's Chromium), which opens the harness page at ``url`` and returns ``window.runParity(job)`` as JSON.
``require_browser()`` fails, in one line saying how to install it, when Chromium, Node.js or the pinned npm
packages are missing; ``SIAMESE_SKIP_BROWSER=1`` skips instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

#: the repository root, found from this file wherever it sits under ``tests/``
ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
JS = ROOT / "sdk" / "js"
DRIVER = JS / "test" / "browser.mjs"
CHROMIUM = os.environ.get("SIAMESE_CHROMIUM", "/usr/bin/chromium")
NPM_PACKAGES = ("playwright-core", "onnxruntime-web")


def require_browser() -> tuple[str, str]:
    """``(node, chromium)`` executables; ``pytest.fail`` naming the install step for anything missing."""
    if os.environ.get("SIAMESE_SKIP_BROWSER") == "1":
        pytest.skip("SIAMESE_SKIP_BROWSER=1: the browser parity test is not run")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"chromium not found at {CHROMIUM}; install it: apt-get install -y --no-install-recommends chromium "
            "(or run scripts/test_deps.sh; SIAMESE_CHROMIUM=PATH for another build, SIAMESE_SKIP_BROWSER=1 to skip)",
            pytrace=False,
        )
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node not found; install Node.js 18+: apt-get install -y --no-install-recommends nodejs (npm too unless it came with nodejs; or run scripts/test_deps.sh)",
            pytrace=False,
        )
    for pkg in NPM_PACKAGES:
        if not (JS / "node_modules" / pkg / "package.json").is_file():
            pytest.fail(
                f"sdk/js/node_modules/{pkg} is missing; install the pinned packages: cd sdk/js && npm ci (or run scripts/test_deps.sh)",
                pytrace=False,
            )
    return node, CHROMIUM


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
    }

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass


@contextlib.contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on ``http://127.0.0.1:PORT/`` (a free port) while the block runs; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def run_in_browser(url: str, job: dict[str, Any], demo: dict[str, Any] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """``window.runParity(job)`` on the page at ``url`` in headless Chromium; fails with the page's log on error.

    ``demo``: ``{"url": the demo page, "images": [two file paths]}``: the result's ``demo`` holds what the
    page shows after picking them (``status``, ``result``)."""
    node, chromium = require_browser()
    proc = subprocess.run(
        [node, str(DRIVER)],
        input=json.dumps({"chromium": chromium, "url": url, "job": job, "demo": demo}),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=JS,
    )
    if proc.returncode != 0:
        pytest.fail(f"the browser run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    return json.loads(proc.stdout)
