"""``EmbeddingMap``: a small learned transformation from an old encoder's embeddings to a new one's.

``y = W x + MLP(x)``: a linear map plus a one-hidden-layer residual (ReLU), ``(B, D_old) -> (B, D_new)``; unit
length at the output when the new encoder's embeddings are (``normalize``). The input is unit length first when
the old encoder's metric is cosine (galleries store cosine templates at unit length).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class EmbeddingMap(nn.Module):
    """Old -> new embeddings: ``(B, d_old) float32 -> (B, d_new) float32``."""

    def __init__(self, d_old: int, d_new: int, hidden: int = 256, unit_input: bool = False, normalize: bool = False):
        super().__init__()
        self.unit_input, self.normalize = unit_input, normalize
        self.linear = nn.Linear(d_old, d_new)
        self.mlp = nn.Sequential(nn.Linear(d_old, hidden), nn.ReLU(), nn.Linear(hidden, d_new))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unit_input:
            x = x / torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)
        y = self.linear(x) + self.mlp(x)
        if self.normalize:
            y = y / torch.linalg.vector_norm(y, dim=1, keepdim=True).clamp_min(1e-12)
        return y
