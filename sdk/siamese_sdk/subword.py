"""A subword tokenizer from Hugging Face ``tokenizers`` (extra ``text``): the ``tokenizer.json`` of newer text bundles.

The file is the library's own serialisation (``tokenizers.Tokenizer.to_str``), so any reader of that format
(the Rust and Python ``tokenizers``, transformers.js) reads it too. ``siamese-train`` trains it on the training
text (``siamese_trainer.data.subword``): NFKC, optional lowercasing, a split at whitespace and punctuation and
between digits (``2019`` -> ``2 0 1 9``: two numbers never share one ``<unk>``), then a BPE, WordPiece or
Unigram model. The specials are the word tokenizer's: ``<pad>`` = 0, ``<unk>`` = 1, ``<sep>`` = 2, and the
file's ``truncation.max_length`` is the tokens kept per text (first ones) or dialog (last ones).

Lengths and refusals are those of ``siamese_sdk.tokenizer.Tokenizer`` (``siamese_sdk.token_ids.TokenIds``): the two are
interchangeable behind ``TextInput``.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import BundleError, require_extra
from .token_ids import PAD, PAD_ID, SEP, SEP_ID, UNK, UNK_ID, TokenIds


class SubwordTokenizer(TokenIds):
    """A ``tokenizers.Tokenizer`` behind the ``TokenIds`` interface, from its JSON text (``from_dict``;
    a bundle's file: ``siamese_sdk.tokenizer.load_tokenizer``)."""

    def __init__(self, text: str):
        require_extra("tokenizers", "text")
        import tokenizers

        try:
            tok = tokenizers.Tokenizer.from_str(text)
        except Exception as e:  # the library raises plain Exceptions for malformed files
            raise BundleError(f"tokenizer.json is not a readable tokenizers file ({str(e)[:120]}); re-export the bundle") from None
        for token, want in ((PAD, PAD_ID), (UNK, UNK_ID), (SEP, SEP_ID)):
            if tok.token_to_id(token) != want:
                raise BundleError(f"subword tokenizer must hold {token} at id {want}; re-export the bundle")
        trunc = tok.truncation or {}
        if not isinstance(trunc.get("max_length"), int) or trunc["max_length"] < 1:
            raise BundleError("subword tokenizer.json lacks truncation.max_length (tokens kept per text); re-export the bundle")
        self.max_length: int = int(trunc["max_length"])
        self._json = text
        tok.no_truncation()  # truncation is ``TokenIds``' (texts keep their first, dialogs their last tokens)
        tok.no_padding()
        self._tok = tok

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SubwordTokenizer:
        return cls(json.dumps(d, ensure_ascii=False))


    @property
    def model(self) -> str:
        """``bpe``, ``wordpiece`` or ``unigram``."""
        return str(json.loads(self._json)["model"]["type"]).lower()

    def tokens(self, text: str) -> list[str]:
        """The subword strings of ``text``, untruncated."""
        return list(self._tok.encode(text, add_special_tokens=False).tokens)

    def raw_ids(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size())

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self._json)

    def to_json(self) -> str:
        return self._json if self._json.endswith("\n") else self._json + "\n"
