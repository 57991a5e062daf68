"""What defines a run: ``TrainConfig`` (every ``siamese-train`` flag), the ``--preset`` recipes, and the
per-architecture defaults as one table (``ARCH_DEFAULTS``).

Imports no torch at module level, so ``siamese-train --help`` builds its options from these fields without
the ``train`` extra. A checkpoint stores the config as the flat dict of these fields (``asdict``), and a
resumed run rebuilds it with ``TrainConfig(**saved)``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from siamese_sdk.errors import InputError
from siamese_sdk.format.ink import INK_MODES
from siamese_sdk.format.manifest import Preprocess
from siamese_sdk.format.pixels import RESIZE_MODES


@dataclass(frozen=True)
class ArchDefaults:
    """What an architecture takes when its flags are not given.

    ``size``: input px (``--size``); ``width``: ``--width`` (None: the arch has none); ``norms``: the
    ``--norm`` values it accepts, the first being its default (empty: no choice); ``lr``: ``--lr``.
    """

    size: int
    width: int | None = None
    norms: tuple[str, ...] = ()
    lr: float = 1e-3


#: the one table of per-architecture defaults; a user backbone (``package.module:factory``) takes ``FACTORY_DEFAULTS``.
#: SigNet (no BatchNorm by default, a wide FC layer) trains at the paper's 1e-4; at 1e-3 its embeddings nearly
#: collapse (val AUC 0.73 vs 0.82 after 40 batches, measured).
ARCH_DEFAULTS: dict[str, ArchDefaults] = {
    "convnet4": ArchDefaults(size=28, width=64, norms=("batch", "group")),
    "koch": ArchDefaults(size=105),
    "signet": ArchDefaults(size=112, width=96, norms=("lrn", "batch"), lr=1e-4),
    "signet-small": ArchDefaults(size=96, width=32, norms=("batch",)),
}
FACTORY_DEFAULTS = ArchDefaults(size=64, width=64)

# views of the table, by the names the trainer has always used
DEFAULT_SIZE = {a: d.size for a, d in ARCH_DEFAULTS.items()}
DEFAULT_FACTORY_SIZE = FACTORY_DEFAULTS.size
DEFAULT_WIDTH = {a: d.width for a, d in ARCH_DEFAULTS.items() if d.width is not None}
DEFAULT_NORM = {a: d.norms[0] for a, d in ARCH_DEFAULTS.items() if d.norms}
DEFAULT_LR = {a: d.lr for a, d in ARCH_DEFAULTS.items()}
ARCH_NORMS = {a: d.norms for a, d in ARCH_DEFAULTS.items() if d.norms}
#: CSV text/dialog runs: tokens kept per item when ``--max-length`` is not given
DEFAULT_MAX_LENGTH = {"text": 64, "dialog": 128}
#: vocabulary cap per ``--tokenizer`` (``word``: distinct words; subword models: pieces, see docs/results/text.md)
DEFAULT_VOCAB_SIZE = {"word": 20000, "bpe": 8000, "wordpiece": 8000, "unigram": 8000}
#: the augmentation family (``data.augment.FAMILIES``) of a bare ``--augment`` and of a run that names none
DEFAULT_AUGMENT = "strokes"


#: an input size: ``N`` px square, or ``(H, W)`` px (height first) when not square
Size = int | tuple[int, int]
#: the smallest input side ``--size`` accepts, in px
MIN_SIZE = 8


def parse_size(value: Any, flag: str = "--size") -> Size | None:
    """An input size as given (``N``, ``"N"``, ``"H,W"``, ``"HxW"``, or an ``[H, W]`` pair; height first) as
    ``N`` for a square, ``(H, W)`` otherwise (None stays None); ``InputError`` naming the fix."""
    if value is None:
        return None
    if isinstance(value, str):
        parts: Any = re.split(r"\s*[,xX]\s*", value.strip())
    else:
        parts = value if isinstance(value, (list, tuple)) else [value]
    try:
        sides = [int(p) if isinstance(p, str) else p for p in parts]
        ok = 1 <= len(sides) <= 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= MIN_SIZE for v in sides)
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"{flag} {value!r} invalid; expected N (square), H,W or HxW in px (height first), each >= {MIN_SIZE}, e.g. {flag} 112,92")
    h, w = sides if len(sides) == 2 else sides * 2
    return h if h == w else (h, w)


def size_hw(size: Size) -> tuple[int, int]:
    """``(H, W)`` px of a ``Size``."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def format_size(size: Size | None) -> str:
    """A ``Size`` as ``--size`` takes it: ``N`` or ``H,W``."""
    return str(size) if size is None or isinstance(size, int) else f"{size[0]},{size[1]}"


