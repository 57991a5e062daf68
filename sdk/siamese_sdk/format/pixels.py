"""Image pixels to encoder inputs (the pixels of ``ImageInput``), in numpy and Pillow only.

The trainer calls these same functions, so one image file gives the same input tensor (and hence the
same embedding) in training, evaluation, export and the deployed SDK. Pillow is imported on the first
image decoded, not with the module: a model fed preprocessed arrays never loads it (cold start).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from PIL import Image

    from .inputs import Preprocess

#: Pillow's decompression-bomb guard: images above this many pixels are refused, not decoded.
MAX_IMAGE_PIXELS = 64_000_000
#: ``Preprocess.resample`` -> the name of Pillow's ``Image.Resampling`` member
RESAMPLE = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "box": "BOX", "lanczos": "LANCZOS"}

#: ``Preprocess.resize``: how an image's aspect ratio meets the input's ``(H, W)``
RESIZE_MODES = ("stretch", "letterbox", "crop")

ImageLike = Union[str, os.PathLike, "Image.Image"]  # a forward reference: PIL is imported on first use


def _round_div(a: int, b: int) -> int:
    """``a / b`` rounded to the nearest int, halves up, in integer arithmetic (``a >= 0``, ``b > 0``)."""
    return (2 * a + b) // (2 * b)


def fit(width: int, height: int, size: tuple[int, int], mode: str) -> tuple[int, int, int, int]:
    """Where a ``width x height`` px image goes in an input of ``size = (H, W)`` px: ``(w, h, left, top)``.

    The image is resized to ``w x h`` px. ``stretch``: ``(W, H, 0, 0)``. ``letterbox`` (fit inside, keep the
    aspect ratio): the resized image is pasted at column ``left``, row ``top`` of an ``H x W`` canvas of the
    fill value. ``crop`` (cover, keep the aspect ratio): the ``H x W`` window starting at column ``left``, row
    ``top`` of the resized image is kept. The scaled side is ``round(side * target / other side)``, halves up,
    at least 1 px; offsets are ``floor(|W - w| / 2)`` and ``floor(|H - h| / 2)`` (docs/bundle-format.md).
    """
    out_h, out_w = size
    if mode == "stretch":
        return out_w, out_h, 0, 0
    wider = width * out_h >= out_w * height  # the image's aspect ratio is at least the input's
    if (mode == "letterbox") == wider:  # letterbox of a wider image, crop of a taller one: the width fits
        w, h = out_w, max(1, _round_div(height * out_w, width))
    else:
        w, h = max(1, _round_div(width * out_h, height)), out_h
    return w, h, abs(out_w - w) // 2, abs(out_h - h) // 2


def open_image(source: ImageLike) -> Image.Image:
    """Open an image file fully (decoded now, not lazily); raises ``InputError`` in one line."""
    from PIL import Image

    if isinstance(source, Image.Image):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"an image is a path (str, pathlib.Path) or a PIL image, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise InputError(f"image not found: {path}; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image; pass image files (or use the folder commands)")
    return _decode(path, str(path))


def decode_image(data: bytes, what: str) -> Image.Image:
    """An image file's bytes (an upload), decoded now; ``InputError`` in one line naming ``what`` (e.g. the field)."""
    import io

    return _decode(io.BytesIO(data), what)


def _decode(source: Path | BinaryIO, what: str) -> Image.Image:
    """Decode a file or file object fully, refusing decompression bombs; ``InputError`` in one line naming ``what``."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                img.load()
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{what} is too large to decode safely (over {MAX_IMAGE_PIXELS:,} pixels); resize it first") from None
    except UnidentifiedImageError:
        raise InputError(f"{what} is not an image Pillow can read; pass PNG, JPEG, PGM or another Pillow format") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{what} could not be decoded ({e}); the file is truncated or corrupt") from None


def to_array(image: ImageLike, spec: Preprocess) -> np.ndarray:
    """One image to a ``(C, H, W) float32`` array, preprocessed as ``spec`` says (geometry: ``fit``)."""
    from PIL import Image

    img = open_image(image)
    img = img.convert("L" if spec.channels == 1 else "RGB")
    height, width = spec.size
    w, h, left, top = fit(img.width, img.height, spec.size, spec.resize)
    if img.size != (w, h):
        img = img.resize((w, h), getattr(Image.Resampling, RESAMPLE[spec.resample]))
    if (w, h) != (width, height):
        if spec.resize == "letterbox":
            canvas = Image.new(img.mode, (width, height), spec.fill if spec.channels == 1 else (spec.fill,) * 3)
            canvas.paste(img, (left, top))
            img = canvas
        else:  # crop
            img = img.crop((left, top, left + width, top + height))
    x = np.asarray(img, dtype=np.float32) * np.float32(spec.scale)
    x = x.reshape(height, width, spec.channels).transpose(2, 0, 1)
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


def to_batch(images: Sequence[ImageLike], spec: Preprocess) -> np.ndarray:
    """Images to a ``(N, C, H, W) float32`` batch; raises ``InputError`` when ``images`` is empty."""
    if len(images) == 0:
        raise InputError("no images given; pass at least one image path")
    out = np.empty((len(images), *spec.shape), dtype=np.float32)
    for i, img in enumerate(images):
        out[i] = to_array(img, spec)
    return out
