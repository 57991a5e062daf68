"""CSV items as encoder inputs: texts / dialogs -> token ids (``TokenItems``), image paths -> arrays (``ImageItems``).

Each featuriser turns a column of items into features once per run (``encode``), stacks features into the
encoder's inputs (``collate``) and says what the checkpoint stores for it (``checkpoint_parts``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from siamese_sdk.errors import InputError
from siamese_sdk.format.pixels import to_array
from siamese_sdk.tokenizer import TokenIds, Tokenizer, pad_batch, tokenizer_from_dict

from .. import checkpoint
from ..config import DEFAULT_MAX_LENGTH, DEFAULT_VOCAB_SIZE
from ..models.encoders import Encoder
from ..models.text_encoders import TextEncoder
from . import augment
from .subword import TOKENIZERS, train_subword
from .table_split import TableSplit
from .tables import Table


def encode_items(tokenizer: TokenIds, kind: str, items: list) -> list[list[int]]:
    """Token ids of texts (``kind="text"``) or dialogs (``"dialog"``), exactly as the SDK encodes them."""
    if kind == "dialog":
        return [tokenizer.encode_dialog(d, f"dialog {i}") for i, d in enumerate(items)]
    return [tokenizer.encode(t, f"text {i}") for i, t in enumerate(items)]


def to_tensors(seqs: list[list[int]], device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``tokens (B, T) int64``, ``lengths (B,) int64`` with the SDK's padding (``siamese_sdk.tokenizer.pad_batch``)."""
    tokens, lengths = pad_batch(seqs)
    return torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device)


def build_tokenizer(texts: list[str], config: Any, kind: str) -> TokenIds:
    """The tokenizer ``config`` asks for (``--tokenizer``, ``--vocab-size``, ``--max-length``, ``--cased``), learned from ``texts``."""
    if config.tokenizer not in TOKENIZERS:
        raise InputError(f"--tokenizer {config.tokenizer!r} unknown; expected one of {list(TOKENIZERS)}")
    max_length = config.max_length or DEFAULT_MAX_LENGTH[kind]
    size = config.vocab_size or DEFAULT_VOCAB_SIZE[config.tokenizer]
    if config.tokenizer == "word":
        return Tokenizer.build(texts, max_size=size, max_length=max_length, lowercase=not config.cased)
    return train_subword(texts, config.tokenizer, size, max_length, lowercase=not config.cased)


class TokenItems:
    """Texts / dialogs -> token ids (the SDK tokenizer, built from the training split) -> ``(tokens, lengths)``.

    In training (``collate(train=True)``) each item loses ``--token-dropout`` of its tokens at random (at
    least one kept), drawn from the torch RNG the loop seeds.
    """

    def __init__(self, table: Table, split: TableSplit, config: Any, state: dict[str, Any] | None):
        self.kind = table.kind
        if state is not None:
            self.tokenizer = tokenizer_from_dict(state["tokenizer"])
        else:
            train_items = [col[r] for col in table.columns.values() for r in split.train_rows]
            texts = [t for x in train_items for t in (x if table.kind == "dialog" else [x])]
            self.tokenizer = build_tokenizer(texts, config, table.kind)
        width = config.width or 64
        self.arch_kwargs: dict[str, Any] = {"token_dim": width, "hidden_dim": width}
        if table.kind == "text" and config.pool != "mean":  # (mean: the checkpoints of earlier versions)
            self.arch_kwargs["pool"] = config.pool
        if not 0.0 <= config.token_dropout < 1.0:
            raise InputError(f"--token-dropout {config.token_dropout} must be in [0, 1)")
        self.config = config

    def encode(self, items: list) -> list[list[int]]:
        return encode_items(self.tokenizer, self.kind, items)

    def collate(self, feats: list, device: str, train: bool = False) -> tuple[torch.Tensor, ...]:
        p = self.config.token_dropout
        if train and p > 0:
            feats = [_drop_tokens(s, p) for s in feats]
        return to_tensors(feats, device)

    def describe(self) -> str:
        name = self.config.tokenizer if self.config.tokenizer == "word" else f"{self.config.tokenizer} subword"
        return f"{name} vocabulary {self.tokenizer.vocab_size()}"

    def make_encoder(self) -> torch.nn.Module:
        """A fresh BiLSTM encoder of this kind (weights from the torch RNG)."""
        c = self.config
        return TextEncoder(self.kind, self.tokenizer.vocab_size(), c.embedding_dim, bool(c.normalize), **self.arch_kwargs)

    def checkpoint_parts(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": {
                "kind": self.kind,
                "arch": f"{self.kind}-bilstm",
                "arch_kwargs": self.arch_kwargs,
                "vocab_size": self.tokenizer.vocab_size(),
                "embedding_dim": c.embedding_dim,
                "normalize": bool(c.normalize),
                "metric": c.metric,
            },
            "tokenizer": self.tokenizer.to_dict(),
        }


def _drop_tokens(seq: list[int], p: float) -> list[int]:
    """``seq`` with each token dropped with probability ``p`` (torch RNG), at least one kept."""
    keep = torch.rand(len(seq)) >= p
    if not bool(keep.any()):
        keep[int(torch.randint(len(seq), (1,)))] = True
    return [t for t, k in zip(seq, keep.tolist(), strict=True) if k]


class ImageItems:
    """Image paths -> ``(C, H, W) float32`` arrays (``siamese_sdk.format.pixels``, decoded once) -> ``(images,)``, augmented in training."""

    def __init__(self, config: Any):
        self.config, self.preprocess = config, config.preprocess()
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, paths: list) -> list[np.ndarray]:
        for p in paths:
            if p not in self._cache:
                self._cache[p] = to_array(p, self.preprocess)
        return [self._cache[p] for p in paths]

    def collate(self, feats: list, device: str, train: bool = False) -> tuple[torch.Tensor, ...]:
        x = torch.from_numpy(np.stack(feats)).to(device)
        if train:
            c, pre = self.config, self.preprocess
            x = augment.apply(x, str(c.augment), c.thickness, pre.mean, pre.std)
        return (x,)

    def describe(self) -> str:
        return f"{len(self._cache)} distinct images"

    def make_encoder(self) -> torch.nn.Module:
        """A fresh image encoder of ``--arch`` (weights from the torch RNG)."""
        c = self.config
        return Encoder(c.arch, c.channels, c.embedding_dim, c.hw, bool(c.normalize), **c.arch_kwargs())

    def checkpoint_parts(self) -> dict[str, Any]:
        c = self.config
        return {
            "model": checkpoint.image_model_entry(c, c.arch, c.channels, c.hw, c.metric),
            "preprocess": checkpoint.preprocess_entry(self.preprocess),
        }

