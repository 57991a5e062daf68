"""Ink on paper (``Preprocess.ink``, ``siamese_sdk.format.ink``): the paper level carries no identity, the crop
keeps the ink with its margin, and bundles that do not use it are written as before."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from siamese_sdk.errors import BundleError
from siamese_sdk.format import ink
from siamese_sdk.format.inputs import Preprocess
from siamese_sdk.format.pixels import to_array


def page(paper: int, noise: float, seed: int = 0, shape: tuple[int, int] = (60, 100)) -> np.ndarray:
    """A ``(H, W) uint8`` page of level ``paper`` (+- ``noise``) with a dark scribble at rows 20-31, cols 30-79."""
    rng = np.random.default_rng(seed)
    a = np.clip(paper + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)
    a[20:32:3, 30:80] = 25  # four 1-px lines
    a[20:32, 30:32] = 25
    a[20:32, 78:80] = 25
    return a


def test_grey_and_white_paper_give_the_same_normalised_image():
    grey, white = page(240, 2.0), page(253, 1.0, seed=1)
    a, b = ink.apply(grey, "normalize-crop"), ink.apply(white, "normalize-crop")
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.uint8 and set(np.unique(a)) == {0, 255}
    lighter = grey.copy()
    lighter[20:32, 78:80] = 90  # a lighter ink stays ink, stretched by the page's own contrast
    assert 0 < ink.apply(lighter, "normalize-crop").min(initial=255, where=ink.apply(lighter, "normalize-crop") > 0) < 128


def test_the_crop_is_the_ink_box_with_its_margin():
    out = ink.apply(page(240, 0.0), "normalize-crop")
    m = 50 // 16 + 2  # box 12 x 50 px
    assert out.shape == (12 + 2 * m, 50 + 2 * m)
    assert (out[:m] == 255).all() and (out[-m:] == 255).all() and (out[:, :m] == 255).all() and (out[:, -m:] == 255).all()
    assert (out[m, m : m + 50] == 0).all()  # the first ink row sits right after the margin


def test_a_speck_does_not_stretch_the_box_and_the_margin_pads_past_the_edge():
    a = page(240, 0.0)
    a[0, 0] = 0  # one speck: 1 of 232 ink pixels, trimmed
    assert ink.apply(a, "normalize-crop").shape == ink.apply(page(240, 0.0), "normalize-crop").shape
    edge = np.full((10, 40), 230, np.uint8)
    edge[:, :3] = 10  # ink on the left edge: the margin is padded with paper
    out = ink.apply(edge, "normalize-crop")
    m = 10 // 16 + 2
    assert out.shape == (10 + 2 * m, 3 + 2 * m) and (out[:, :m] == 255).all() and (out[m:-m, m : m + 3] == 0).all()


def test_a_blank_page_stays_blank_and_uncropped():
    blank = np.full((7, 9), 200, np.uint8)
    out = ink.apply(blank, "normalize-crop")
    assert out.shape == (7, 9) and (out == 255).all()
    assert ink.apply(blank, "none") is blank


def test_the_spec_records_ink_only_when_used():
    plain = Preprocess(size=(24, 40), resize="letterbox", fill=255)
    assert "ink" not in plain.to_dict() and Preprocess.from_dict(plain.to_dict()) == plain
    inked = Preprocess(size=(24, 40), resize="letterbox", fill=255, ink="normalize-crop")
    assert inked.to_dict()["ink"] == "normalize-crop" and Preprocess.from_dict(inked.to_dict()) == inked
    with pytest.raises(BundleError, match=r"^preprocess ink 'binarize' unknown to this siamese-sdk; use none, normalize-crop \(or upgrade\)$"):
        Preprocess.from_dict({**inked.to_dict(), "ink": "binarize"})
    with pytest.raises(BundleError, match="needs grey inputs"):
        Preprocess(size=(24, 40), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3, ink="normalize-crop")


def test_to_array_applies_it_before_the_letterbox(tmp_path):
    spec = Preprocess(size=(24, 40), resize="letterbox", fill=255, ink="normalize-crop")
    paths = []
    for name, paper, noise in (("grey", 240, 2.0), ("white", 253, 1.0)):
        big = np.full((120, 300), paper, np.uint8)  # the same scribble on a larger page: the crop removes the page
        big[30:90, 100:200] = page(paper, noise)
        Image.fromarray(big).save(tmp_path / f"{name}.png")
        paths.append(tmp_path / f"{name}.png")
    a, b = to_array(paths[0], spec), to_array(paths[1], spec)
    np.testing.assert_array_equal(a, b)
    raw = Preprocess(size=(24, 40), resize="letterbox", fill=255)
    assert not np.array_equal(to_array(paths[0], raw), to_array(paths[1], raw))  # without it, the paper tells them apart
    assert a.min() < -0.5 and a.max() == 1.0  # paper is 255, the ink dark (thin lines are greyed by the resize)
