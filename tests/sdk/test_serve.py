"""The verification service end to end: a real uvicorn on a free loopback port, real HTTP, the golden bundle."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.errors import InputError
from siamese_sdk.gallery import Gallery
from siamese_sdk.gallery.stores import open_store

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")
from siamese_sdk.cli import main  # noqa: E402
from siamese_sdk.serve import create_app  # noqa: E402
from siamese_sdk.serve.auth import check_bind, read_api_keys  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
BUNDLE = GOLDEN / "bundle"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def model() -> siamese_sdk.SiameseModel:
    return siamese_sdk.load(BUNDLE)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app) -> Iterator[str]:
    """Run ``app`` on uvicorn in a thread on a free loopback port; yields its base URL."""
    sock = _free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def _file(path: Path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "image/png")


def _png(size: tuple[int, int] = (40, 30), seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def npz_service(model, tmp_path_factory) -> Iterator[str]:
    store = open_store(tmp_path_factory.mktemp("serve") / "g.npz", model)
    with serving(create_app(model, store, max_image_bytes=50_000)) as url:
        yield url


def test_health_and_openapi(npz_service, model):
    h = httpx.get(f"{npz_service}/v1/health")
    assert h.status_code == 200 and h.json()["status"] == "ok"
    assert h.json()["model"]["fingerprint"] == model.fingerprint
    paths = httpx.get(f"{npz_service}/openapi.json").json()["paths"]
    assert {"/v1/health", "/v1/embed", "/v1/verify", "/v1/search", "/v1/identities/{id}"} <= set(paths)
    assert set(paths["/v1/identities/{id}"]) == {"post", "delete"}
    assert httpx.get(f"{npz_service}/docs").status_code == 200


@pytest.mark.parametrize("op", [None, "eer", "far_1e-2", "far_1e-3"])
def test_verify_is_the_sdk_decision(npz_service, model, op):
    for a, b in [(IMAGES[0], IMAGES[1]), (IMAGES[0], IMAGES[2]), (IMAGES[3], IMAGES[5])]:
        data = {} if op is None else {"operating_point": op}
        r = httpx.post(f"{npz_service}/v1/verify", files={"a": _file(a), "b": _file(b)}, data=data)
        assert r.status_code == 200, r.text
        want = model.verify([str(a)], [str(b)], operating_point=op)
        got = r.json()
        assert set(got) == {"same", "score", "threshold", "operating_point", "supported"}
        assert got["same"] == bool(want.same[0]) and got["threshold"] == want.threshold
        assert got["score"] == pytest.approx(float(want.scores[0]), abs=1e-6)
        assert got["operating_point"] == want.operating_point
        support = model.manifest.variants[model.variant].support.get(got["operating_point"], {})
        assert got["supported"] is support.get("supported", True)


def test_embed_is_the_sdk_embedding(npz_service, model):
    r = httpx.post(f"{npz_service}/v1/embed", files=[("image", _file(p)) for p in IMAGES])
    assert r.status_code == 200
    np.testing.assert_allclose(np.array(r.json()["embeddings"]), model.embed([str(p) for p in IMAGES]), atol=1e-6)


@pytest.mark.parametrize("kind", ["npz", "milvus"])
def test_enrol_search_remove_and_restart(kind, model, tmp_path):
    pytest.importorskip("milvus_lite") if kind == "milvus" else None
    uri = str(tmp_path / "g.npz") if kind == "npz" else f"milvus:{tmp_path / 'g.db'}"
    ref = Gallery.for_model(model)
    enrolled = {"alice": IMAGES[0:2], "bob": IMAGES[2:3], "carol": IMAGES[4:5]}
    store = open_store(uri, model)
    with serving(create_app(model, store)) as url:
        r = httpx.post(f"{url}/v1/search", files={"image": _file(IMAGES[3])})
        assert r.status_code == 200 and r.json() == {"results": []}
        for who, paths in enrolled.items():
            r = httpx.post(f"{url}/v1/identities/{who}", files=[("image", _file(p)) for p in paths])
            assert r.json() == {"id": who, "added": len(paths)}
            ref.add(model.embed([str(p) for p in paths]), [who] * len(paths))
        r = httpx.post(f"{url}/v1/search", params={"k": 3}, files={"image": _file(IMAGES[3])})
    store.close()
    want_ids, want_scores = ref.search(model.embed([str(IMAGES[3])]), k=3)
    hits = r.json()["results"]
    assert [h["id"] for h in hits] == want_ids[0].tolist()
    np.testing.assert_allclose([h["score"] for h in hits], want_scores[0], atol=1e-4)
    t = model.threshold()
    assert [h["match"] for h in hits] == [bool(s <= t) for s in want_scores[0]]

    store = open_store(uri, model)  # a restart of the service
    with serving(create_app(model, store)) as url:
        assert httpx.get(f"{url}/v1/health").json()["enrolled"] == 4
        assert [
            h["id"] for h in httpx.post(f"{url}/v1/search", params={"k": 3}, files={"image": _file(IMAGES[3])}).json()["results"]
        ] == want_ids[0].tolist()
        assert httpx.delete(f"{url}/v1/identities/alice").json() == {"id": "alice", "removed": 2}
        r = httpx.delete(f"{url}/v1/identities/alice")
        assert r.status_code == 404 and "not enrolled" in r.json()["error"]
        assert httpx.get(f"{url}/v1/health").json()["enrolled"] == 2
    store.close()


@pytest.mark.parametrize("kind", ["npz", "milvus"])
def test_concurrent_clients_get_the_serial_answers(kind, model, tmp_path):
    store = open_store(tmp_path / "g.npz" if kind == "npz" else f"milvus:{tmp_path / 'g.db'}", model)
    for i, p in enumerate(IMAGES[:4]):
        store.add(model.embed([str(p)]), [f"id{i}"])
    app = create_app(model, store)
    pairs = [(IMAGES[i % 6], IMAGES[(i * 5 + 1) % 6]) for i in range(48)]
    want = [model.verify([str(a)], [str(b)]) for a, b in pairs]
    want_search = [store.search(model.embed([str(IMAGES[i % 6])]), k=3)[0][0].tolist() for i in range(48)]
    with serving(app) as url, httpx.Client(base_url=url) as client:

        def verify(i: int) -> dict:
            a, b = pairs[i]
            return client.post("/v1/verify", files={"a": _file(a), "b": _file(b)}).json()

        def search(i: int) -> list[str]:
            r = client.post("/v1/search", params={"k": 3}, files={"image": _file(IMAGES[i % 6])})
            return [h["id"] for h in r.json()["results"]]

        with ThreadPoolExecutor(32) as pool:
            got = list(pool.map(verify, range(48)))
            got_search = list(pool.map(search, range(48)))
    for g, w in zip(got, want, strict=True):
        assert g["same"] == bool(w.same[0]) and g["score"] == pytest.approx(float(w.scores[0]), abs=1e-6)
    assert got_search == want_search
    batcher = app.state.batcher  # every request went through it (a verify's pair is one request)
    assert batcher.requests == 48 * 2 and 1 <= batcher.runs <= batcher.requests
    store.close()


def test_bad_requests_are_one_line_400_413_404(npz_service):
    u = npz_service
    a, b = _file(IMAGES[0]), _file(IMAGES[1])
    cases = [
        (httpx.post(f"{u}/v1/verify", files={"a": a}), 400, "b: Field required"),
        (httpx.post(f"{u}/v1/verify", files={"a": ("x.png", b"not an image", "image/png"), "b": b}), 400, "not an image"),
        (httpx.post(f"{u}/v1/verify", files={"a": ("x.png", _png()[:60], "image/png"), "b": b}), 400, "truncated or corrupt"),
        (httpx.post(f"{u}/v1/verify", files={"a": ("x.png", b"", "image/png"), "b": b}), 400, "empty"),
        (httpx.post(f"{u}/v1/verify", files={"a": a, "b": b}, data={"operating_point": "far_1e-9"}), 400, "operating point"),
        (httpx.post(f"{u}/v1/verify", json={"a": 1}), 400, "Field required"),
        (httpx.post(f"{u}/v1/search", params={"k": 0}, files={"image": a}), 400, "k:"),
        (httpx.post(f"{u}/v1/search", params={"k": "many"}, files={"image": a}), 400, "k:"),
        (httpx.post(f"{u}/v1/embed", files=[("image", a)] * 65), 400, "at most 64"),
        (httpx.post(f"{u}/v1/identities/{'x' * 513}", files={"image": a}), 400, "over 512 bytes"),
        (httpx.post(f"{u}/v1/identities/%20", files={"image": a}), 400, "empty"),
        (httpx.post(f"{u}/v1/embed", files={"image": ("big.png", _png((400, 400)), "image/png")}), 413, "over the limit"),
        (
            httpx.post(f"{u}/v1/embed", content=b"x" * 4_000_000, headers={"content-type": "multipart/form-data; boundary=b"}),
            413,
            "request body over",
        ),
        (httpx.post(f"{u}/v1/embed", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=b"}), 400, ""),
        (httpx.get(f"{u}/v1/nothing"), 404, "Not Found"),
        (httpx.delete(f"{u}/v1/identities/nobody"), 404, "not enrolled"),
    ]
    for r, status, text in cases:
        assert r.status_code == status, (r.request.url, r.text)
        error = r.json()["error"]
        assert text in error and "\n" not in error


def test_chunked_upload_over_the_bound_is_413(npz_service):
    def chunks() -> Iterator[bytes]:  # a well-formed multipart stream with no Content-Length, too long
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\nContent-Type: image/png\r\n\r\n'
        for _ in range(80):
            yield b"y" * 50_000

    r = httpx.post(f"{npz_service}/v1/embed", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and "request body over" in r.json()["error"]


def test_no_500_for_random_uploads(npz_service):
    rng = np.random.default_rng(3)
    for i in range(20):
        blob = rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
        if i % 4 == 0:
            blob = _png(seed=i)[: int(rng.integers(8, 200))]  # a PNG cut short
        r = httpx.post(f"{npz_service}/v1/verify", files={"a": ("r", blob, "image/png"), "b": _file(IMAGES[0])})
        assert r.status_code in (200, 400), r.text


def test_gallery_routes_without_a_store_are_501(model):
    with serving(create_app(model)) as url:
        r = httpx.post(f"{url}/v1/search", files={"image": _file(IMAGES[0])})
        assert r.status_code == 501 and "--store" in r.json()["error"]
        assert httpx.get(f"{url}/v1/health").json()["enrolled"] is None


def test_api_keys(model, tmp_path):
    with serving(create_app(model, api_keys={KEY, "other"})) as url:
        files = {"a": _file(IMAGES[0]), "b": _file(IMAGES[1])}
        assert httpx.get(f"{url}/v1/health").status_code == 200
        assert httpx.get(f"{url}/docs").status_code == 200
        r = httpx.post(f"{url}/v1/verify", files=files)
        assert r.status_code == 401 and "Authorization" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
        assert httpx.post(f"{url}/v1/verify", files=files, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert httpx.post(f"{url}/v1/verify", files=files, headers={"Authorization": KEY}).status_code == 401
        assert httpx.post(f"{url}/v1/verify", files=files, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_key_file_and_bind_rule(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# service keys\nalpha\n\n  beta  \n")
    assert read_api_keys(keys) == {"alpha", "beta"}
    keys.write_text("# none\n")
    with pytest.raises(InputError, match="holds no key"):
        read_api_keys(keys)
    check_bind("127.0.0.1", (), insecure=False)
    check_bind("::1", (), insecure=False)
    check_bind("0.0.0.0", {"k"}, insecure=False)
    check_bind("0.0.0.0", (), insecure=True)
    with pytest.raises(InputError, match="--insecure"):
        check_bind("0.0.0.0", (), insecure=False)


def test_cli_refuses_an_open_bind_without_keys():
    r = CliRunner().invoke(main, ["serve", str(BUNDLE), "--host", "0.0.0.0"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "--api-key-file" in r.output


@pytest.mark.slow
def test_cli_serves(tmp_path):
    """``siamese serve`` as a user runs it: a subprocess, a key file, an npz store; stopped with SIGTERM."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    (tmp_path / "keys").write_text(KEY + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-c", "from siamese_sdk.cli import main; main()", "serve", str(BUNDLE), "--port", str(port)]
    cmd += ["--store", str(tmp_path / "g.npz"), "--api-key-file", str(tmp_path / "keys")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {KEY}"}
        for _ in range(600):
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.05)
        r = httpx.post(f"{url}/v1/identities/alice", files={"image": _file(IMAGES[0])}, headers=headers)
        assert r.json() == {"id": "alice", "added": 1}
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0].decode()
    # uvicorn shuts down cleanly, then re-raises SIGTERM (exit -15) on recent versions, or exits 0
    assert "serving" in out and "Application shutdown complete" in out and proc.returncode in (0, -15), out
    assert Gallery.load(tmp_path / "g.npz").ids.tolist() == ["alice"]


def test_app_from_env_is_a_uvicorn_factory(model, tmp_path, monkeypatch):
    """``uvicorn --factory siamese_sdk.serve:app_from_env`` (what ``--workers N`` runs in each worker)."""
    from siamese_sdk.serve import app_from_env

    (tmp_path / "keys").write_text(KEY + "\n")
    monkeypatch.setenv("SIAMESE_BUNDLE", str(BUNDLE))
    monkeypatch.setenv("SIAMESE_STORE", f"milvus:{tmp_path / 'g.db'}")
    monkeypatch.setenv("SIAMESE_API_KEY_FILE", str(tmp_path / "keys"))
    monkeypatch.setenv("SIAMESE_THREADS", "1")
    with serving(app_from_env()) as url:
        headers = {"Authorization": f"Bearer {KEY}"}
        assert httpx.post(f"{url}/v1/identities/x", files={"image": _file(IMAGES[0])}, headers=headers).json()["added"] == 1
        assert httpx.get(f"{url}/v1/health").json()["store"] == "MilvusStore"
    monkeypatch.delenv("SIAMESE_BUNDLE")
    with pytest.raises(InputError, match="SIAMESE_BUNDLE"):
        app_from_env()
