"""The recipe that reads the data: with no recipe flags, ``siamese-train`` looks at the image folder and picks
the input size, resize mode, augmentation family, loss, batch shape and schedule from what it sees.

``inspect`` reads a sample of the folder (image sizes and aspect, grey or colour, ink-on-paper strokes or
photographs, classes and images per class) into a ``DataProfile``; ``pick`` turns a profile into
``TrainConfig`` fields with one reason per choice; ``apply`` fills only the fields the user did not type.
The picks and their reasons go into the checkpoint (``TrainConfig.recipe``). The numbers behind each rule
are in ``docs/results/recipe.md``; ``--recipe off`` gives the fixed defaults of ``TrainConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from siamese_sdk.errors import InputError
from siamese_sdk.format.pixels import open_image
from siamese_sdk.tools.imagefolder import ImageFolder

from .advice import MIN_VAL_CLASSES

#: images read to profile a folder (a seeded sample of all its images)
SAMPLE = 96
#: a pixel this close to black or white (0-255) counts as ink or paper
EXTREME = 16
#: a folder whose median image has at least this share of ink-or-paper pixels holds strokes (handwriting,
#: signatures, line drawings); photographs have continuous tones (faces here: 0.05-0.25)
STROKE_SHARE = 0.85
#: sources this close to square are stretched; anything further is letterboxed (aspect kept)
SQUARE_ASPECT = 1.2


@dataclass(frozen=True)
class DataProfile:
    """What ``inspect`` saw: counts, the median image size ``(height, width)`` in px, colour and kind."""

    classes: int
    usable: int  #: classes with at least 2 images (the ones training uses)
    images: int
    per_class: int  #: median images per class
    height: int
    width: int
    grey: bool
    strokes: bool
    ink_share: float  #: median share of near-black/near-white pixels

    @property
    def aspect(self) -> float:
        """Width / height of the median image."""
        return self.width / self.height

    def describe(self) -> str:
        kind = "strokes (ink on a plain background)" if self.strokes else "photographs (continuous tones)"
        colour = "grey" if self.grey else "colour"
        return (
            f"{self.classes} classes, {self.images} images ({self.per_class} per class, median), "
            f"{self.width}x{self.height} px {colour}, {kind}"
        )


def inspect(root: str | Path, sample: int = SAMPLE, seed: int = 0) -> DataProfile:
    """Profile the labelled image folder ``root`` from ``sample`` of its images (each decoded, measured on a 64 px copy).

    Counts are of readable images, as training sees them: the sampled images that cannot be decoded are left out
    of the counts (exact when the sample is the whole folder; otherwise the unreadable share of the sample scales
    the image count).
    """
    folder = ImageFolder.scan(root)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(folder), size=min(sample, len(folder)), replace=False)
    sizes, greys, inks, unreadable = [], [], [], []
    for i in picks:
        try:
            img = open_image(folder.paths[int(i)])
        except InputError:
            unreadable.append(int(i))  # training reports unreadable images itself and skips them
            continue
        sizes.append((img.height, img.width))
        rgb = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.int16)
        greys.append(img.mode in ("1", "L", "LA", "I", "I;16", "F") or int(np.abs(rgb - rgb[..., :1]).max()) <= 8)
        lum = rgb.mean(axis=2)
        inks.append(float(np.mean((lum <= EXTREME) | (lum >= 255 - EXTREME))))
    if not sizes:
        raise InputError(f"none of the {len(picks)} sampled images under {root} could be read; check the folder holds images")
    h, w = np.median(np.asarray(sizes), axis=0)
    ink = float(np.median(inks))
    counts = np.bincount(np.delete(folder.labels, unreadable), minlength=len(folder.classes))
    images = int(counts.sum()) if len(picks) == len(folder) else round(len(folder) * len(sizes) / len(picks))
    return DataProfile(
        classes=len(folder.classes),
        usable=int(np.sum(counts >= 2)),
        images=images,
        per_class=int(np.median(counts)),
        height=int(h),
        width=int(w),
        grey=float(np.mean(greys)) >= 0.5,
        strokes=ink >= STROKE_SHARE,
        ink_share=ink,
    )


#: pixels of a photo input (H x W), shaped to the source's aspect ratio: 48 x 64 for 4:3 photos
PHOTO_AREA = 48 * 64
#: the side of a near-square stroke image (Omniglot-sized characters keep their measured 28 px)
STROKE_SIDE = 28
#: the short side of a wide or tall stroke image (signatures, written names), letterboxed
STROKE_SHORT = 48
#: the longest side any recipe picks
MAX_SIDE = 192
#: passes over the training images the schedule aims for, and the bounds on its total batches
PASSES, MIN_BATCHES, MAX_BATCHES = 30, 1000, 3000
EPOCHS = 10


def _round8(x: float) -> int:
    return max(16, int(round(x / 8)) * 8)


def _shape(profile: DataProfile) -> tuple[tuple[int, int], str, str]:
    """``((H, W), resize mode, reason)`` for the profile's images."""
    aspect = profile.aspect
    if profile.strokes and 1 / SQUARE_ASPECT <= aspect <= SQUARE_ASPECT:
        return (STROKE_SIDE, STROKE_SIDE), "stretch", "near-square strokes: 28 px, as measured on Omniglot"
    if profile.strokes:
        short = STROKE_SHORT
        long = min(MAX_SIDE, _round8(short * max(aspect, 1 / aspect)))
        hw = (short, long) if aspect >= 1 else (long, short)
        return hw, "letterbox", f"strokes with aspect {aspect:.2f}: {hw[0]}x{hw[1]} (HxW), letterboxed to keep the aspect"
    h = _round8((PHOTO_AREA / aspect) ** 0.5)
    w = min(MAX_SIDE, _round8(h * aspect))
    return (h, w), "letterbox", f"photos with aspect {aspect:.2f}: {h}x{w} (HxW, about {PHOTO_AREA} px), letterboxed"


