"""The recipe that reads the data: with no recipe flags, ``siamese-train`` looks at the image folder and picks
the input size, resize mode, augmentation family, loss, batch shape and schedule from what it sees.

``inspect`` reads a sample of the folder (image sizes and aspect, grey or colour, ink-on-paper strokes or
photographs, classes and images per class) into a ``DataProfile``; ``pick`` turns a profile into
``TrainConfig`` fields with one reason per choice; ``apply`` fills only the fields the user did not type.
The picks and their reasons go into the checkpoint (``TrainConfig.recipe``). The numbers behind each rule
are in ``docs/results/recipe.md``; ``--recipe off`` gives the fixed defaults of ``TrainConfig``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from siamese_sdk.errors import InputError
from siamese_sdk.format import ink
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
    ink_share: float  #: median share of near-black/near-white pixels, after the paper is made white (``format.ink``)
    #: stroke images only (0 otherwise), medians over the sample: the ink box with its margin (``ink.crop``) in px,
    #: the stroke width in px (2 x ink pixels / ink edge pixels) and the detail: the box's long side in stroke widths
    ink_height: int = 0
    ink_width: int = 0
    stroke_width: float = 0.0
    detail: float = 0.0

    @property
    def aspect(self) -> float:
        """Width / height of the median image."""
        return self.width / self.height

    @property
    def ink_aspect(self) -> float:
        """Width / height of the median ink box (with its margin); 1 when none was measured."""
        return self.ink_width / self.ink_height if self.ink_height else 1.0

    def describe(self) -> str:
        kind = "strokes (ink on a plain background)" if self.strokes else "photographs (continuous tones)"
        colour = "grey" if self.grey else "colour"
        if self.strokes and self.ink_height:
            kind += f"; ink {self.ink_width}x{self.ink_height} px, strokes {self.stroke_width:.1f} px wide, detail {self.detail:.0f}"
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
    sizes, greys, inks, ink_copies, unreadable = [], [], [], [], []
    for i in picks:
        try:
            img = open_image(folder.paths[int(i)])
        except InputError:
            unreadable.append(int(i))  # training reports unreadable images itself and skips them
            continue
        ink_copies.append(measurable(img))  # kept for the ink measures, so no image is decoded twice
        sizes.append((img.height, img.width))
        rgb = np.asarray(img.convert("RGB").resize((64, 64)), dtype=np.int16)
        greys.append(img.mode in ("1", "L", "LA", "I", "I;16", "F") or int(np.abs(rgb - rgb[..., :1]).max()) <= 8)
        lum = ink.normalize(np.asarray(img.convert("L").resize((64, 64))))  # grey or off-white paper counts as paper
        inks.append(float(np.mean((lum <= EXTREME) | (lum >= 255 - EXTREME))))
    if not sizes:
        raise InputError(f"none of the {len(picks)} sampled images under {root} could be read; check the folder holds images")
    h, w = np.median(np.asarray(sizes), axis=0)
    share = float(np.median(inks))
    is_strokes = share >= STROKE_SHARE
    ih, iw, sw, detail = np.median(np.asarray([measure_ink(g) for g in ink_copies]), axis=0) if is_strokes else (0, 0, 0.0, 0.0)
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
        strokes=is_strokes,
        ink_share=share,
        ink_height=int(ih),
        ink_width=int(iw),
        stroke_width=round(float(sw), 2),
        detail=round(float(detail), 1),
    )


#: images are measured at most this many px on the long side (a phone photo of a page is shrunk first)
MEASURE_SIDE = 1024


def measure_ink(img: Any) -> tuple[int, int, float, float]:
    """``(box height, box width, stroke width, detail)`` of one PIL image's ink after ``ink.normalize``, in px;
    ``(0, 0, 0, 0)`` without ink. Stroke width = 2 x ink pixels / edge pixels (ink with a 4-neighbour of paper);
    detail = the box's long side / stroke width."""
    grey = measurable(img)
    box = ink.crop(ink.normalize(np.asarray(grey)))
    on = box < ink.INK_LEVEL
    if not on.any():
        return 0, 0, 0.0, 0.0
    p = np.pad(on, 1)
    inner = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    width = 2 * float(on.sum()) / max(1, int((on & ~inner).sum()))
    return box.shape[0], box.shape[1], width, max(box.shape) / width


