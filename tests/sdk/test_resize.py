"""``Preprocess.resize`` (stretch, letterbox, crop): the integer geometry of docs/bundle-format.md on hand-made
images whose output can be stated, and the manifest keys ``resize`` / ``fill`` (written only when not stretch)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from siamese_sdk.errors import BundleError
from siamese_sdk.format.inputs import ImageInput, Preprocess, input_from_dict
from siamese_sdk.format.pixels import fit, to_array

RAW = dict(scale=1.0, mean=(0.0,), std=(1.0,))  # output = the raw 0..255 pixel values


def raw(size, resize, fill=0, channels=1, resample="bilinear") -> Preprocess:
    mean_std = {} if channels == 1 else dict(mean=(0.0,) * 3, std=(1.0,) * 3)
    return Preprocess(size=size, channels=channels, resample=resample, resize=resize, fill=fill, **{**RAW, **mean_std})


@pytest.mark.parametrize(
    "width, height, size, mode, want",
    [
        (20, 10, (10, 10), "letterbox", (10, 5, 0, 2)),  # wide into square: full width, centred band
        (20, 10, (10, 10), "crop", (20, 10, 5, 0)),  # cover: full height, centre columns kept
        (10, 20, (10, 10), "letterbox", (5, 10, 2, 0)),
        (10, 20, (10, 10), "crop", (10, 20, 0, 5)),
        (10, 20, (10, 20), "letterbox", (5, 10, 7, 0)),  # 15 px of padding: 7 left, 8 right
        (40, 20, (10, 20), "letterbox", (20, 10, 0, 0)),  # same aspect ratio: a plain resize
        (40, 20, (10, 20), "crop", (20, 10, 0, 0)),
        (4, 3, (10, 2), "letterbox", (2, 2, 0, 4)),  # 3 * 2 / 4 = 1.5 rounds half up to 2
        (1000, 1, (10, 10), "letterbox", (10, 1, 0, 4)),  # never below 1 px
        (17, 9, (12, 12), "stretch", (12, 12, 0, 0)),
    ],
)
def test_fit_geometry(width, height, size, mode, want):
    assert fit(width, height, size, mode) == want


def test_letterbox_centres_a_white_band_on_the_fill():
    x = to_array(Image.new("L", (20, 10), 255), raw((10, 10), "letterbox", fill=7))[0]
    band = np.zeros((10, 10), np.float32) + 7
    band[2:7] = 255  # 10 x 5 band, 2 rows above, 3 below
    assert np.array_equal(x, band)


def test_letterbox_of_a_tall_image_into_a_wide_input_pads_left_and_right():
    x = to_array(Image.new("RGB", (10, 20), (255, 0, 100)), raw((10, 20), "letterbox", fill=128, channels=3))
    assert x.shape == (3, 10, 20)
    inside = (slice(None), slice(7, 12))  # 5 px wide, 7 columns left, 8 right
    assert np.array_equal(x[0][inside], np.full((10, 5), 255.0)) and np.array_equal(x[2][inside], np.full((10, 5), 100.0))
    pad = np.ones((10, 20), bool)
    pad[inside] = False
    assert np.all(x[:, pad] == 128)  # every channel takes the raw fill value


def test_crop_keeps_the_centre():
    a = np.zeros((10, 20), np.uint8)
    a[:, 5:15] = 255
    a[:, 15:] = 100  # left 5 columns 0, centre 10 white, right 5 grey
    x = to_array(Image.fromarray(a), raw((10, 10), "crop"))[0]
    assert np.array_equal(x, np.full((10, 10), 255.0))  # no resize (the height fits), columns 5..14 kept


def test_crop_and_letterbox_resample_like_a_plain_resize():
    """The resized part is Pillow's ``resize`` to the scaled size, pasted or cropped, and nothing else."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (30, 45), dtype=np.uint8))
    for resample in ("bilinear", "bicubic", "nearest"):
        filt = getattr(Image.Resampling, resample.upper())
        lb = to_array(img, raw((24, 24), "letterbox", resample=resample))[0]
        assert np.array_equal(lb[4:20], np.asarray(img.resize((24, 16), filt), np.float32))  # 30 * 24 / 45 = 16 rows
        cr = to_array(img, raw((24, 24), "crop", resample=resample))[0]
        assert np.array_equal(cr, np.asarray(img.resize((36, 24), filt), np.float32)[:, 6:30])


def test_equal_aspect_letterbox_and_crop_are_stretch():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8))
    want = to_array(img, raw((12, 18), "stretch"))
    for mode in ("letterbox", "crop"):
        assert np.array_equal(to_array(img, raw((12, 18), mode)), want)


def test_manifest_keys_round_trip():
    lb = Preprocess(size=(112, 92), resize="letterbox", fill=255)
    d = ImageInput("images", lb).to_dict()
    assert d["shape"] == [None, 1, 112, 92] and d["preprocess"]["resize"] == "letterbox" and d["preprocess"]["fill"] == 255
    assert input_from_dict(d).preprocess == lb
    crop = Preprocess(size=(64, 48), resize="crop")
    assert crop.to_dict()["resize"] == "crop" and "fill" not in crop.to_dict()  # fill belongs to letterbox
    assert Preprocess.from_dict(crop.to_dict()) == crop
    stretch = Preprocess(size=(28, 28))
    assert "resize" not in stretch.to_dict() and "fill" not in stretch.to_dict()  # the dict written before these keys
    assert Preprocess.from_dict(stretch.to_dict()).resize == "stretch"


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"resize": "pad"}, "preprocess resize 'pad' unknown"),
        ({"resize": "letterbox", "fill": 256}, "preprocess fill 256 invalid"),
        ({"resize": "letterbox", "fill": 1.5}, "preprocess fill 1.5 invalid"),
        ({"resize": "crop", "fill": 3}, "fill 3 applies to resize letterbox only"),
    ],
)
def test_bad_resize_keys_are_one_line_errors(extra, message):
    d = {**Preprocess(size=(10, 12)).to_dict(), **extra}
    with pytest.raises(BundleError, match=message) as e:
        Preprocess.from_dict(d)
    assert "\n" not in str(e.value)