def pick(profile: DataProfile, val_fraction: float = 0.2) -> dict[str, tuple[Any, str]]:
    """``{TrainConfig field: (value, reason)}`` for data like ``profile``."""
    (h, w), resize, why_size = _shape(profile)
    from .data.images import val_count

    val_classes = val_count(profile.usable, val_fraction)
    train_classes = max(2, profile.usable - val_classes)
    p = min(32 if profile.strokes else 16, train_classes)
    k = 4 if profile.per_class >= 4 else 2
    train_images = profile.images * train_classes // max(1, profile.usable)
    total = min(MAX_BATCHES, max(MIN_BATCHES, PASSES * train_images // (p * k)))
    out: dict[str, tuple[Any, str]] = {
        "size": ((h, w) if h != w else h, why_size),
        "resize": (resize, why_size),
        "channels": (1 if profile.grey else 3, "grey images" if profile.grey else "colour images"),
        "augment": (
            ("strokes", "ink on paper: affine and stroke width, no flips")
            if profile.strokes
            else ("photos", "photographs: flips, lighting, crops, small rotations")
        ),
        "loss": ("ntxent", "NT-Xent beat contrastive and triplet on every data set measured"),
        "embedding_dim": (128, "with ntxent"),
        "p": (p, f"{train_classes} training classes"),
        "k": (k, f"{profile.per_class} images per class"),
        "epochs": (EPOCHS, "validation after each tenth of the schedule"),
        "batches_per_epoch": (total // EPOCHS, f"{total} batches: about {PASSES} passes over {train_images} images, within [{MIN_BATCHES}, {MAX_BATCHES}]"),
        "lr": (2e-3, "AdamW, cosine schedule"),
    }
    if profile.strokes:
        out["thickness"] = (0.6, "pen widths differ between writers")
    if val_classes < MIN_VAL_CLASSES:
        out["select"] = ("last", f"{val_classes} validation classes are too few to pick an epoch by (< {MIN_VAL_CLASSES}): best.pt is the last")
    return out


#: picks that go with another choice: left alone when the user typed any of the flags they depend on
#: (``--margin``/``--mining`` mean a margin loss, so the recipe does not switch to NT-Xent under them)
DEPENDS = {"thickness": {"augment"}, "loss": {"margin", "mining"}, "embedding_dim": {"loss", "margin", "mining"}}
#: what the recipe leaves to an explicit ``--arch`` (its own input size, channels and learning rate)
ARCH_FIELDS = ("size", "resize", "channels", "lr")


def choose(root: str | Path, given: Collection[str], arch_given: bool = False, val_fraction: float = 0.2) -> tuple[DataProfile, dict[str, Any], dict[str, str]]:
    """``(profile, {field: value}, {field: reason})`` for the fields of ``pick`` the user did not type (``given``)."""
    profile = inspect(root)
    picks = pick(profile, val_fraction)
    skip = set(given) | (set(ARCH_FIELDS) if arch_given else set())
    skip |= {f for f, needs in DEPENDS.items() if needs & set(given)}
    chosen = {f: v for f, (v, _) in picks.items() if f not in skip}
    reasons = {f: why for f, (_, why) in picks.items() if f not in skip}
    return profile, chosen, reasons


def report(profile: DataProfile, chosen: dict[str, Any], reasons: dict[str, str]) -> list[str]:
    """The lines ``siamese-train`` prints: what it saw, then each pick with its reason (shared reasons once)."""
    lines = [f"recipe: {profile.describe()}"]
    seen: dict[str, list[str]] = {}
    for f, why in reasons.items():
        v = chosen[f]
        value = "x".join(map(str, v)) if isinstance(v, tuple) else v
        seen.setdefault(why, []).append(f"--{f.replace('_', '-')} {value}")
    lines += [f"recipe: {', '.join(flags)}  ({why})" for why, flags in seen.items()]
    lines.append("recipe: any flag you pass overrides its pick; --recipe off gives the fixed defaults")
    return lines


def as_record(chosen: dict[str, Any], reasons: dict[str, str]) -> dict[str, str]:
    """The checkpoint's ``recipe`` entry: ``{field: "value (reason)"}``."""
    return {f: f"{chosen[f]} ({reasons[f]})" for f in chosen}


def apply(fields: dict[str, Any], given: Collection[str], log: Callable[[str], None] = print) -> dict[str, Any]:
    """``TrainConfig`` keyword ``fields`` with the recipe's picks for the ones the user did not type (``given``),
    and ``recipe``: the record of the picks. Unchanged for a CSV table or a pseudo-Siamese run (no folder to read)."""
    from .data.images import resolve_root
    from .data.tables import is_table

    if fields.get("pseudo") or is_table(fields.get("data")):
        return fields
    root = resolve_root(fields.get("data"))
    if not root.is_dir():
        return fields  # training names the problem
    profile, chosen, reasons = choose(root, given, "arch" in given, fields.get("val_fraction", 0.2))
    if profile.usable < 4:
        return fields  # too few classes to train: training says so, with the fix
    for line in report(profile, chosen, reasons):
        log(line)
    return {**fields, **chosen, "recipe": as_record(chosen, reasons)}
