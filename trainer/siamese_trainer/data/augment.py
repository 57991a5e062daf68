"""Training augmentation families, chosen by name (``--augment strokes|photos|none``), applied batch-wise.

``FAMILIES`` is the table (data): ``strokes`` for handwriting and signatures (random affine: rotation, scale,
shift, plus the ``--thickness`` stroke-width jitter; no flips: a mirrored character is another character),
``photos`` for faces and objects (horizontal flip, random resized crop with a small rotation, brightness /
contrast / gamma jitter), ``none``. ``apply`` runs one family on a ``(B, C, H, W)`` batch of preprocessed
(normalised) images with the global torch RNG.

Under multi-process training every random parameter is drawn for the ``total`` images of the global batch
and rows ``offset : offset + B`` are used, so each rank draws exactly what a single process would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from siamese_sdk.errors import InputError


@dataclass(frozen=True)
class Family:
    """One augmentation recipe; a field at its default turns its step off.

    ``affine``: ``(degrees, scale, shift)`` of ``random_affine`` (rotation in degrees, scale and shift as
    fractions); ``stroke_width``: ``--thickness`` applies (``random_thickness``); ``flip``: probability of a
    horizontal flip; ``crop_scale``: area fraction range of a random resized crop (None: no crop),
    ``crop_ratio``: its shape range relative to the image's aspect, ``degrees``: rotation drawn from ``[-degrees, degrees]`` with the
    crop; ``brightness``, ``contrast``, ``gamma``: factors drawn from ``[1 - v, 1 + v]`` on ``[0, 1]`` pixels.
    """

    affine: tuple[float, float, float] | None = None
    stroke_width: bool = False
    flip: float = 0.0
    crop_scale: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    degrees: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    gamma: float = 0.0

    @property
    def photometric(self) -> bool:
        return bool(self.brightness or self.contrast or self.gamma)


#: the families ``--augment`` names. strokes is the handwriting recipe behind the Omniglot results.
FAMILIES: dict[str, Family] = {
    "strokes": Family(affine=(10.0, 0.1, 0.1), stroke_width=True),
    "photos": Family(flip=0.5, crop_scale=(0.7, 1.0), degrees=10.0, brightness=0.2, contrast=0.2, gamma=0.2),
    "none": Family(),
}
#: the family of a bare ``--augment`` and of a run that names none
DEFAULT_FAMILY = "strokes"


def family_name(value: str | bool | None) -> str:
    """``--augment``'s value as a family name: None -> ``DEFAULT_FAMILY``; a checkpoint's old ``True`` /
    ``False`` -> ``strokes`` / ``none``. ``InputError`` for an unknown name."""
    if value is None or value is True:
        return DEFAULT_FAMILY if value is None else "strokes"
    if value is False:
        return "none"
    if value not in FAMILIES:
        raise InputError(f"--augment {value!r} unknown; expected one of {list(FAMILIES)}")
    return str(value)


def _uniform(n: int, lo: float, hi: float, rows: slice) -> torch.Tensor:
    """``n`` draws from ``U[lo, hi)`` (global torch RNG), the ``rows`` of this rank."""
    return (lo + (hi - lo) * torch.rand(n))[rows]


def random_affine(
    x: torch.Tensor, degrees: float = 10.0, scale: float = 0.1, shift: float = 0.1, offset: int = 0, total: int | None = None
) -> torch.Tensor:
    """Random rotation, scaling and shift per image of a ``(B, C, H, W)`` batch (global torch RNG).

    Edges are filled from the border (the background for Omniglot-like images). ``offset``/``total``: the
    rows of the global batch (module docstring).
    """
    b = x.shape[0]
    n = total or b
    angle = ((torch.rand(n) * 2 - 1) * math.radians(degrees))[offset : offset + b]
    s = (1 + (torch.rand(n) * 2 - 1) * scale)[offset : offset + b]
    t = ((torch.rand(n, 2) * 2 - 1) * shift * 2)[offset : offset + b]
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def random_thickness(x: torch.Tensor, amount: float, offset: int = 0, total: int | None = None) -> torch.Tensor:
    """Randomly thicken or thin the strokes of each image of a ``(B, C, H, W)`` batch (global torch RNG).

    Each image is blended with its 3 x 3 grey dilation (``a > 0``) or erosion (``a < 0``) by a weight
    ``a`` drawn uniformly from ``[-amount, amount]``: drawers differ in pen width (Omniglot's Braille dots
    run from blobs to single faint pixels at 28 px), and the embedding should not. Works for either
    polarity, since both directions are drawn. ``offset``/``total`` as in ``random_affine``.
    """
    b = x.shape[0]
    a = ((torch.rand(total or b) * 2 - 1) * amount)[offset : offset + b].to(x).view(b, 1, 1, 1)
    grown = F.max_pool2d(x, 3, stride=1, padding=1)  # brighter structures grow
    shrunk = -F.max_pool2d(-x, 3, stride=1, padding=1)  # darker structures grow
    return x + a.clamp(min=0) * (grown - x) + (-a).clamp(min=0) * (shrunk - x)


def random_flip(x: torch.Tensor, p: float, offset: int = 0, total: int | None = None) -> torch.Tensor:
    """Mirror each image of a ``(B, C, H, W)`` batch left-right with probability ``p`` (exact: no resampling)."""
    b = x.shape[0]
    flip = (torch.rand(total or b) < p)[offset : offset + b].to(x.device).view(b, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def random_resized_crop(
    x: torch.Tensor,
    scale: tuple[float, float],
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    degrees: float = 0.0,
    offset: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """A random crop of each image, rotated by up to ``degrees``, resized back to ``(H, W)`` (one bilinear resample).

    The crop covers an area fraction drawn from ``scale`` with a shape drawn log-uniformly from ``ratio``,
    relative to the image's own aspect (1: the image's shape, so a non-square input is not distorted), each side
    at most the image's, centred anywhere it fits (``torchvision``'s RandomResizedCrop without its retries, for
    a square input). Rotation corners are filled from the border.
    """
    b, _, h, w = x.shape
    n, rows = total or b, slice(offset, offset + b)
    area = _uniform(n, *scale, rows)
    aspect = torch.exp(_uniform(n, math.log(ratio[0]), math.log(ratio[1]), rows))
    # aspect is relative to the image's own: 1 keeps its shape (an absolute ratio would stretch every crop of
    # a 4:3 face by up to 4/3 when it is resized back to the input)
    cw = torch.sqrt(area * aspect).clamp(max=1.0)  # crop width as a fraction of the image width
    ch = torch.sqrt(area / aspect).clamp(max=1.0)
    cx, cy = _uniform(n, -1.0, 1.0, rows) * (1 - cw), _uniform(n, -1.0, 1.0, rows) * (1 - ch)
    angle = _uniform(n, -math.radians(degrees), math.radians(degrees), rows)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cw * cos, -ch * sin, cx], 1), torch.stack([cw * sin, ch * cos, cy], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def jitter(
    x: torch.Tensor,
    brightness: float,
    contrast: float,
    gamma: float,
    mean: Sequence[float] = (0.5,),
    std: Sequence[float] = (0.5,),
    offset: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """Brightness, contrast and gamma jitter of normalised ``(B, C, H, W)`` images, on their ``[0, 1]`` pixels.

    With ``v = x * std + mean`` (per channel) and factors ``b``, ``c``, ``g`` drawn from ``[1 - brightness,
    1 + brightness]`` etc.: ``v = clamp(v * b)``, ``v = clamp((v - m) * c + m)`` (``m``: the image's mean after
    the brightness step), ``v = clamp(v) ** g``, each clamp to ``[0, 1]``; returns ``(v - mean) / std``.
    """
    b = x.shape[0]
    rows = slice(offset, offset + b)
    n = total or b
    fb, fc, fg = (_uniform(n, 1 - v, 1 + v, rows).to(x).view(b, 1, 1, 1) for v in (brightness, contrast, gamma))
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    v = (x * s + m).clamp(0, 1)
    v = (v * fb).clamp(0, 1)
    mu = v.mean(dim=(1, 2, 3), keepdim=True)
    v = ((v - mu) * fc + mu).clamp(0, 1)
    v = v.pow(fg)
    return (v - m) / s


def apply(
    x: torch.Tensor,
    family: str | Family,
    thickness: float = 0.0,
    mean: Sequence[float] = (0.5,),
    std: Sequence[float] = (0.5,),
    offset: int = 0,
    total: int | None = None,
) -> torch.Tensor:
    """``family`` (a ``FAMILIES`` name or a ``Family``) on a ``(B, C, H, W)`` batch of normalised images.

    Steps in order: affine, stroke width (``thickness`` > 0), flip, resized crop (+ rotation), photometric
    jitter (``mean``/``std``: the preprocessing's, to reach the ``[0, 1]`` pixels). ``offset``/``total``: the
    rows of the global batch under multi-process training. ``none`` returns ``x`` itself.
    """
    fam = FAMILIES[family_name(family)] if isinstance(family, str) else family
    kw = {"offset": offset, "total": total}
    if fam.affine is not None:
        x = random_affine(x, *fam.affine, **kw)
    if fam.stroke_width and thickness > 0:
        x = random_thickness(x, thickness, **kw)
    if fam.flip > 0:
        x = random_flip(x, fam.flip, **kw)
    if fam.crop_scale is not None:
        x = random_resized_crop(x, fam.crop_scale, fam.crop_ratio, fam.degrees, **kw)
    if fam.photometric:
        x = jitter(x, fam.brightness, fam.contrast, fam.gamma, mean, std, **kw)
    return x
