"""What every bundle tokenizer shares: the special tokens and ids, and the rules on top of text -> ids.

``siamese_sdk.tokenizer.Tokenizer`` (words, plain Python) and ``siamese_sdk.subword.SubwordTokenizer``
(Hugging Face ``tokenizers``) both derive from ``TokenIds``; ``siamese_sdk.tokenizer.load_tokenizer`` reads
either from a bundle's ``tokenizer.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InputError

PAD, UNK, SEP = "<pad>", "<unk>", "<sep>"
SPECIALS = (PAD, UNK, SEP)
PAD_ID, UNK_ID, SEP_ID = 0, 1, 2


class TokenIds:
    """What a bundle's tokenizer does: text -> ids (``raw_ids``, the subclass's), and the rules on top of it.

    Subclasses set ``max_length`` and implement ``raw_ids``, ``vocab_size``, ``to_dict`` and ``to_json``.
    """

    max_length: int

    def raw_ids(self, text: str) -> list[int]:
        """All token ids of ``text``, untruncated (may be empty)."""
        raise NotImplementedError

    def vocab_size(self) -> int:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> str:
        raise NotImplementedError

    def _ids_of(self, text: Any, where: str) -> list[int]:
        if not isinstance(text, str):
            raise InputError(f"{where}: expected a str, got {type(text).__name__}; pass text as Python strings")
        ids = self.raw_ids(text)
        if not ids:
            raise InputError(f"{where}: text {text!r} has no tokens (empty or whitespace only); pass non-empty text")
        return ids

    def encode(self, text: str, where: str = "text") -> list[int]:
        """Token ids of one text, its first ``max_length`` kept. Raises ``InputError`` (non-str, no tokens)."""
        return self._ids_of(text, where)[: self.max_length]

    def encode_dialog(self, turns: Sequence[str], where: str = "dialog") -> list[int]:
        """Token ids of a dialog: each turn's ids, joined by ``<sep>``; its last ``max_length`` ids kept."""
        if isinstance(turns, str) or not isinstance(turns, Sequence):
            raise InputError(f"{where}: expected a list of turns (strings), got {type(turns).__name__}; e.g. ['hi', 'hello']")
        if len(turns) == 0:
            raise InputError(f"{where}: a dialog needs at least one turn")
        ids: list[int] = []
        for k, turn in enumerate(turns):
            if k:
                ids.append(SEP_ID)
            ids.extend(self._ids_of(turn, f"{where} turn {k}"))
        return ids[-self.max_length :]
