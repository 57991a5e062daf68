"""Image pixels to encoder inputs (the pixels of ``ImageInput``), in numpy and Pillow only.

The trainer calls these same functions, so one image file gives the same input tensor (and hence the
same embedding) in training, evaluation, export and the deployed SDK. Pillow is imported on the first
image decoded, not with the module: a model fed preprocessed arrays never loads it (cold start).

The decoder (``decode``) is faithful for every mode Pillow opens and touches no process-wide state:

- a path must be a regular file (a FIFO, device or socket is refused before any byte is read: it would block);
- the pixel count is read from the header and checked against ``MAX_IMAGE_PIXELS`` before decoding (Pillow's
  global ``Image.MAX_IMAGE_PIXELS`` and the ``warnings`` filters are left as they are);
- EXIF orientation is **applied** (the image is turned upright, as every viewer and browser shows it; the
  browser runtime applies it too), for every format that carries it;
- 16-bit grey (``I;16``, ``I;16B``, ...) is scaled by its full range ``v * 255 / 65535`` (rounded), never
  clipped; 32-bit grey (``I``) and float (``F``) values already within ``[0, 255]`` are kept, others are
  stretched from their minimum..maximum to ``[0, 255]`` (NaN/Inf refused);
- alpha (``RGBA``, ``LA``, ``PA``, a palette or grey image with ``transparency``, premultiplied modes) is laid
  over a white background (``BACKGROUND``): ``(c * a + 255 * (255 - a) + 127) // 255`` per channel, so a drawing
  on a transparent canvas reads as ink on paper, whatever colour its transparent pixels store;
- ``1``, ``P``, ``CMYK``, ``YCbCr`` and ``HSV`` convert through Pillow's ``RGB``/``L``; grey from RGB is Pillow's
  ``L = (19595 R + 38470 G + 7471 B + 2^15) >> 16``. A mode with no such conversion (``LAB``, multi-band
  float) is refused in one line (``InputError``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Union

import numpy as np

from ..errors import InputError
from . import ink
from .unreadable import UnreadableImageError, UnreadableImagesError

if TYPE_CHECKING:
    from PIL import Image

    from .inputs import Preprocess

#: images above this many pixels (width x height, from the header) are refused before they are decoded.
MAX_IMAGE_PIXELS = 64_000_000
#: the grey level translucent pixels are laid over (white paper), in every channel.
BACKGROUND = 255
#: ``Preprocess.resample`` -> the name of Pillow's ``Image.Resampling`` member
RESAMPLE = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "nearest": "NEAREST", "box": "BOX", "lanczos": "LANCZOS"}

#: ``Preprocess.resize``: how an image's aspect ratio meets the input's ``(H, W)``
RESIZE_MODES = ("stretch", "letterbox", "crop")

ImageLike = Union[str, os.PathLike, "Image.Image"]  # a forward reference: PIL is imported on first use

#: modes read as RGB(A) through Pillow's own conversion (``convert("RGBA")`` keeps any alpha)
_VIA_RGBA = ("P", "PA", "RGBa", "RGBX", "CMYK", "YCbCr", "HSV", "RGB", "RGBA")
_VIA_LA = ("1", "L", "LA")


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


def check_regular_file(path: Path, what: str = "image") -> None:
    """``InputError`` in one line unless ``path`` is a regular file (checked with ``stat``, nothing is opened or read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}; check the path") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{what} {path!s:.200} cannot be read ({getattr(e, 'strerror', None) or e}); check the path") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory, not an {what}; pass {what} files (or use the folder commands)")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path} is not a regular file (a FIFO, device or socket); pass an {what} file")


def _check_pixels(width: int, height: int, name: str) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"{name} is too large to decode safely (over {MAX_IMAGE_PIXELS:,} pixels); resize it first")


def open_image(source: ImageLike) -> Image.Image:
    """Open an image file fully (decoded now, not lazily, EXIF orientation applied); ``InputError`` in one line.

    A path must name a regular file; its pixel count is checked from the header before it is decoded.
    """
    from PIL import Image, ImageOps

    if isinstance(source, Image.Image):
        _check_pixels(source.width, source.height, "the image")
        return _upright(source, ImageOps, "the image")
    if not isinstance(source, (str, os.PathLike)) or isinstance(source, bytes):
        raise InputError(f"an image is a path (str, pathlib.Path) or a PIL image, got {type(source).__name__}")
    if not str(source):
        raise InputError("image path is empty; pass an image file")
    path = Path(source)
    check_regular_file(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # never blocks, even if swapped for a FIFO
    except OSError as e:
        raise InputError(f"{path} cannot be read ({e.strerror or e}); check the path and its permissions") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"{path} is not a regular file (a FIFO, device or socket); pass an image file")
        return _decode(f, str(path))


def decode_image(data: bytes, what: str) -> Image.Image:
    """An image file's bytes (an upload), decoded now as ``open_image`` decodes a file; ``InputError`` in one line
    naming ``what`` (e.g. the field)."""
    import io

    return _decode(io.BytesIO(data), what)


