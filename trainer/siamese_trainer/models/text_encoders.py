"""Text and dialog encoder branches: ``tokens (B, T) int64, lengths (B,) int64`` -> embeddings ``(B, D) float32``.

Tokens come from ``siamese_sdk.tokenizer.Tokenizer`` (the SDK's code), right-padded with ``<pad>`` = 0;
``lengths`` are the true token counts (>= 1). Both encoders run the BiLSTM on **packed** sequences, so
each row's result is exactly what it would be alone: the backward direction starts at the row's own last
token, never at the padding, and an embedding does not depend on the batch it was computed in.

- ``TextSiamese``: token embedding -> BiLSTM -> **masked mean** (or max, or both: ``pool``) of the BiLSTM
  outputs over the real tokens (both directions, ``2 * hidden``) -> linear to ``D``. Mean pooling uses every token; the reference
  article's ``out[:, -1]`` would read the padding and, for the backward direction, only the last word.
- ``DialogSiamese``: a dialog is one token sequence (turns joined by ``<sep>``); token embedding -> BiLSTM
  -> final ``(h, c)`` of both directions of the last layer concatenated (``4 * hidden``), as in the
  reference article -> Linear-ReLU-Linear to ``D``.

For ONNX export the padded (unpacked) path is traced (``exact_lengths = False``) and the exporter wires
``lengths`` into the ONNX LSTM nodes' ``sequence_lens`` input, which gives the packed semantics in the
graph; parity against the packed torch model is checked over varied lengths.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .encoders import l2_normalize


class _BiLSTMBase(nn.Module):
    """Token embedding (``<pad>`` = 0 maps to zeros) and one bidirectional LSTM layer.

    One layer: the depth whose export (one ONNX ``LSTM`` node, lengths wired into ``sequence_lens``) is
    verified for parity over varied lengths.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, token_dim: int = 64, hidden_dim: int = 64):
        super().__init__()
        if vocab_size < 4 or token_dim < 1 or hidden_dim < 1:
            raise ValueError(f"text encoder needs vocab_size >= 4 and dims >= 1; got {vocab_size}, {token_dim}, {hidden_dim}")
        self.embedding = nn.Embedding(vocab_size, token_dim, padding_idx=0)
        self.lstm = nn.LSTM(token_dim, hidden_dim, batch_first=True, bidirectional=True)
        self.fc = self.projection(hidden_dim, embedding_dim)
        #: True: packed sequences (training, the reference); False: padded, for ONNX export (see module doc)
        self.exact_lengths = True

    def projection(self, hidden_dim: int, embedding_dim: int) -> nn.Module:
        """The layer(s) from the pooled BiLSTM state to the embedding."""
        raise NotImplementedError

    @staticmethod
    def mask(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, T) float32``: 1 at real tokens, 0 at padding."""
        return (torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None]).float()

    def run_lstm(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``outputs (B, T, 2H)`` (zeros past each length), ``h, c (2, B, H)`` (forward, backward) at each row's length."""
        x = self.embedding(tokens)
        if not self.exact_lengths:
            out, (h, c) = self.lstm(x)
            return out, h, c
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, c) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return out, h, c


#: ``TextSiamese`` poolings of the BiLSTM outputs over the real tokens
POOLS = ("mean", "max", "meanmax")


class TextSiamese(_BiLSTMBase):
    """Token embedding + BiLSTM, masked pooling over the real tokens (``pool``: mean, max or both), linear to ``embedding_dim``."""

    def __init__(self, vocab_size: int, embedding_dim: int = 64, token_dim: int = 64, hidden_dim: int = 64, pool: str = "mean"):
        if pool not in POOLS:
            raise ValueError(f"pool {pool!r} unknown; expected one of {list(POOLS)}")
        object.__setattr__(self, "pool", pool)  # read by ``projection`` inside the base __init__
        super().__init__(vocab_size, embedding_dim, token_dim, hidden_dim)

    def projection(self, hidden_dim: int, embedding_dim: int) -> nn.Module:
        return nn.Linear((4 if self.pool == "meanmax" else 2) * hidden_dim, embedding_dim)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _, _ = self.run_lstm(tokens, lengths)
        mask = self.mask(tokens, lengths)[:, :, None]
        parts = []
        if self.pool in ("mean", "meanmax"):
            parts.append((out * mask).sum(1) / lengths[:, None].to(out.dtype).clamp_min(1.0))
        if self.pool in ("max", "meanmax"):  # LSTM outputs lie in (-1, 1): padding pushed to <= -3 never wins
            parts.append((out + (mask - 1.0) * 4.0).amax(1))
        return self.fc(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))


class DialogSiamese(_BiLSTMBase):
    """A dialog as one ``<sep>``-joined sequence; BiLSTM final ``(h, c)`` of both directions concatenated, then an MLP."""

    def projection(self, hidden_dim: int, embedding_dim: int) -> nn.Module:
        return nn.Sequential(nn.Linear(4 * hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, embedding_dim))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, h, c = self.run_lstm(tokens, lengths)
        # [h_fwd, h_bwd, c_fwd, c_bwd]: (B, 4H)
        b = tokens.shape[0]
        state = torch.cat([h.transpose(0, 1).reshape(b, -1), c.transpose(0, 1).reshape(b, -1)], dim=1)
        return self.fc(state)


TEXT_ARCHS: dict[str, type[_BiLSTMBase]] = {"text": TextSiamese, "dialog": DialogSiamese}


class TextEncoder(nn.Module):
    """One text/dialog Siamese branch: ``TEXT_ARCHS[kind]``, optionally L2-normalising its output."""

    def __init__(self, kind: str, vocab_size: int, embedding_dim: int, normalize: bool, **arch_kwargs: int | float):
        super().__init__()
        if kind not in TEXT_ARCHS:
            raise ValueError(f"text kind {kind!r} unknown; expected one of {sorted(TEXT_ARCHS)}")
        self.kind = kind
        self.backbone = TEXT_ARCHS[kind](vocab_size=vocab_size, embedding_dim=embedding_dim, **arch_kwargs)
        self.normalize = normalize

    @property
    def exact_lengths(self) -> bool:
        return self.backbone.exact_lengths

    @exact_lengths.setter
    def exact_lengths(self, value: bool) -> None:
        self.backbone.exact_lengths = value

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        e = self.backbone(tokens, lengths)
        return l2_normalize(e) if self.normalize else e
