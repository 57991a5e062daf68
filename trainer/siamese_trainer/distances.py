"""Distances between embeddings in torch, matching the bundle's head graphs (``siamese_sdk.metric.METRICS``).

``euclidean``: ``||a - b||_2``; ``cosine``: ``1 - cos(a, b)`` in ``[0, 2]``. Lower is closer for both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-12


def pairwise(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Row-wise distances of ``(N, D)`` and ``(N, D)``: ``(N,)``."""
    if metric == "euclidean":
        # clamp before sqrt: its gradient at 0 is infinite
        return (a - b).pow(2).sum(dim=1).clamp_min(_EPS).sqrt()
    if metric == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8)
    raise ValueError(f"metric {metric!r} unknown; expected 'euclidean' or 'cosine'")


def matrix(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """All distances of ``(N, D)`` against ``(M, D)``: ``(N, M)``."""
    if metric == "euclidean":
        sq = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T
        return sq.clamp_min(_EPS).sqrt()
    if metric == "cosine":
        return 1.0 - F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    raise ValueError(f"metric {metric!r} unknown; expected 'euclidean' or 'cosine'")


def max_distance(metric: str, normalized: bool) -> float:
    """Largest possible distance: 2 for cosine or unit-length embeddings, unbounded otherwise."""
    return 2.0 if metric == "cosine" or normalized else float("inf")