def _decode(f: BinaryIO, what: str) -> Image.Image:
    """Decode an open image file fully: its pixel count checked from the header first, EXIF orientation applied;
    ``UnreadableImageError`` (an ``InputError``) in one line naming ``what`` when it cannot be decoded."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(f) as img:
            _check_pixels(img.width, img.height, what)  # before any pixel is decoded
            img.load()
            return _upright(img, ImageOps, what)
    except InputError as e:
        raise UnreadableImageError(str(e), what, str(e).removeprefix(f"{what} ").split(";")[0]) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        reason = f"too large to decode safely, over {MAX_IMAGE_PIXELS:,} pixels"
        message = f"{what} is {reason}; resize it first"
    except UnidentifiedImageError:
        reason = "not an image Pillow can read"
        message = f"{what} is {reason}; pass PNG, JPEG, PGM or another Pillow format"
    except MemoryError:
        reason = "needs more memory to decode than is available"
        message = f"{what} {reason}; resize it first"
    except Exception as e:  # a corrupt file makes Pillow's decoders raise many kinds: report each in one line
        first = (str(e).strip().splitlines() or [""])[0][:160]
        reason = f"truncated or corrupt: {type(e).__name__}: {first}"
        message = f"{what} could not be decoded ({type(e).__name__}: {first}); the file is truncated or corrupt"
    raise UnreadableImageError(message, what, reason)


def _upright(img: Image.Image, image_ops: object, name: str) -> Image.Image:
    """A decoded copy of ``img`` turned as its EXIF orientation says (unchanged without one)."""
    try:
        out = image_ops.exif_transpose(img)  # type: ignore[attr-defined]
    except Exception as e:  # malformed EXIF
        raise InputError(f"{name} has unreadable EXIF data ({type(e).__name__}); re-save the image") from None
    return img.copy() if out is img or out is None else out


def _wide_grey(a: np.ndarray, mode: str, name: str) -> np.ndarray:
    """16-bit, 32-bit int or float grey ``(H, W)`` to uint8 by its range (module docstring), never clipped."""
    if mode.startswith("I;16"):
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    x = a.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} holds NaN or Inf pixel values; pass an image with finite pixels")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo >= 0 and hi <= 255:
        return np.rint(x).astype(np.uint8)
    if hi == lo:
        return np.full(x.shape, np.clip(lo, 0, 255), dtype=np.uint8)
    return np.rint((x - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _over_background(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 ``colour (H, W[, C])`` with ``alpha (H, W)`` laid over ``BACKGROUND``: ``(c a + bg (255 - a) + 127) // 255``."""
    a = alpha.astype(np.uint32)
    if colour.ndim == 3:
        a = a[..., None]
    return ((colour.astype(np.uint32) * a + BACKGROUND * (255 - a) + 127) // 255).astype(np.uint8)


def grey_of(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB to ``(H, W)`` grey as Pillow's ``L``: ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``."""
    c = rgb.astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def decode(image: ImageLike, channels: int) -> np.ndarray:
    """Any image to uint8 pixels: ``(H, W)`` grey for ``channels=1``, ``(H, W, 3)`` RGB for 3 (module docstring)."""
    img = open_image(image)
    name = str(image) if isinstance(image, (str, os.PathLike)) else "the image"
    if img.mode == "La":  # premultiplied grey: Pillow converts it to straight alpha only
        img = img.convert("LA")
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = _wide_grey(np.asarray(img), mode, name)
        return grey if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
    has_alpha = "A" in mode or "a" in mode or "transparency" in img.info
    try:
        if mode in _VIA_LA and (channels == 1 or mode in ("1", "L") and not has_alpha):
            la = np.asarray(img.convert("LA" if has_alpha else "L"))
            grey = _over_background(la[..., 0], la[..., 1]) if has_alpha else la
            return grey if channels == 1 else np.repeat(grey[..., None], 3, axis=2)
        rgba = np.asarray(img.convert("RGBA") if has_alpha or mode in _VIA_LA else img.convert("RGB"))
    except (ValueError, OSError) as e:
        raise InputError(f"{name} has pixel mode {mode}, which cannot be read as grey or RGB ({e}); convert it to RGB first") from None
    rgb = _over_background(rgba[..., :3], rgba[..., 3]) if rgba.shape[-1] == 4 else rgba
    return grey_of(rgb) if channels == 1 else np.ascontiguousarray(rgb)


def to_array(image: ImageLike, spec: Preprocess) -> np.ndarray:
    """One image to a ``(C, H, W) float32`` array, preprocessed as ``spec`` says (pixels: ``decode``; geometry: ``fit``)."""
    from PIL import Image

    pixels = decode(image, spec.channels)
    if spec.ink != "none":
        pixels = ink.apply(pixels, spec.ink)  # grey only (Preprocess checks): paper to white, crop to the ink
    img = Image.fromarray(pixels, "L" if spec.channels == 1 else "RGB")
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
    """Images to a ``(N, C, H, W) float32`` batch.

    Raises ``InputError`` when ``images`` is empty or a path is missing, and ``UnreadableImagesError`` naming
    every image that cannot be decoded (all of them are tried first).
    """
    out, _, failed = decode_batch(images, spec)
    if failed:
        raise UnreadableImagesError(failed, len(images), skip_hint=False)
    return out


def decode_batch(images: Sequence[ImageLike], spec: Preprocess) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Decode what can be decoded: ``(x, kept, failed)`` with ``x`` the ``(len(kept), C, H, W) float32`` batch of
    ``images[i] for i in kept`` and ``failed`` the ``(path, reason)`` of each image that cannot be decoded.

    Raises ``InputError`` when ``images`` is empty or a path is missing, not a regular file or not an image argument.
    """
    if len(images) == 0:
        raise InputError("no images given; pass at least one image path")
    out = np.empty((len(images), *spec.shape), dtype=np.float32)
    kept: list[int] = []
    failed: list[tuple[str, str]] = []
    for i, img in enumerate(images):
        try:
            out[len(kept)] = to_array(img, spec)
        except UnreadableImageError as e:
            failed.append((e.path, e.reason))
            continue
        kept.append(i)
    return out[: len(kept)], kept, failed
