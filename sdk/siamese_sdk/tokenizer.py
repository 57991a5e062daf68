"""Text to token ids: the tokenizers a text or dialog bundle ships as ``tokenizer.json``, and how one is read.

``tokenizer.json`` holds one of two formats, told apart by content (``load_tokenizer``): the word tokenizer
below (``"format": "siamese-tokenizer"``, plain Python + numpy, the bundles of earlier versions), or a
Hugging Face ``tokenizers`` file (a subword model, ``siamese_sdk.subword``, extra ``text``). Both share
``TokenIds``: the lengths, the dialog joining and the refusals.

The trainer builds the word tokenizer from the training text and tokenises with this same class, so a sentence gives the
same ids in training, export and the deployed SDK.

Rule, applied in order: Unicode NFKC normalisation, lowercasing (``str.lower``), then ``re.findall(pattern)``
with the default pattern ``\\w+|[^\\w\\s]`` (runs of letters/digits/underscore, and every other non-space
character on its own). A token not in the vocabulary maps to ``<unk>``. Ids 0, 1, 2 are ``<pad>``,
``<unk>`` and ``<sep>`` (the turn separator of dialogs); the vocabulary follows, most frequent first.

Lengths: a text keeps its first ``max_length`` tokens; a dialog (turns joined by ``<sep>``) keeps its last
``max_length`` tokens, i.e. the most recent turns. A text with no token at all (empty or whitespace only)
is refused with ``InputError``: it carries nothing to compare.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BundleError
from .token_ids import PAD, PAD_ID, SEP, SEP_ID, SPECIALS, UNK, UNK_ID, TokenIds  # noqa: F401  (the specials, re-exported)

FORMAT = "siamese-tokenizer"
FORMAT_VERSION = 1
DEFAULT_PATTERN = r"\w+|[^\w\s]"


@dataclass(frozen=True)
class Tokenizer(TokenIds):
    """Word-level tokenizer: ``vocab[i]`` is the token of id ``i`` (``vocab[:3]`` are the specials)."""

    vocab: tuple[str, ...]
    max_length: int = 64
    lowercase: bool = True
    normalization: str = "nfkc"
    pattern: str = DEFAULT_PATTERN
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.vocab[:3]) != SPECIALS:
            raise BundleError(f"tokenizer vocabulary must start with {list(SPECIALS)}; re-export the bundle")
        if len(set(self.vocab)) != len(self.vocab):
            raise BundleError("tokenizer vocabulary holds duplicate tokens; re-export the bundle")
        if not isinstance(self.max_length, int) or self.max_length < 1:
            raise BundleError(f"tokenizer max_length {self.max_length!r} must be an int >= 1")
        if self.normalization not in ("nfkc", "none"):
            raise BundleError(f"tokenizer normalization {self.normalization!r} unknown; expected 'nfkc' or 'none'")
        try:
            regex = re.compile(self.pattern)
        except re.error as e:
            raise BundleError(f"tokenizer pattern {self.pattern!r} is not a valid regex ({e}); re-export the bundle") from None
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.vocab)})
        object.__setattr__(self, "_regex", regex)

    # ---- building -------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls, texts: Iterable[str], max_size: int = 20000, min_freq: int = 1, max_length: int = 64, **rule: Any
    ) -> Tokenizer:
        """A tokenizer whose vocabulary is the tokens of ``texts`` seen ``min_freq`` times or more, at most
        ``max_size`` of them (most frequent first, ties alphabetical); ``rule`` overrides lowercase/normalization/pattern."""
        probe = cls(vocab=SPECIALS, max_length=max_length, **rule)
        counts = Counter(t for text in texts for t in probe.tokens(text))
        ranked = sorted((t for t, n in counts.items() if n >= min_freq and t not in SPECIALS), key=lambda t: (-counts[t], t))
        return cls(vocab=SPECIALS + tuple(ranked[: max(0, max_size - len(SPECIALS))]), max_length=max_length, **rule)

    # ---- encoding -------------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """The token strings of ``text`` (normalised, lowercased, split), untruncated."""
        if self.normalization == "nfkc":
            text = unicodedata.normalize("NFKC", text)
        if self.lowercase:
            text = text.lower()
        return self._regex.findall(text)

    def raw_ids(self, text: str) -> list[int]:
        return [self._ids.get(t, UNK_ID) for t in self.tokens(text)]

    def vocab_size(self) -> int:
        return len(self.vocab)

    # ---- files ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "normalization": self.normalization,
            "lowercase": self.lowercase,
            "pattern": self.pattern,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "sep_id": SEP_ID,
            "max_length": self.max_length,
            "vocab": list(self.vocab),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n"

    @classmethod
    def from_dict(cls, d: Any) -> Tokenizer:
        """Parse a ``tokenizer.json`` dict; ``BundleError`` for anything off."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise BundleError(f"not a {FORMAT} file (missing 'format': '{FORMAT}'); re-export the bundle")
        if not isinstance(d.get("format_version"), int) or d["format_version"] > FORMAT_VERSION:
            raise BundleError(
                f"tokenizer format version {d.get('format_version')!r} unknown to this siamese-sdk; upgrade: pip install -U siamese-sdk"
            )
        if (d.get("pad_id"), d.get("unk_id"), d.get("sep_id")) != (PAD_ID, UNK_ID, SEP_ID):
            raise BundleError(f"tokenizer special ids must be pad={PAD_ID}, unk={UNK_ID}, sep={SEP_ID}; re-export the bundle")
        try:
            return cls(
                vocab=tuple(str(t) for t in d["vocab"]),
                max_length=int(d["max_length"]),
                lowercase=bool(d["lowercase"]),
                normalization=str(d["normalization"]),
                pattern=str(d["pattern"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"tokenizer file is malformed ({type(e).__name__}: {e}); re-export the bundle") from None

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a word-tokenizer ``tokenizer.json`` (``load_tokenizer`` reads either format)."""
        tok = load_tokenizer(path)
        if not isinstance(tok, Tokenizer):
            raise BundleError(f"{path} is a subword tokenizer file; read it with siamese_sdk.tokenizer.load_tokenizer")
        return tok


def tokenizer_from_dict(d: Any) -> TokenIds:
    """A ``tokenizer.json`` dict as its tokenizer: the word tokenizer, or a ``tokenizers`` file (extra ``text``)."""
    if isinstance(d, dict) and "model" in d and "format" not in d:
        from .subword import SubwordTokenizer  # needs the text extra: only subword bundles pay for it

        return SubwordTokenizer.from_dict(d)
    return Tokenizer.from_dict(d)


def load_tokenizer(path: str | Path) -> TokenIds:
    """Read a bundle's ``tokenizer.json`` (either format, parsed strictly: ``format.strict``); ``BundleError`` when
    unreadable or malformed."""
    from .format.strict import load_json  # (size, nesting and NaN checked before parsing)

    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise BundleError(f"{path} is not a readable tokenizer file ({e}); re-export the bundle") from None
    return tokenizer_from_dict(load_json(raw, f"tokenizer file {path}", "re-export the bundle", max_bytes=64 << 20))


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences with ``<pad>`` to the longest: ``tokens (N, T) int64``, ``lengths (N,) int64``."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    tokens = np.full((len(sequences), int(lengths.max(initial=1))), PAD_ID, dtype=np.int64)
    for i, s in enumerate(sequences):
        tokens[i, : len(s)] = s
    return tokens, lengths
