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
from typing import TYPE_CHECKING, Union

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from PIL import Image

    from .inputs import Preprocess

#: Pillow's decompression-bomb guard: images above this many pixels are refused, not decoded.
MAX_IMAGE_PIXELS = 64_000_000
#: ``Preprocess.resample`` -> the name of Pillow's ``Image.Resampling`` member
RESAMPLE = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "box": "BOX", "lanczos": "LANCZOS"}

ImageLike = Union[str, os.PathLike, "Image.Image"]  # a forward reference: PIL is imported on first use


def open_image(source: ImageLike) -> Image.Image:
    """Open an image file fully (decoded now, not lazily); raises ``InputError`` in one line."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Image.Image):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(f"an image is a path (str, pathlib.Path) or a PIL image, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise InputError(f"image not found: {path}; check the path")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not an image; pass image files (or use the folder commands)")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return img.copy()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path} is too large to decode safely (over {MAX_IMAGE_PIXELS:,} pixels); resize it first") from None
    except UnidentifiedImageError:
        raise InputError(f"{path} is not an image Pillow can read; pass PNG, JPEG, PGM or another Pillow format") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path} could not be decoded ({e}); the file is truncated or corrupt") from None


def to_array(image: ImageLike, spec: Preprocess) -> np.ndarray:
    """One image to a ``(C, H, W) float32`` array, preprocessed as ``spec`` says."""
    from PIL import Image

    img = open_image(image)
    img = img.convert("L" if spec.channels == 1 else "RGB")
    height, width = spec.size
    if img.size != (width, height):
        img = img.resize((width, height), getattr(Image.Resampling, RESAMPLE[spec.resample]))
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
