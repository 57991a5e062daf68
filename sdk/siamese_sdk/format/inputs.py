"""Input specs: what an encoder takes and how ``embed``'s inputs become its feeds (manifest ``input``).

``Preprocess`` (how an image file becomes one encoder input) lives here too: it is part of the image
input, and its dict form is shared by the manifest and the training checkpoint (one writer, one reader).

One spec per input kind, each the single place that knows its kind: how it is written to and read from
the manifest, which bundle files it needs, what the encoder graph must look like, and how user inputs
(image paths, texts, dialogs) become ``{input name: array}`` feeds. ``SiameseModel.embed`` dispatches on
it, and a two-branch (pseudo-Siamese) bundle can give each branch its own spec.

- ``image`` (``ImageInput``): ``images (B, C, H, W) float32`` preprocessed as ``Preprocess`` says. A
  manifest ``input`` without ``kind`` is an image input (format version 1 bundles).
- ``text`` / ``dialog`` (``TextInput``): ``tokens (B, T) int64`` right-padded with ``<pad>`` = 0 and
  ``lengths (B,) int64`` (each row's true token count, >= 1); the encoder ignores what lies past a row's
  length, so an embedding does not depend on the batch it was computed in. The tokenizer ships in the
  bundle (``tokenizer.json``: a ``tokenizers`` subword file, read with the extra ``text``, or the word
  tokenizer of earlier bundles; ``siamese_sdk.tokenizer.load_tokenizer``). A text is one ``str``; a dialog is a list of
  turns (``str``), joined into one sequence with the ``<sep>`` token. These need bundle format version 2.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import BundleError, InputError
from . import ink as ink_mod
from . import strict
from .pixels import RESAMPLE, RESIZE_MODES, ImageLike, to_batch

if TYPE_CHECKING:
    from ..tokenizer import TokenIds

#: the largest side of an encoder input (px) a manifest may declare
MAX_SIDE = 16384
#: rows of one encoder run and the feeds for it
Feed = tuple[slice | np.ndarray, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Preprocess:
    """How an image file becomes one ``(C, H, W) float32`` encoder input.

    Pixels are read with Pillow, converted to grayscale (``channels=1``) or RGB (3), brought to
    ``size = (H, W)`` as ``resize`` says (resampled with ``resample`` when the size differs), multiplied by
    ``scale`` (1/255 maps bytes to ``[0, 1]``), then normalised per channel: ``(x - mean) / std``.

    ``resize``: ``stretch`` (to ``(H, W)``, the aspect ratio lost), ``letterbox`` (fit inside, the aspect ratio
    kept, centred on a canvas of the raw pixel value ``fill``, 0..255 in every channel) or ``crop`` (cover,
    the aspect ratio kept, the centre ``(H, W)`` kept). ``fill`` applies to letterbox only (0 otherwise). The
    integer geometry is ``pixels.fit``.

    ``ink``: ``none``, or ``normalize-crop`` (grey inputs only): before the resize, the paper is made white, the
    ink stretched to black and the image cropped to its ink box with a margin (``format.ink``).
    """

    size: tuple[int, int]
    channels: int = 1
    resample: str = "bilinear"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    resize: str = "stretch"
    fill: int = 0
    ink: str = "none"

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1 or max(self.size) > MAX_SIDE:
            raise BundleError(f"preprocess size {self.size} invalid; expected (height, width) in 1..{MAX_SIDE}")
        if self.channels not in (1, 3):
            raise BundleError(f"preprocess channels {self.channels} invalid; expected 1 (gray) or 3 (RGB)")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise BundleError(f"preprocess mean/std need {self.channels} value(s) each, got {len(self.mean)}/{len(self.std)}")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise BundleError(f"preprocess std {self.std} must be finite and > 0")
        if not all(math.isfinite(m) for m in self.mean):
            raise BundleError(f"preprocess mean {self.mean} must be finite")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise BundleError(f"preprocess scale {self.scale} must be finite and > 0 (1/255 maps bytes to [0, 1])")
        if self.resample not in RESAMPLE:
            raise BundleError(f"preprocess resample {self.resample!r} unknown; use bilinear, bicubic, nearest, box or lanczos")
        if self.resize not in RESIZE_MODES:
            raise BundleError(f"preprocess resize {self.resize!r} unknown to this siamese-sdk; use {', '.join(RESIZE_MODES)} (or upgrade)")
        if isinstance(self.fill, bool) or not isinstance(self.fill, int) or not 0 <= self.fill <= 255:
            raise BundleError(f"preprocess fill {self.fill!r} invalid; expected a raw pixel value, an int in 0..255")
        if self.fill and self.resize != "letterbox":
            raise BundleError(f"preprocess fill {self.fill} applies to resize letterbox only, not {self.resize}; drop it")
        ink_mod.check_mode(self.ink, self.channels)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one preprocessed input."""
        return (self.channels, *self.size)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: manifest ``input.preprocess`` and checkpoint ``preprocess`` (lists, not tuples).

        ``resize`` is written only when it is not ``stretch``, ``fill`` only with ``letterbox``, ``ink`` only when it
        is not ``none``: a stretched input's dict is the one written before these keys existed."""
        d: dict[str, Any] = {
            "size": list(self.size),
            "channels": self.channels,
            "resample": self.resample,
            "scale": self.scale,
            "mean": list(self.mean),
            "std": list(self.std),
        }
        if self.resize != "stretch":
            d["resize"] = self.resize
        if self.resize == "letterbox":
            d["fill"] = self.fill
        if self.ink != "none":
            d["ink"] = self.ink
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "preprocess") -> Preprocess:
        """Parse a manifest ``input.preprocess`` or a checkpoint ``preprocess`` entry (same keys; ``resample``
        defaults to bilinear, ``resize`` to stretch, ``fill`` to 0, ``ink`` to none). Every field is typed: ints are ints, numbers
        finite; ``BundleError`` (``strict.FieldError`` for a mistyped field) on anything off."""
        strict.check_mapping(d, path)
        return cls(
            size=tuple(strict.check_int(s, f"{path}.size", 1, MAX_SIDE) for s in strict.sequence(d, "size", f"{path}.size")),
            channels=strict.integer(d, "channels", f"{path}.channels", 1, 3),
            resample=strict.text(d, "resample", f"{path}.resample", default="bilinear"),
            scale=strict.number(d, "scale", f"{path}.scale"),
            mean=tuple(strict.check_number(m, f"{path}.mean") for m in strict.sequence(d, "mean", f"{path}.mean")),
            std=tuple(strict.check_number(v, f"{path}.std") for v in strict.sequence(d, "std", f"{path}.std")),
            resize=strict.text(d, "resize", f"{path}.resize", default="stretch"),
            fill=d.get("fill", 0),  # (checked by __post_init__)
            ink=strict.text(d, "ink", f"{path}.ink", default="none"),
        )