def measurable(img: Any) -> Any:
    """The grey copy of a PIL image the ink is measured on: at most ``MEASURE_SIDE`` px on the long side."""
    grey = img.convert("L")
    if max(grey.size) > MEASURE_SIDE:
        f = MEASURE_SIDE / max(grey.size)
        grey = grey.resize((max(1, round(grey.width * f)), max(1, round(grey.height * f))))
    return grey


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


#: strokes whose ink box spans at least this many stroke widths are wide, detailed strokes (signatures, written
#: words: about 110 on CEDAR) rather than single characters (Omniglot: 14); docs/results/signatures.md
DETAILED = 40
#: a detailed stroke image is scaled so that its median stroke is about this wide (px), its short side kept in
#: ``INK_SHORT`` and its long side at most ``INK_LONG``
STROKE_PX = 2.0
INK_SHORT = (64, 128)
INK_LONG = 224


def detailed(profile: DataProfile) -> bool:
    """Wide, detailed strokes (signatures, words): ink-normalised, aspect-kept, larger input, ``signet-small``."""
    return profile.strokes and profile.detail >= DETAILED


def _ink_shape(profile: DataProfile) -> tuple[int, int]:
    """``(H, W)`` of a detailed stroke input: the ink box scaled to ``STROKE_PX`` strokes, within the bounds."""
    scale = STROKE_PX / max(profile.stroke_width, 1e-6)
    short_side = min(profile.ink_height, profile.ink_width) * scale
    short = int(np.clip(_round8(short_side), *INK_SHORT))
    aspect = profile.ink_aspect
    long = min(INK_LONG, _round8(short * max(aspect, 1 / aspect)))
    return (short, long) if aspect >= 1 else (long, short)


def _shape(profile: DataProfile) -> tuple[tuple[int, int], str, str]:
    """``((H, W), resize mode, reason)`` for the profile's images."""
    aspect = profile.aspect
    if detailed(profile):
        hw = _ink_shape(profile)
        return hw, "letterbox", (
            f"detailed strokes ({profile.detail:.0f} stroke widths across the ink): the ink box at {STROKE_PX:g} px strokes, "
            f"{hw[0]}x{hw[1]} (HxW), letterboxed"
        )
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


