"""Fuzz targets of the runtime, shared by the short run in the test suite (``tests/sdk/test_fuzz.py``) and the long
run (``benchmarks/fuzz.py``). One property for all: a call returns a correct result or raises one ``SiameseError``
with a one-line message; never another exception, a hang or a silently wrong result.

Each target is ``(name, strategy, check)``: ``check(value)`` runs one case and raises ``AssertionError`` (or the
unexpected exception) when the property fails. Everything runs on the checked-in golden bundle (no torch).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
BUNDLE = GOLDEN / "bundle"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))


def expect_siamese(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, or None when it raised a one-line ``SiameseError`` (any other exception propagates)."""
    from siamese_sdk import SiameseError

    try:
        return fn()
    except SiameseError as e:
        msg = str(e)
        assert msg and "\n" not in msg, f"{type(e).__name__} message is not one line: {msg!r}"
        return None


@cache
def model() -> Any:
    import siamese_sdk

    return siamese_sdk.load(BUNDLE, variant="fp32")


@cache
def workdir() -> Path:
    """A private copy of the golden bundle (its manifest rewritten per case) and room for other files."""
    root = Path(tempfile.mkdtemp(prefix="siamese-fuzz-"))
    shutil.copytree(BUNDLE, root / "bundle")
    return root


# ---- manifests ----------------------------------------------------------------------------------------------------
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["false", "true", "0.5", "NaN", "fp32", "int8", "euclidean", "cosine", "../x.onnx", "/etc/passwd"])
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


@cache
def golden_manifest() -> dict[str, Any]:
    return json.loads((BUNDLE / "manifest.json").read_text())


MANIFEST_PATHS = _paths(golden_manifest())


@st.composite
def manifest_edits(draw: st.DrawFn) -> bytes:
    """The golden manifest with 1-3 values (anywhere in it) replaced or deleted, as JSON text (NaN/Infinity allowed)."""
    d = json.loads(json.dumps(golden_manifest()))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(MANIFEST_PATHS))
        parent = d
        try:
            for p in path[:-1]:
                parent = parent[p]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue
    return json.dumps(d).encode()


MANIFEST_TEXT = st.one_of(
    st.binary(max_size=512),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda n, c: ('{"format": "siamese-bundle", "format_version": 1, "x": ' + c * n + "1" + "]" * n + "}").encode(),
              st.integers(1, 3000), st.just("[")),
)


def check_manifest(raw: bytes) -> None:
    """A manifest that reads is one the exporter could have written: every number finite, every threshold in range,
    booleans booleans, and it writes back as strict JSON."""
    from siamese_sdk.format.manifest import Manifest, read_manifest

    root = workdir() / "bundle"
    (root / "manifest.json").write_bytes(raw)
    m = expect_siamese(lambda: read_manifest(root, verify=False))
    if m is None:
        return
    json.dumps(m.to_dict(), allow_nan=False)
    assert isinstance(m.normalized, bool) and isinstance(m.embedding_dim, int) and not isinstance(m.embedding_dim, bool)
    for v in m.variants.values():
        for t in v.thresholds.values():
            assert math.isfinite(t) and m.score.lo <= t <= m.score.hi
    p = m.preprocess
    if p is not None:
        assert all(math.isfinite(x) for x in (p.scale, *p.mean, *p.std)) and p.scale > 0 and min(p.std) > 0
    assert Manifest.from_dict(m.to_dict()) == m


# ---- galleries ----------------------------------------------------------------------------------------------------
@cache
def gallery_bytes() -> bytes:
    import siamese_sdk

    g = siamese_sdk.Gallery.for_model(model(), storage="int8")
    g.add(np.random.default_rng(0).normal(size=(5, model().embedding_dim)).astype(np.float32), list("abcde"))
    path = workdir() / "g.npz"
    g.save(path)
    return path.read_bytes()


def _npy(draw: st.DrawFn) -> bytes:
    buf = io.BytesIO()
    dtype = draw(st.sampled_from(["<f4", "<f2", "|i1", "<U3", "<i8", "|b1", "<c8"]))
    shape = tuple(draw(st.lists(st.sampled_from([0, 1, 2, 5, 8, 2**31, 2**40]), max_size=3)))
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + draw(st.binary(max_size=64))


@st.composite
def gallery_files(draw: st.DrawFn) -> bytes:
    """A valid gallery with bytes flipped, cut or inserted, or one member replaced (a hostile header, deflate, meta)."""
    data = bytearray(gallery_bytes())
    how = draw(st.sampled_from(["flip", "truncate", "member", "meta", "deflate"]))
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    members = _members(bytes(data))
    compression = zipfile.ZIP_STORED
    if how == "member":
        members[draw(st.sampled_from(["meta.npy", "ids.npy", "vectors.npy", "scales.npy", "extra.npy"]))] = _npy(draw)
    elif how == "meta":
        meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))))
        meta[draw(st.sampled_from(sorted(meta)))] = draw(JSON)
        buf = io.BytesIO()
        np.save(buf, np.array(json.dumps(meta)))
        members["meta.npy"] = buf.getvalue()
    else:
        compression = zipfile.ZIP_DEFLATED
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def check_gallery(data: bytes) -> None:
    """A gallery that loads has matching ids and rows, valid ids, finite vectors, and searches itself."""
    import siamese_sdk
    from siamese_sdk.gallery.codec import check_id

    path = workdir() / "fuzz.npz"
    path.write_bytes(data)
    g = expect_siamese(lambda: siamese_sdk.Gallery.load(path, model=model()))
    if g is None:
        return
    ids = g.ids.tolist()
    assert len(ids) == len(g) and all(check_id(i) == i for i in ids)
    e = g.embeddings()
    assert e.shape == (len(g), model().embedding_dim) and np.isfinite(e).all()
    if len(g):
        _, scores = g.search(e, k=1)
        assert np.isfinite(scores).all()