class InputSpec(ABC):
    """What one encoder branch takes. Subclasses are frozen dataclasses."""

    #: manifest ``input.kind``
    kind: ClassVar[str]
    #: the lowest bundle ``format_version`` that can carry this kind
    format_version: ClassVar[int]

    @property
    @abstractmethod
    def names(self) -> tuple[str, ...]:
        """The encoder graph's input names, in order."""

    def files(self) -> tuple[str, ...]:
        """Bundle files this spec needs (hashed in the manifest like every file)."""
        return ()

    def open(self, root: Path) -> InputSpec:
        """A copy with its bundle files loaded (the tokenizer); ``root`` is the bundle directory."""
        return self

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The manifest ``input`` object."""

    @abstractmethod
    def prepare(self, inputs: Any) -> Any:
        """Validate user inputs and turn them into something ``feeds`` can chunk (length = N items)."""

    @abstractmethod
    def feeds(self, prepared: Any, step: int) -> Iterator[Feed]:
        """``(rows, {input name: array})`` per encoder run of at most ``step`` items, covering all N."""

    @abstractmethod
    def check_encoder(self, inputs: Sequence[Any]) -> None:
        """Raise ``BundleError`` unless the ONNX session's ``get_inputs()`` match this spec."""


@dataclass(frozen=True)
class ImageInput(InputSpec):
    """``images (B, C, H, W) float32``: paths / PIL images (preprocessed here) or preprocessed arrays."""

    name: str
    preprocess: Preprocess
    kind: ClassVar[str] = "image"
    format_version: ClassVar[int] = 1

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def to_dict(self) -> dict[str, Any]:
        p = self.preprocess
        return {
            "kind": self.kind,
            "name": self.name,
            "shape": [None, *p.shape],
            "dtype": "float32",
            "layout": "NCHW",
            "preprocess": p.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "input") -> ImageInput:
        return cls(
            name=strict.text(d, "name", f"{path}.name", max_len=256),
            preprocess=Preprocess.from_dict(strict.mapping(d, "preprocess", f"{path}.preprocess"), f"{path}.preprocess"),
        )

    def prepare(self, inputs: Any) -> np.ndarray:
        if isinstance(inputs, np.ndarray):
            return self.check_array(inputs)
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, np.ndarray) for i in inputs):
            raise InputError("got a list of arrays; stack them into one (N, C, H, W) float32 array with np.stack")
        return self.pixels(inputs)

    def pixels(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Image paths or PIL images (one, or a sequence) to a ``(N, C, H, W) float32`` batch, exactly as in training."""
        if isinstance(images, (str, os.PathLike)) or not isinstance(images, Sequence):
            images = [images]  # one path or one PIL image
        return to_batch(list(images), self.preprocess)

    def check_array(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a contiguous ``(N, C, H, W) float32`` batch; ``InputError`` naming what is off."""
        want = self.preprocess.shape
        if x.ndim == 3 and tuple(x.shape) == want:
            raise InputError(
                f"got one image of shape {x.shape}; add the batch axis: x[None] for shape (1, {want[0]}, {want[1]}, {want[2]})"
            )
        if x.ndim != 4:
            raise InputError(f"expected a (N, {want[0]}, {want[1]}, {want[2]}) array, got rank {x.ndim} shape {x.shape}")
        if x.shape[0] == 0:
            raise InputError("empty batch (N = 0); pass at least one input")
        if tuple(x.shape[1:]) != want:
            hint = " (channels last? use x.transpose(0, 3, 1, 2))" if tuple(x.shape[1:]) == (want[1], want[2], want[0]) else ""
            raise InputError(
                f"expected inputs of shape (N, {want[0]}, {want[1]}, {want[2]}), got {x.shape}{hint}; resize as the manifest says or pass image paths"
            )
        if not np.issubdtype(x.dtype, np.floating):
            raise InputError(
                f"expected float32 preprocessed inputs, got dtype {x.dtype}; pass image paths, or model.preprocess(images)"
            )
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise InputError("inputs contain NaN or Inf; clean the data before embedding")
        return x

    def feeds(self, prepared: np.ndarray, step: int) -> Iterator[Feed]:
        for i in range(0, prepared.shape[0], step):
            yield slice(i, i + step), {self.name: prepared[i : i + step]}

    def check_encoder(self, inputs: Sequence[Any]) -> None:
        if len(inputs) != 1 or inputs[0].name != self.name:
            raise BundleError(f"encoder inputs {[i.name for i in inputs]} do not match manifest input {self.name!r}; re-export")
        if list(inputs[0].shape[1:]) != list(self.preprocess.shape):
            raise BundleError(f"encoder expects inputs {inputs[0].shape[1:]}, manifest says {list(self.preprocess.shape)}; re-export")


TOKENS, LENGTHS = "tokens", "lengths"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class TextInput(InputSpec):
    """``tokens (B, T) int64`` + ``lengths (B,) int64`` from texts (``kind="text"``) or dialogs (``"dialog"``).

    ``embed`` takes one ``str`` or a sequence of them for a text bundle, and a sequence of dialogs (each a
    sequence of turn strings) for a dialog bundle. Items are sorted by length before chunking (less padding;
    results do not depend on it) and returned in the caller's order.
    """

    text_kind: str = "text"
    tokenizer_file: str = TOKENIZER_FILE
    tokenizer: TokenIds | None = field(default=None, compare=False, repr=False)
    format_version: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if self.text_kind not in ("text", "dialog"):
            raise BundleError(f"input kind {self.text_kind!r} unknown; expected one of {list(INPUT_KINDS)}")
        if Path(self.tokenizer_file).is_absolute() or ".." in Path(self.tokenizer_file).parts:
            raise BundleError(f"manifest names unsafe tokenizer path {self.tokenizer_file!r}; the bundle was tampered with")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.text_kind

    @property
    def names(self) -> tuple[str, ...]:
        return (TOKENS, LENGTHS)

    def files(self) -> tuple[str, ...]:
        return (self.tokenizer_file,)

    def open(self, root: Path) -> TextInput:
        from ..tokenizer import load_tokenizer  # text bundles only: kept off the image bundles' import path (cold start)

        return replace(self, tokenizer=load_tokenizer(Path(root) / self.tokenizer_file))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.text_kind,
            "names": list(self.names),
            TOKENS: {"shape": [None, None], "dtype": "int64", "padding": "right, with <pad> = 0"},
            LENGTHS: {"shape": [None], "dtype": "int64", "meaning": "true token count of each row (>= 1)"},
            "tokenizer": self.tokenizer_file,
        }
        if self.text_kind == "text":
            d["item"] = "one str; its first max_length tokens are kept"
        else:
            d["item"] = "a list of turns (str), joined into one sequence with <sep>; its last max_length tokens are kept"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "input") -> TextInput:
        names = tuple(strict.sequence(d, "names", f"{path}.names", default=[]))
        if names != (TOKENS, LENGTHS):
            raise BundleError(f"{d.get('kind')} input names {list(names)[:4]} unexpected; expected {[TOKENS, LENGTHS]}; re-export")
        return cls(text_kind=strict.text(d, "kind", f"{path}.kind"), tokenizer_file=strict.text(d, "tokenizer", f"{path}.tokenizer"))

    def _tok(self) -> TokenIds:
        if self.tokenizer is None:
            raise BundleError("the text input's tokenizer is not loaded; use siamese_sdk.load(bundle)")
        return self.tokenizer

    def prepare(self, inputs: Any) -> list[list[int]]:
        tok = self._tok()
        if self.text_kind == "text":
            if isinstance(inputs, str):
                inputs = [inputs]
            if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "US":
                inputs = inputs.tolist()
            if not isinstance(inputs, Sequence):
                raise InputError(f"a text bundle embeds strings, got {type(inputs).__name__}; pass a str or a list of str")
            items = [tok.encode(t, f"text {i}") for i, t in enumerate(inputs)]
        else:
            if not isinstance(inputs, Sequence) or isinstance(inputs, str):
                raise InputError(
                    f"a dialog bundle embeds a list of dialogs, got {type(inputs).__name__}; e.g. [['hi', 'hello there']]"
                )
            if inputs and all(isinstance(t, str) for t in inputs):
                raise InputError(
                    "got a list of strings; a dialog bundle embeds a list of dialogs, each a list of turns: [['hi', 'hello there']]"
                )
            items = [tok.encode_dialog(d, f"dialog {i}") for i, d in enumerate(inputs)]
        if not items:
            raise InputError(f"no {self.text_kind}s given; pass at least one")
        return items

    def feeds(self, prepared: list[list[int]], step: int) -> Iterator[Feed]:
        from ..tokenizer import pad_batch  # off the image bundles' import path, as in ``open``

        order = np.argsort(np.fromiter(map(len, prepared), dtype=np.int64, count=len(prepared)), kind="stable")
        for i in range(0, len(order), step):
            rows = order[i : i + step]
            tokens, lengths = pad_batch([prepared[r] for r in rows])
            yield rows, {TOKENS: tokens, LENGTHS: lengths}

    def check_encoder(self, inputs: Sequence[Any]) -> None:
        got = [(i.name, i.type) for i in inputs]
        want = [(TOKENS, "tensor(int64)"), (LENGTHS, "tensor(int64)")]
        if got != want:
            raise BundleError(f"encoder inputs {got} do not match the {self.text_kind} input spec {want}; re-export")


INPUT_KINDS = ("image", "text", "dialog")
#: manifest ``input.kind`` -> the spec class that reads it (``from_dict(d, path)``): a new kind is one more row
INPUT_READERS: dict[str, type[ImageInput] | type[TextInput]] = {"image": ImageInput, "text": TextInput, "dialog": TextInput}


def input_from_dict(d: Any, path: str = "input") -> InputSpec:
    """Parse a manifest ``input`` object; no ``kind`` means ``image``. ``BundleError`` for an unknown kind."""
    if not isinstance(d, dict):
        raise BundleError("manifest input must be an object; re-export the bundle")
    kind = strict.text(d, "kind", f"{path}.kind", default="image", max_len=64)
    if kind in INPUT_READERS:
        return INPUT_READERS[kind].from_dict(d, path)
    raise BundleError(f"input kind {kind!r} unknown to this siamese-sdk (it reads {list(INPUT_KINDS)}); upgrade: pip install -U siamese-sdk")