def need_batches(profile: DataProfile, train_classes: int, batch: int) -> tuple[int, int]:
    """``(training images, batches the data needs)``: ``PASSES`` passes within ``[MIN_BATCHES, MAX_BATCHES]``."""
    train_images = profile.images * train_classes // max(1, profile.usable)
    return train_images, min(MAX_BATCHES, max(MIN_BATCHES, PASSES * train_images // batch))


def pick(profile: DataProfile, val_fraction: float = 0.2) -> dict[str, tuple[Any, str]]:
    """``{TrainConfig field: (value, reason)}`` for data like ``profile``."""
    (h, w), resize, why_size = _shape(profile)
    from .data.images import val_count

    val_classes = val_count(profile.usable, val_fraction)
    train_classes = max(2, profile.usable - val_classes)
    p = min(32 if profile.strokes and not detailed(profile) else 16, train_classes)  # 16: larger inputs stay fast
    k = 4 if profile.per_class >= 4 else 2
    train_images, total = need_batches(profile, train_classes, p * k)
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
    if detailed(profile):
        why = "signatures and words: paper brightness and blank space carry no identity"
        out["ink"] = ("normalize-crop", why)
        out["fill"] = (255, why)
        out["arch"] = ("signet-small", "detailed strokes need SigNet-like capacity; compact for 2 CPU cores")
    if val_classes < MIN_VAL_CLASSES:
        out["select"] = ("last", f"{val_classes} validation classes are too few to pick an epoch by (< {MIN_VAL_CLASSES}): best.pt is the last")
    return out


#: picks that go with another choice: left alone when the user typed any of the flags they depend on
#: (``--margin``/``--mining`` mean a margin loss, so the recipe does not switch to NT-Xent under them; a typed
#: ``--width``/``--norm`` is for the default encoder)
DEPENDS = {
    "thickness": {"augment"},
    "loss": {"margin", "mining"},
    "embedding_dim": {"loss", "margin", "mining"},
    "fill": {"resize"},
    "ink": {"channels"},
    "arch": {"norm", "width"},
}
#: what the recipe leaves to an explicit ``--arch`` (its own input size and resize, with the letterbox's fill,
#: channels and learning rate)
ARCH_FIELDS = ("size", "resize", "fill", "channels", "lr")


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


def schedule(
    fields: dict[str, Any], chosen: dict[str, Any], reasons: dict[str, str], given: Collection[str], profile: DataProfile,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``(picks, reasons, extra record entries)`` with the schedule sized by ``budget``: ``fields["time_budget"]``
    minutes filled, or else the data's need capped at ``budget.DEFAULT_MINUTES``, at the speed a probe measures;
    with ``fields["search"]`` trials, ``search.SHARE`` of it spent first on a search over the picks (``search``).
    A schedule typed in full (``--epochs`` and ``--batches-per-epoch``) is left alone; ``--time-budget`` with it
    is refused."""
    import time

    from . import budget, search
    from .data.images import val_count
    from .tasks.image_folder import VAL_LOSS_BATCHES

    minutes, trials, extra = fields.get("time_budget"), int(fields.get("search") or 0), {}
    typed = {"epochs", "batches_per_epoch"} <= set(given)
    if typed and minutes:
        raise InputError("--time-budget sizes the schedule that --epochs and --batches-per-epoch fix; drop one of them")
    if typed and not trials:
        return chosen, reasons, extra
    val_classes = val_count(profile.usable, fields.get("val_fraction", 0.2))
    train_classes = max(2, profile.usable - val_classes)
    p = min(fields["p"], train_classes)
    train_images, need = need_batches(profile, train_classes, p * fields["k"])
    val_images = profile.images - train_images
    left = minutes or budget.DEFAULT_MINUTES
    speed = budget.probe({**fields, "p": p})
    if trials:
        share = search.SHARE * left
        folds = search.FOLDS if val_classes < MIN_VAL_CLASSES else 1
        batches = budget.plan(share / (trials * folds), speed, need, val_images, VAL_LOSS_BATCHES, search.TRIAL_EPOCHS, True)[0]
        t0 = time.perf_counter()
        winner, record = search.run({**fields, "p": p}, set(given), trials, share, batches, val_classes, log)
        left -= (time.perf_counter() - t0) / 60
        why = f"search: best of {len(record['trials'])} trials, val AUC {record.get('auc')}"
        chosen, reasons = {**chosen, **winner}, {**reasons, **{k: why for k in winner}}
        fields = {**fields, **winner}
        extra["search"] = json.dumps(record)
        if typed:
            return chosen, reasons, extra
        speed = budget.probe({**fields, "p": p})  # the winner's own speed
    per_epoch = fields["batches_per_epoch"] if "batches_per_epoch" in given else None
    epochs = max(1, need // per_epoch) if per_epoch else fields["epochs"]
    total, why = budget.plan(max(0.0, left), speed, need, val_images, VAL_LOSS_BATCHES, epochs, bool(minutes))
    if per_epoch:  # a typed epoch length: the budget sets the number of epochs
        return {**chosen, "epochs": max(1, total // per_epoch)}, {**reasons, "epochs": why}, extra
    return {**chosen, "batches_per_epoch": max(1, total // epochs)}, {**reasons, "batches_per_epoch": why}, extra


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
    chosen, reasons, extra = schedule({**fields, **chosen}, chosen, reasons, given, profile, log)
    for line in report(profile, chosen, reasons):
        log(line)
    return {**fields, **chosen, "recipe": {**as_record(chosen, reasons), **extra}}