# ---- images -------------------------------------------------------------------------------------------------------
MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "YCbCr", "I", "F", "I;16", "I;16B", "PA", "RGBa", "La"]
FORMATS = ["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP", "PPM", "ICO"]


@st.composite
def image_files(draw: st.DrawFn) -> tuple[bytes, bool]:
    """``(file bytes, intact)``: an image of any mode and size in any format Pillow writes for it, maybe corrupted."""
    from PIL import Image

    mode = draw(st.sampled_from(MODES))
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    probe = Image.new(mode, (1, 1))
    raw = draw(st.binary(min_size=len(probe.tobytes()) * w * h, max_size=len(probe.tobytes()) * w * h))
    img = Image.frombytes(mode, (w, h), raw)
    if mode == "F":
        a = np.nan_to_num(np.asarray(img), nan=0.0, posinf=1e30, neginf=-1e30)
        img = Image.fromarray(a.astype(np.float32), "F")
    fmt = draw(st.sampled_from(FORMATS))
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)
    data = buf.getvalue()
    if draw(st.booleans()):
        return data, True
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut"]))
        if op == "cut" and len(data) > 1:
            data = data[: draw(st.integers(1, len(data) - 1))]
        elif data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data), False


IMAGE_BYTES = st.one_of(image_files(), st.binary(max_size=1024).map(lambda b: (b, False)))


def check_image(case: tuple[bytes, bool]) -> None:
    """An image decodes to finite ``(C, H, W)`` inputs of both channel counts; an intact file always decodes."""
    from siamese_sdk.format.inputs import Preprocess
    from siamese_sdk.format.pixels import to_array

    data, intact = case
    path = workdir() / "fuzz.img"
    path.write_bytes(data)
    for channels in (1, 3):
        spec = Preprocess(size=(12, 10), channels=channels, mean=(0.5,) * channels, std=(0.5,) * channels)
        x = expect_siamese(lambda spec=spec: to_array(path, spec))
        if x is None:
            assert not intact, "an intact image was refused"
            continue
        assert x.shape == spec.shape and x.dtype == np.float32 and np.isfinite(x).all()


# ---- arrays into the API ------------------------------------------------------------------------------------------
ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.bool_, np.complex64]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=8),
    elements=None,
) | hnp.arrays(np.float32, st.tuples(st.integers(0, 3), st.just(8)), elements=st.floats(width=32))


def check_embed(x: np.ndarray) -> None:
    m = model()
    e = expect_siamese(lambda: m.embed(x))
    if e is not None:
        assert e.shape == (x.shape[0], m.embedding_dim) and e.dtype == np.float32 and np.isfinite(e).all()


def check_distance_verify(pair: tuple[np.ndarray, np.ndarray]) -> None:
    """Scores have the batch's shape and are finite; verify's decisions are those of the scores."""
    a, b = pair
    m = model()
    d = expect_siamese(lambda: m.distance(a, b))
    if d is not None:
        assert d.shape == (a.shape[0],) and np.isfinite(d).all(), d
    dm = expect_siamese(lambda: m.distance_matrix(a, b))
    if dm is not None:
        assert dm.shape == (a.shape[0], b.shape[0]) and np.isfinite(dm).all()
    expect_siamese(lambda: m.verify(a, b))


IDS = st.lists(st.text(max_size=6), min_size=0, max_size=4)


def check_gallery_api(case: tuple[np.ndarray, list[str], np.ndarray]) -> None:
    """Gallery.add/search/remove: ids stored exactly, each added row finds an equal row at distance ~0."""
    import siamese_sdk

    e, ids, q = case
    g = siamese_sdk.Gallery.for_model(model())
    if expect_siamese(lambda: g.add(e, ids)) is None and len(g) == 0:
        return
    assert g.ids.tolist() == list(ids)
    r = expect_siamese(lambda: g.search(q, k=3))
    if r is not None:
        assert np.isfinite(r[1]).all() and (np.diff(r[1], axis=1) >= -1e-3 * (1 + np.abs(r[1][:, 1:]))).all()
    own = g.search(np.asarray(e, np.float32), k=1)[1][:, 0]
    scale = np.linalg.norm(np.asarray(e, np.float64), axis=1) + 1
    assert (own <= 1e-3 * scale).all(), own
    assert g.remove(ids[0]) == list(ids).count(ids[0])


GALLERY_CASES = st.tuples(ARRAYS, IDS, ARRAYS) | st.tuples(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.just(8)), elements=st.floats(-1e3, 1e3, width=32)),
    st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4),
    hnp.arrays(np.float32, (2, 8), elements=st.floats(-1e3, 1e3, width=32)),
)

#: name -> (strategy, check): every target the fuzzer runs
TARGETS: dict[str, tuple[Any, Callable[[Any], None]]] = {
    "manifest_fields": (manifest_edits(), check_manifest),
    "manifest_text": (MANIFEST_TEXT, check_manifest),
    "gallery_file": (gallery_files(), check_gallery),
    "image_bytes": (IMAGE_BYTES, check_image),
    "embed_arrays": (ARRAYS, check_embed),
    "distance_verify_arrays": (st.tuples(ARRAYS, ARRAYS), check_distance_verify),
    "gallery_api": (GALLERY_CASES, check_gallery_api),
}
