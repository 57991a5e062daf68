"""Ink on paper (manifest ``input.preprocess.ink``): the background made white, the ink stretched to black and
the image cropped to its ink, so that paper or scanner brightness and the blank space around a signature carry
no identity. Integer arithmetic only: the browser runtime (``sdk/js/src/preprocess.js``) gives the same bytes.

``normalize-crop``, on the grey ``(H, W) uint8`` image, before any resize (docs/bundle-format.md):

1. levels: ``paper`` = the value of rank ``9 (N - 1) // 10`` of the ``N`` pixels in ascending order (0-based:
   the 90th percentile; a signature's ink covers far less than 10 % of its page) and ``dark`` = the darkest
   value (a page may hold well under 1 % ink, so no low percentile is safe);
2. contrast ``c = max(paper - dark, 32)``; ``black = paper - c``; ``white = paper - c // 8`` (pixels within an
   eighth of the contrast of the paper level are paper); each pixel ``v`` becomes
   ``clip(floor((510 (v - black) + d) / (2 d)), 0, 255)`` with ``d = white - black`` (``255 (v - black) / d``
   rounded, halves up);
3. ink = pixels below 128; its box keeps the rows (columns) between the first whose cumulative ink count
   times 100 exceeds the total and the first whose count times 100 reaches 99 times the total (1 % of the ink
   trimmed at each end: specks do not stretch the box); no ink: the whole image;
4. the box grows by ``m = max(box height, box width) // 16 + 2`` px on every side, padded with 255 where it
   leaves the image.
"""

from __future__ import annotations

import numpy as np

from ..errors import BundleError

#: ``Preprocess.ink`` values: ``none`` (pixels as decoded) or ``normalize-crop`` (see the module docstring)
INK_MODES = ("none", "normalize-crop")
#: the least ink-to-paper contrast stretched to full range (a blank page is not amplified into noise)
MIN_CONTRAST = 32
#: a normalised pixel below this is ink
INK_LEVEL = 128


def check_mode(mode: str, channels: int) -> None:
    """``BundleError`` in one line for an unknown ``ink`` value, or ``normalize-crop`` on colour inputs."""
    if mode not in INK_MODES:
        raise BundleError(f"preprocess ink {mode!r} unknown to this siamese-sdk; use {', '.join(INK_MODES)} (or upgrade)")
    if mode != "none" and channels != 1:
        raise BundleError(f"preprocess ink {mode} needs grey inputs (channels 1), got channels {channels}; re-export with --channels 1")


def _rank(hist_cum: np.ndarray, k: int) -> int:
    """The value of 0-based rank ``k`` given the cumulative histogram ``(256,)``."""
    return int(np.searchsorted(hist_cum, k, side="right"))


def normalize(grey: np.ndarray) -> np.ndarray:
    """``(H, W) uint8`` -> ``(H, W) uint8``: paper to 255, ink stretched towards 0 (steps 1-2 of the module docstring)."""
    n = grey.size
    cum = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    paper, dark = _rank(cum, 9 * (n - 1) // 10), int(grey.min())
    c = max(paper - dark, MIN_CONTRAST)
    black, white = paper - c, paper - c // 8
    d = white - black
    v = grey.astype(np.int64) - black
    return np.clip((510 * v + d) // (2 * d), 0, 255).astype(np.uint8)


def _span(profile: np.ndarray) -> tuple[int, int]:
    """First and last index (inclusive) holding the middle 98 % of a non-empty ``profile``'s ink count."""
    cum = np.cumsum(profile)
    total = int(cum[-1])
    first = int(np.argmax(cum * 100 > total))
    last = int(np.argmax(cum * 100 >= 99 * total))
    return first, last


def ink_box(normalized: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` inclusive of the ink in a normalised image (step 3), None when it has none."""
    ink = normalized < INK_LEVEL
    rows = ink.sum(axis=1)
    if not rows.any():
        return None
    top, bottom = _span(rows)
    left, right = _span(ink.sum(axis=0))
    return top, bottom, left, right


def crop(normalized: np.ndarray) -> np.ndarray:
    """The ink box of a normalised ``(H, W) uint8`` image with its margin, padded with 255 (steps 3-4)."""
    box = ink_box(normalized)
    if box is None:
        return normalized
    top, bottom, left, right = box
    m = max(bottom - top + 1, right - left + 1) // 16 + 2
    top, bottom, left, right = top - m, bottom + m + 1, left - m, right + m + 1
    out = np.full((bottom - top, right - left), 255, dtype=np.uint8)
    h, w = normalized.shape
    y0, y1, x0, x1 = max(top, 0), min(bottom, h), max(left, 0), min(right, w)
    out[y0 - top : y1 - top, x0 - left : x1 - left] = normalized[y0:y1, x0:x1]
    return out


def apply(grey: np.ndarray, mode: str) -> np.ndarray:
    """``grey (H, W) uint8`` preprocessed as ``ink`` ``mode`` says (``none``: unchanged); the result's size differs."""
    if mode == "none":
        return grey
    check_mode(mode, 1)
    return crop(normalize(grey))
