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
