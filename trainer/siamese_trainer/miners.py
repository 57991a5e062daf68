"""Online mining inside a batch: which pairs or triplets of a labelled batch the loss sees.

Miners run under ``no_grad`` and return index tensors into the batch:

- ``BalancedPairMiner``: ``(a, b, y)`` with every positive pair and as many random negative pairs
  (``y = 1`` marks a dissimilar pair, the contrastive-loss convention of the reference article);
- ``TripletMiner``: ``(anchor, positive, negative)`` by strategy ``all`` (every valid triplet),
  ``semihard`` (``d(a,p) < d(a,n) < d(a,p) + margin``, FaceNet) or ``batch_hard`` (hardest positive and
  hardest negative per anchor, Hermans et al. 2017).
"""

from __future__ import annotations

import torch
from siamese_sdk.metric import Metric

from . import distances

TRIPLET_STRATEGIES = ("all", "semihard", "batch_hard")


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


class BalancedPairMiner:
    """All positive pairs ``i < j`` of a batch, plus an equal number of random negative pairs."""

    def __init__(self, generator: torch.Generator | None = None):
        self.generator = generator

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos, neg = _masks(labels)
        pa, pb = torch.triu(pos).nonzero(as_tuple=True)
        na, nb = torch.triu(neg).nonzero(as_tuple=True)
        if pa.numel() == 0 or na.numel() == 0:
            raise ValueError("batch has no positive or no negative pair; use a P x K sampler with P >= 2 and K >= 2")
        take = torch.randperm(na.numel(), generator=self.generator)[: pa.numel()].to(labels.device)
        a = torch.cat([pa, na[take]])
        b = torch.cat([pb, nb[take]])
        y = torch.cat([torch.zeros(pa.numel()), torch.ones(take.numel())]).to(embeddings)
        return a, b, y


class TripletMiner:
    """Triplets ``(anchor, positive, negative)`` of a batch, by ``strategy``."""

    def __init__(self, strategy: str = "semihard", margin: float = 0.2, metric: Metric | str = "euclidean"):
        if strategy not in TRIPLET_STRATEGIES:
            raise ValueError(f"mining strategy {strategy!r} unknown; expected one of {list(TRIPLET_STRATEGIES)}")
        self.strategy, self.margin, self.metric = strategy, margin, distances.metric_of(metric)

    @torch.no_grad()
    def __call__(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos, neg = _masks(labels)
        d = distances.matrix(embeddings, embeddings, self.metric)
        if self.strategy == "batch_hard":
            has = pos.any(1) & neg.any(1)
            p = torch.where(pos, d, torch.full_like(d, -float("inf"))).argmax(1)
            n = torch.where(neg, d, torch.full_like(d, float("inf"))).argmin(1)
            a = torch.arange(labels.shape[0], device=labels.device)
            return a[has], p[has], n[has]
        valid = pos[:, :, None] & neg[:, None, :]  # (a, p, n)
        if self.strategy == "semihard":
            d_ap = d[:, :, None]
            d_an = d[:, None, :]
            valid &= (d_an > d_ap) & (d_an < d_ap + self.margin)
        a, p, n = valid.nonzero(as_tuple=True)
        return a, p, n
