"""Inputs that once gave a silent wrong answer, a traceback or a hang: each now reads faithfully or is refused in one line.

All run on the checked-in golden bundle (``tests/data/golden/bundle``): no torch, no training.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from PIL import Image
from siamese_sdk import BundleError, InputError, SiameseError
from siamese_sdk.format import pixels

GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())
BUNDLE = GOLDEN / "bundle"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))


@pytest.fixture(scope="module")
def model() -> siamese_sdk.SiameseModel:
    return siamese_sdk.load(BUNDLE, variant="fp32")


def _one_line(e: BaseException) -> None:
    assert isinstance(e, SiameseError) and "\n" not in str(e) and str(e)


# ---- images -----------------------------------------------------------------------------------------------------
def _as_16bit(src: Path, dest: Path) -> Path:
    a = np.asarray(Image.open(src).convert("L"), dtype=np.uint16) * 257  # 8-bit v -> 16-bit v * 257: the same image
    Image.fromarray(a).save(dest)
    assert Image.open(dest).mode == "I;16"
    return dest


def test_16bit_grey_reads_as_its_8bit_twin_and_two_drawings_differ(tmp_path, model):
    a16, b16 = _as_16bit(IMAGES[0], tmp_path / "a.png"), _as_16bit(IMAGES[2], tmp_path / "b.png")
    spec = model.manifest.preprocess
    assert np.array_equal(pixels.to_array(a16, spec), pixels.to_array(IMAGES[0], spec))
    d16 = model.distance(model.embed([a16]), model.embed([b16]))[0]
    d8 = model.distance(model.embed([str(IMAGES[0])]), model.embed([str(IMAGES[2])]))[0]
    assert d16 > 0 and d16 == pytest.approx(d8, abs=1e-5)


@pytest.mark.parametrize("mode", ["1", "L", "P", "PA", "RGB", "RGBA", "LA", "La", "RGBa", "CMYK", "YCbCr", "I", "F", "I;16", "I;16B"])
def test_every_mode_decodes(mode):
    img = Image.new(mode, (5, 3))
    for c in (1, 3):
        out = pixels.decode(img, c)
        assert out.dtype == np.uint8 and out.shape == ((3, 5) if c == 1 else (3, 5, 3))


def test_wide_grey_is_scaled_not_clipped():
    a = Image.fromarray(np.array([[0, 1000, 70000]], dtype=np.int32), "I")
    assert pixels.decode(a, 1).tolist() == [[0, 4, 255]]
    f = Image.fromarray(np.array([[0.0, 12.4, 255.0]], dtype=np.float32), "F")
    assert pixels.decode(f, 1).tolist() == [[0, 12, 255]]
    with pytest.raises(InputError):
        pixels.decode(Image.fromarray(np.array([[np.nan, 1.0]], dtype=np.float32), "F"), 1)


def test_alpha_is_laid_over_white():
    # black strokes on a transparent canvas whose transparent pixels store black: ink on paper, not black on black
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[1, :, 3] = 255
    grey = pixels.decode(Image.fromarray(rgba, "RGBA"), 1)
    assert grey[1].tolist() == [0] * 4 and grey[0].tolist() == [255] * 4
    half = np.array([[[0, 0, 0, 128]]], np.uint8)
    assert pixels.decode(Image.fromarray(half, "RGBA"), 1)[0, 0] == (255 * 127 + 127) // 255


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((2, 3), np.uint8)
    a[0, 0] = 255
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "o.jpg", exif=exif, quality=100)
    out = pixels.decode(tmp_path / "o.jpg", 1)
    assert out.shape == (3, 2) and out[0, 1] > 128 and out[0, 0] < 128


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_fifo_is_refused_without_blocking(tmp_path, model):
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    result: list[BaseException] = []

    def run() -> None:
        try:
            model.embed([str(fifo)])
        except BaseException as e:  # noqa: BLE001 (recorded for the assertion)
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("embed blocked on a FIFO")
    assert isinstance(result[0], InputError) and "not a regular file" in str(result[0])
    _one_line(result[0])


def test_decoding_touches_no_process_wide_state(tmp_path):
    before_filters, before_max = list(warnings.filters), Image.MAX_IMAGE_PIXELS
    threads = [threading.Thread(target=pixels.decode, args=(IMAGES[i % len(IMAGES)], 1)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warnings.filters == before_filters and Image.MAX_IMAGE_PIXELS == before_max


def test_pixel_count_checked_from_the_header(tmp_path, monkeypatch):
    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    monkeypatch.setattr(pixels, "MAX_IMAGE_PIXELS", 300 * 300 - 1)
    with pytest.raises(InputError, match="too large"):
        pixels.decode(tmp_path / "big.png", 1)


# ---- manifests ----------------------------------------------------------------------------------------------------
def _bundle_with(tmp_path: Path, edit, raw: str | None = None) -> Path:
    root = tmp_path / "b"
    shutil.copytree(BUNDLE, root)
    d = json.loads((root / "manifest.json").read_text())
    edit(d)
    (root / "manifest.json").write_text(raw if raw is not None else json.dumps(d))
    return root


def _set(path: str, value):
    def edit(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value

    return edit


@pytest.mark.parametrize(
    "path, value",
    [
        ("variants.fp32.thresholds.eer", float("nan")),
        ("variants.fp32.thresholds.eer", float("inf")),
        ("variants.fp32.thresholds.eer", "0.9"),
        ("variants.fp32.thresholds.eer", -1.0),
        ("input.preprocess.mean", [float("nan")]),
        ("input.preprocess.std", [float("inf")]),
        ("input.preprocess.scale", float("nan")),
        ("input.preprocess.scale", 0),
        ("input.preprocess.size", [28.5, 28]),
        ("input.preprocess.channels", True),
        ("normalized", "false"),
        ("embedding_dim", 8.5),
        ("embedding_dim", "8"),
        ("variants.int8.batch", 2.5),
        ("files.encoder.fp32.onnx", "not-a-hash"),
        ("profiles.cpu.providers", "cpu"),
        ("notes", [1, 2]),
        ("score", {"higher_is_closer": "no"}),
    ],
)
def test_manifest_values_the_exporter_never_writes_are_refused(tmp_path, path, value):
    if path.startswith("files."):
        edit = lambda d: d["files"].__setitem__("encoder.fp32.onnx", value)  # noqa: E731
    else:
        edit = _set(path, value)
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(_bundle_with(tmp_path, edit), verify=False)
    _one_line(e.value)


@pytest.mark.parametrize(
    "value",
    ["Infinity", "-Infinity", "NaN", "1e999", "9" * 5000, "[" * 100000 + "]" * 100000, '{"a":' * 5000 + "1" + "}" * 5000],
    ids=["Infinity", "-Infinity", "NaN", "1e999", "5000 digits", "deep array", "deep object"],
)
@pytest.mark.parametrize("field", ["embedding_dim", "validation"])
def test_hostile_manifest_text_is_one_line(tmp_path, field, value):
    d = json.loads((BUNDLE / "manifest.json").read_text())
    d[field] = "@@value@@"
    raw = json.dumps(d).replace('"@@value@@"', value)
    with pytest.raises(BundleError) as e:
        siamese_sdk.load(_bundle_with(tmp_path, lambda d: None, raw=raw), verify=False)
    _one_line(e.value)


def test_swapped_heads_are_refused_at_load(tmp_path):
    def swap(d):
        d["heads"] = {"pairwise": "head.matrix.onnx", "matrix": "head.pairwise.onnx"}

    with pytest.raises(BundleError, match="swapped") as e:
        siamese_sdk.load(_bundle_with(tmp_path, swap), verify=False)
    _one_line(e.value)


@pytest.mark.parametrize("graph", ["encoder.fp32.onnx", "../outside.ort"])
def test_ort_entries_get_the_checks_variants_get(tmp_path, graph):
    def add_ort(d):
        d["ort"] = {
            "variants": {"fp32": graph},
            "heads": {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"},
            "operators": "head.matrix.onnx",
        }
        d["files"].setdefault(graph, "0" * 64)

    with pytest.raises(BundleError, match="ort") as e:
        siamese_sdk.read_manifest(_bundle_with(tmp_path, add_ort), verify=False)
    _one_line(e.value)


def test_info_and_verify_json_never_print_nan(tmp_path):
    from click.testing import CliRunner
    from siamese_sdk.cli import main

    r = CliRunner().invoke(main, ["info", str(BUNDLE), "--json"])
    assert r.exit_code == 0 and "NaN" not in r.output
    json.loads(r.output)
    r = CliRunner().invoke(main, ["verify", str(BUNDLE), str(IMAGES[0]), str(IMAGES[1]), "--json"])
    assert r.exit_code == 0, r.output
    json.loads(r.output, parse_constant=lambda c: pytest.fail(f"printed {c}"))
    from siamese_sdk.cli.common import json_text

    assert json.loads(json_text({"a": float("nan"), "b": [float("inf"), 1.0]})) == {"a": None, "b": [None, 1.0]}


def test_keygen_with_an_empty_name_is_one_line(tmp_path):
    from click.testing import CliRunner
    from siamese_sdk.cli import main

    r = CliRunner().invoke(main, ["keygen", "-o", ""])
    assert r.exit_code != 0 and "Traceback" not in r.output and "empty" in r.output, r.output


# ---- galleries ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["alice\x00", "\x00", "bob\n", "a\x1bb", "x\x7f"])
def test_ids_that_would_not_round_trip_are_refused(model, bad):
    g = siamese_sdk.Gallery.for_model(model)
    with pytest.raises(InputError, match="control character"):
        g.add(np.ones((1, model.embedding_dim), np.float32), [bad])
    assert len(g) == 0


def test_ids_round_trip_exactly(tmp_path, model):
    ids = ["alice", " alice ", "élan", "名前", "a b"]
    g = siamese_sdk.Gallery.for_model(model)
    g.add(np.eye(len(ids), model.embedding_dim, dtype=np.float32), ids)
    g.save(tmp_path / "g.npz")
    back = siamese_sdk.Gallery.load(tmp_path / "g.npz", model=model)
    assert back.ids.tolist() == ids
    assert back.remove(" alice ") == 1 and back.ids.tolist() == [i for i in ids if i != " alice "]


def _gallery_file(tmp_path: Path, model) -> Path:
    g = siamese_sdk.Gallery.for_model(model)
    g.add(np.ones((2, model.embedding_dim), np.float32), ["a", "b"])
    g.save(tmp_path / "g.npz")
    return tmp_path / "g.npz"


def test_deflate_members_are_refused(tmp_path, model):
    import zipfile

    src = _gallery_file(tmp_path, model)
    out = tmp_path / "deflated.npz"
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as b:
        for name in a.namelist():
            b.writestr(name, a.read(name))
    with pytest.raises(siamese_sdk.GalleryError, match="compressed") as e:
        siamese_sdk.Gallery.load(out)
    _one_line(e.value)


def _with_member(src: Path, out: Path, name: str, data: bytes) -> Path:
    """A copy of the gallery ``src`` at ``out`` with member ``name`` replaced by ``data`` (stored, as ``save`` writes)."""
    import zipfile

    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out, "w") as b:
        for member in a.namelist():
            b.writestr(member, data if member == name else a.read(member))
    return out


def test_a_header_claiming_2_to_the_40_rows_is_refused_before_allocating(tmp_path, model):
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (2**40, 8)})
    out = _with_member(_gallery_file(tmp_path, model), tmp_path / "huge.npz", "vectors.npy", buf.getvalue() + b"\0" * 64)
    with pytest.raises(siamese_sdk.GalleryError, match="claims") as e:
        siamese_sdk.Gallery.load(out)
    _one_line(e.value)


def test_deeply_nested_gallery_meta_is_one_line(tmp_path, model):
    import io

    buf = io.BytesIO()
    np.save(buf, np.array("[" * 50000 + "]" * 50000))
    out = _with_member(_gallery_file(tmp_path, model), tmp_path / "deep.npz", "meta.npy", buf.getvalue())
    with pytest.raises(siamese_sdk.GalleryError) as e:
        siamese_sdk.Gallery.load(out)
    _one_line(e.value)


# ---- files --------------------------------------------------------------------------------------------------------
def test_resume_re_embeds_an_image_changed_at_the_same_path(tmp_path, model):
    from siamese_sdk.tools.stream import embed_to_npy, partial_paths

    files = []
    for i, src in enumerate(IMAGES[:4]):
        files.append(tmp_path / f"{i}.png")
        shutil.copy(src, files[-1])
    out = tmp_path / "e.npy"

    class Stop(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise Stop

    with pytest.raises(Stop):
        embed_to_npy(model, [str(f) for f in files], out, batch_size=2, checkpoint_seconds=0, progress=stop_after_two)
    assert partial_paths(out)[1].exists()
    shutil.copy(IMAGES[5], files[0])  # another drawing at the same path (another size, a later mtime)
    os.utime(files[0], ns=(os.stat(files[0]).st_atime_ns, os.stat(files[0]).st_mtime_ns + 10**9))
    logs: list[str] = []
    run = embed_to_npy(model, [str(f) for f in files], out, batch_size=2, log=logs.append)
    assert run.resumed_from == 2 and any("re-embedded 1 " in m for m in logs), logs
    np.testing.assert_allclose(np.load(out)[0], model.embed([str(IMAGES[5])])[0], atol=1e-6)


def test_the_next_save_sweeps_temp_files_of_killed_saves(tmp_path, model):
    g = siamese_sdk.Gallery.for_model(model)
    g.add(np.ones((1, model.embedding_dim), np.float32), ["a"])
    path = tmp_path / "g.npz"
    stale = tmp_path / ".g.npz.abc123.tmp"
    stale.write_bytes(b"x" * 1000)
    old = os.stat(stale).st_mtime - 3600
    os.utime(stale, (old, old))
    other = tmp_path / ".h.npz.abc123.tmp"  # another file's temp: not this save's to sweep
    other.write_bytes(b"x")
    os.utime(other, (old, old))
    g.save(path)
    assert not stale.exists() and other.exists() and path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".g.npz.")]
