"""CSV items as encoder inputs: texts / dialogs -> token ids (``TokenItems``), image paths -> arrays (``ImageItems``).

Each featuriser turns a column of items into features once per run (``encode``), stacks features into the
encoder's inputs (``collate``) and says what the checkpoint stores for it (``checkpoint_parts``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from siamese_sdk.format.pixels import to_array
from siamese_sdk.tokenizer import Tokenizer, pad_batch

from .. import checkpoint
from ..config import DEFAULT_MAX_LENGTH
from ..models.encoders import Encoder
from ..models.text_encoders import TextEncoder
from . import augment
from .table_split import TableSplit
from .tables import Table


def encode_items(tokenizer: Tokenizer, kind: str, items: list) -> list[list[int]]:
    """Token ids of texts (``kind="text"``) or dialogs (``"dialog"``), exactly as the SDK encodes them."""
    if kind == "dialog":
        return [tokenizer.encode_dialog(d, f"dialog {i}") for i, d in enumerate(items)]
    return [tokenizer.encode(t, f"text {i}") for i, t in enumerate(items)]


def to_tensors(seqs: list[list[int]], device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``tokens (B, T) int64``, ``lengths (B,) int64`` with the SDK's padding (``siamese_sdk.tokenizer.pad_batch``)."""
    tokens, lengths = pad_batch(seqs)
    return torch.from_numpy(tokens).to(device), torch.from_numpy(lengths).to(device)


class TokenItems:
    """Texts / dialogs -> token ids (the SDK tokenizer, built from the training split) -> ``(tokens, lengths)``."""

    def __init__(self, table: Table, split: TableSplit, config: Any, state: dict[str, Any] | None):
        self.kind = table.kind
        if state is not None:
            self.tokenizer = Tokenizer.from_dict(state["tokenizer"])
        else:
            train_items = [col[r] for col in table.columns.values() for r in split.train_rows]
            texts = [t for x in train_items for t in (x if table.kind == "dialog" else [x])]
            max_length = config.max_length or DEFAULT_MAX_LENGTH[table.kind]
            self.tokenizer = Tokenizer.build(texts, max_size=config.vocab_size, max_length=max_length)
        width = config.width or 64
        self.arch_kwargs = {"token_dim": width, "hidden_dim": width}
        self.config = config

    def encode(self, items: list) -> list[list[int]]:
        return encode_items(self.tokenizer, self.kind, items)

    def collate(self, feats: list, device: str, train: bool = False) -> tuple[torch.Tensor, ...]:
        return to_tensors(feats, device)

    def describe(self) -> str:
        return f"vocabulary {self.tokenizer.vocab_size()}"

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