def arch_defaults(arch: str) -> ArchDefaults:
    """The row of ``arch`` (``FACTORY_DEFAULTS`` for a user backbone)."""
    return ARCH_DEFAULTS.get(arch, FACTORY_DEFAULTS)


#: ``--preset`` settings; any flag given explicitly overrides them.
PRESETS: dict[str, dict[str, Any]] = {
    # Omniglot one-shot: 28 px 4-block CNN, NT-Xent over P x K = 32 x 4 batches of unit vectors (T = 0.1),
    # rotated characters as extra classes, affine + stroke-width augmentation, cosine schedule over 40 x 300
    # batches (docs: "Omniglot one-shot results" has the runs behind each choice); best.pt is the epoch with
    # the best validation 20-way one-shot accuracy (validation classes are never trained on).
    "omniglot": dict(
        arch="convnet4",
        size=28,
        width=64,
        embedding_dim=128,
        loss="ntxent",
        temperature=0.1,
        p=32,
        k=4,
        epochs=40,
        batches_per_epoch=300,
        lr=2e-3,
        val_fraction=0.1,
        augment="strokes",
        thickness=0.6,
        rotate_classes=True,
        select="oneshot",
    ),
}


@dataclass
class TrainConfig:
    """Everything that defines a run; ``None`` fields take the loss/arch-dependent default in ``resolved``.

    Defaults: contrastive uses raw (un-normalised) embeddings with margin 2.0, as in the reference article;
    triplet uses L2-normalised embeddings with margin 0.2, as FaceNet; ntxent uses L2-normalised embeddings
    with temperature 0.1 (no margin). Input size, width, norm and lr per arch: ``ARCH_DEFAULTS``.

    ``size`` / ``size_b``: an int for a square input (as every checkpoint stored it), ``(H, W)`` otherwise;
    any spelling ``parse_size`` reads is normalised to that on construction (``hw`` gives ``(H, W)``).
    ``resize``: how images meet that size (``Preprocess.resize``); ``fill``: letterbox's raw pad value.
    """

    # -- every run
    data: str | None = None
    out: str = "runs/default"
    loss: str = "contrastive"
    arch: str = "convnet4"
    epochs: int = 10
    embedding_dim: int = 64
    normalize: bool | None = None
    metric: str = "euclidean"
    margin: float | None = None
    mining: str = "semihard"
    #: softmax temperature of ``--loss ntxent`` (cosine similarities are divided by it)
    temperature: float = 0.1
    p: int = 16
    k: int = 4
    groups_per_batch: int | None = None
    batches_per_epoch: int | None = None
    lr: float | None = None
    weight_decay: float = 1e-4
    # -- image encoders
    size: Size | None = None
    channels: int = 1
    resize: str = "stretch"
    fill: int = 0
    #: ``Preprocess.ink``: ``none`` or ``normalize-crop`` (grey strokes: white paper, ink box; ``siamese_sdk.format.ink``)
    ink: str = "none"
    width: int | None = None
    norm: str | None = None
    weights: str | None = None
    head: str = "metric"
    #: input normalisation per channel (None: the factory's declared ``mean``/``std``, else 0.5)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    # -- fine-tuning a backbone (``finetune``): its lr factor, epochs frozen first, BatchNorm statistics kept
    backbone_lr_mult: float = 1.0
    freeze_epochs: int = 0
    freeze_bn: bool = False
    # -- two-branch (pseudo-Siamese) runs: branch b
    pseudo: bool = False
    data_b: str | None = None
    arch_b: str | None = None
    size_b: Size | None = None
    channels_b: int | None = None
    # -- split, augmentation, selection
    val_fraction: float = 0.2
    #: an augmentation family (``data.augment.FAMILIES``); None: not given (``resolved``: ``DEFAULT_AUGMENT``).
    #: Checkpoints written before the families store True / False: read as strokes / none.
    augment: str | None = None
    thickness: float = 0.0
    rotate_classes: bool = False
    select: str = "auc"
    patience: int | None = None
    seed: int = 0
    #: seed of the train/validation split (None: ``seed``); members of one ensemble share it
    split_seed: int | None = None
    # -- where it runs
    device: str = "cpu"
    threads: int | None = None
    workers: int = 0
    preset: str | None = None
    #: ``--init``: the checkpoint whose encoder weights start this run (``pretrained``); None: random weights
    init: str | None = None
    #: ``--time-budget``: minutes the recipe sizes the schedule to (``budget``); None: the data's need, capped
    time_budget: float | None = None
    #: ``--search``: trials of the recipe's search over its own picks (``search``); 0: none
    search: int = 0
    #: what ``siamese-train``'s data recipe picked, ``{field: "value (reason)"}`` (``recipe.apply``); None: no recipe
    recipe: dict[str, str] | None = None
    # -- CSV text/dialog runs: tokens kept per item (None: ``DEFAULT_MAX_LENGTH``), the tokenizer (``word`` or a
    # subword model, ``data.subword``) and its vocabulary cap (None: ``DEFAULT_VOCAB_SIZE``), case kept or folded,
    # the share of tokens dropped from each training item (augmentation), the BiLSTM's pooling (text only)
    max_length: int | None = None
    vocab_size: int | None = None
    tokenizer: str = "unigram"
    cased: bool = False
    token_dropout: float = 0.0
    pool: str = "mean"
    #: pairs CSV: also train each ``a`` against another row's ``b`` as a different pair
    in_batch_negatives: bool = False
    # -- an older model to stay comparable with (``old_model``): backward-compatible training (influence loss
    #    through the frozen old encoder), and/or a learned old -> new map fitted after training (``map_fit``)
    compatible_with: str | None = None
    map_from: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.augment, bool):  # a checkpoint's --augment/--no-augment
            self.augment = "strokes" if self.augment else "none"
        for name in ("mean", "std"):  # lists from JSON or a checkpoint -> tuples
            if getattr(self, name) is not None:
                setattr(self, name, tuple(float(v) for v in getattr(self, name)))
        self.size = parse_size(self.size, "--size")
        self.size_b = parse_size(self.size_b, "--size-b")

    @property
    def hw(self) -> tuple[int, int]:
        """Branch a's input ``(H, W)`` px (of a resolved config)."""
        return size_hw(self.size)  # type: ignore[arg-type]

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> TrainConfig:
        """``PRESETS[preset]`` (if any) with ``overrides`` on top: explicit flags always win."""
        if preset is not None and preset not in PRESETS:
            raise InputError(f"--preset {preset!r} unknown; expected one of {sorted(PRESETS)}")
        return cls(**{**(PRESETS[preset] if preset else {}), **overrides, "preset": preset})

    def resolved(self) -> TrainConfig:
        """A copy with every ``None`` default filled in and values checked (``InputError`` if off)."""
        from .data.augment import family_name
        from .losses import LOSSES
        from .models.backbones import declared_normalization, is_factory_spec, resolve_factory
        from .models.encoders import ARCHS

        if self.loss not in LOSSES:
            raise InputError(f"--loss {self.loss!r} unknown; expected one of {sorted(LOSSES)}")
        for arch in (self.arch, self.arch_b or self.arch):
            if arch not in ARCHS and not is_factory_spec(arch):
                raise InputError(f"--arch {arch!r} unknown; expected one of {sorted(ARCHS)} or package.module:factory")
            if is_factory_spec(arch):
                resolve_factory(arch)  # fail before any file is written
        norm = self.norm or DEFAULT_NORM.get(self.arch, "batch")
        for arch in {self.arch, self.arch_b or self.arch}:
            if self.norm is not None and arch in ARCH_NORMS and self.norm not in ARCH_NORMS[arch]:
                raise InputError(f"--norm {self.norm} does not apply to {arch}; expected one of {list(ARCH_NORMS[arch])}")
        if self.weights is not None and not is_factory_spec(self.arch):
            raise InputError("--weights loads a user backbone's state_dict; use it with --arch package.module:factory")
        if self.head not in ("metric", "learned"):
            raise InputError(f"--head {self.head!r} unknown; expected metric or learned")
        if self.pseudo != (self.data_b is not None):
            raise InputError("pseudo-Siamese training needs both --pseudo and --data-b DIR (branch b's class folders)")
        if not self.pseudo and (self.arch_b or self.size_b or self.channels_b):
            raise InputError("--arch-b/--size-b/--channels-b describe branch b of a pseudo-Siamese run; add --pseudo --data-b DIR")
        if self.resize not in RESIZE_MODES:
            raise InputError(f"--resize {self.resize!r} unknown; expected one of {', '.join(RESIZE_MODES)}")
        if not 0 <= self.fill <= 255 or (self.fill and self.resize != "letterbox"):
            raise InputError(f"--fill {self.fill} invalid; it is letterbox's pad value, 0..255: add --resize letterbox or drop --fill")
        if self.ink not in INK_MODES:
            raise InputError(f"--ink {self.ink!r} unknown; expected one of {', '.join(INK_MODES)}")
        if self.ink != "none" and (self.channels != 1 or (self.pseudo and self.channels_b not in (None, 1))):
            raise InputError(f"--ink {self.ink} reads grey strokes; add --channels 1 or drop --ink")
        if self.rotate_classes and any(not isinstance(s, int) for s in (self.size, self.size_b) if s is not None):
            raise InputError("--rotate-classes turns images by 90 degrees, which needs a square --size; pass --size N or drop it")
        if self.metric not in ("euclidean", "cosine"):
            raise InputError(f"--metric {self.metric!r} unknown; expected euclidean or cosine")
        lr = arch_defaults(self.arch).lr if self.lr is None else self.lr
        if self.epochs < 1 or self.embedding_dim < 1 or self.p < 2 or self.k < 2 or lr <= 0:
            raise InputError("--epochs, --embedding-dim must be >= 1, --p and --k >= 2, --lr > 0")
        if self.select not in ("auc", "oneshot", "last"):
            raise InputError(f"--select {self.select!r} unknown; expected auc, oneshot or last")
        if self.channels not in (1, 3) or (self.channels_b or 1) not in (1, 3):
            raise InputError(f"--channels {self.channels} invalid; use 1 (grayscale) or 3 (RGB)")
        triplet = self.loss == "triplet"
        if self.loss == "ntxent" and not self.temperature > 0:
            raise InputError(f"--temperature {self.temperature} must be > 0 (typical: 0.05-0.2)")
        if self.loss == "ntxent" and self.pseudo:
            raise InputError("--loss ntxent is not available for pseudo-Siamese runs yet; use --loss triplet or contrastive")
        normalize = self.loss != "contrastive" if self.normalize is None else self.normalize
        mean, std = self._normalization(declared_normalization(self.arch) if is_factory_spec(self.arch) else None)
        if (self.compatible_with or self.map_from) and (self.pseudo or self.head == "learned"):
            raise InputError("--compatible-with / --map-from apply to one-encoder metric runs; drop --pseudo / --head learned")
        if not self.backbone_lr_mult >= 0 or self.freeze_epochs < 0:
            raise InputError("--backbone-lr-mult must be >= 0 and --freeze-epochs >= 0")
        return dataclasses.replace(
            self,
            augment=family_name(DEFAULT_AUGMENT if self.augment is None else self.augment),
            mean=mean,
            std=std,
            normalize=normalize,
            margin=(0.2 if triplet else 2.0) if self.margin is None else self.margin,
            size=arch_defaults(self.arch).size if self.size is None else self.size,
            width=DEFAULT_WIDTH.get(self.arch, 64) if self.width is None else self.width,
            norm=norm,
            lr=lr,
            size_b=(self.size_b or (DEFAULT_SIZE.get(self.arch_b) if self.arch_b not in (None, self.arch) else None)) if self.pseudo else None,
        )

    def _normalization(self, declared: tuple[tuple[float, ...], tuple[float, ...]] | None) -> tuple[tuple[float, ...], ...]:
        """``(mean, std)`` of branch a: each ``--mean``/``--std`` if given, else the factory's ``declared``, else 0.5."""
        if declared is not None and len(declared[0]) != self.channels and self.mean is None:
            raise InputError(
                f"--channels {self.channels} but {self.arch} declares a {len(declared[0])}-channel mean/std; pass "
                f"--channels {len(declared[0])} (grey images are converted to RGB by repeating the channel)"
            )
        out = []
        for name, given, i in (("mean", self.mean, 0), ("std", self.std, 1)):
            value = given if given is not None else declared[i] if declared is not None else (0.5,) * self.channels
            if len(value) != self.channels:
                raise InputError(f"--{name} has {len(value)} value(s); --channels {self.channels} needs {self.channels}")
            out.append(tuple(float(v) for v in value))
        if any(v <= 0 for v in out[1]):
            raise InputError(f"--std {','.join(map(str, out[1]))} must be > 0 per channel")
        return tuple(out)

    def arch_kwargs(self, arch: str | None = None) -> dict[str, Any]:
        """Extra constructor arguments of ``arch`` (default ``self.arch``; saved in the checkpoint for export)."""
        arch = arch or self.arch
        width = self.width if arch == self.arch else None
        if arch in ARCH_NORMS:
            norm = self.norm if self.norm in ARCH_NORMS[arch] else DEFAULT_NORM[arch]
            return {"width": width or DEFAULT_WIDTH[arch], "norm": norm}
        return {}

    def preprocess(self, size: Size | None = None, channels: int | None = None) -> Preprocess:
        """The SDK preprocessing of branch a (``--mean``/``--std``, default 0.5 per channel; ``resize``/``fill`` as
        configured), or of ``size``, ``channels`` (mean = std = 0.5 per channel)."""
        branch_a = size is None and channels is None
        size, channels = size or self.size, channels or self.channels
        mean, std = (self.mean, self.std) if branch_a and self.mean and self.std else ((0.5,) * channels, (0.5,) * channels)
        return Preprocess(
            size=size_hw(size),  # type: ignore[arg-type]
            channels=channels,
            mean=mean,
            std=std,
            resize=self.resize,
            fill=self.fill,
            ink=self.ink,
        )

    @property
    def class_split_seed(self) -> int:
        """The seed that picks the validation classes (rows for CSV pair/triplet tables)."""
        return self.seed if self.split_seed is None else self.split_seed

    @property
    def bundle_metric(self) -> str:
        """The metric the bundle's heads compute: ``learned`` (p(same)) with ``--head learned``, else ``--metric``."""
        return "learned" if self.head == "learned" else self.metric


#: every field's default, for the CLI's options (``siamese-train`` does not repeat them)
FIELD_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
