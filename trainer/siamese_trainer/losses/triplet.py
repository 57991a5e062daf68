"""Triplet margin loss (Schroff et al. 2015, FaceNet), as in the reference article.

    L = max(d(a, p) - d(a, n) + margin, 0)

for an anchor ``a``, a positive ``p`` of its class and a negative ``n`` of another class (default margin
0.2). Triplets are mined online from the batch (``TripletMiner``); the batch loss is the mean over the
triplets that still violate the margin (zero when none do), so easy triplets do not dilute the gradient.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from siamese_sdk.metric import Metric

from .. import distances
from ..miners import TripletMiner


def triplet_margin_loss(d_ap: torch.Tensor, d_an: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Per-triplet loss from anchor-positive and anchor-negative distances, each ``(T,)``: ``(T,)``."""
    return torch.clamp(d_ap - d_an + margin, min=0.0)


class TripletMarginLoss(nn.Module):
    """Mean triplet loss over the violating triplets mined from a labelled batch.

    Args:
        margin: must be positive, and below 2 for cosine or unit-length embeddings.
        metric: the ``euclidean`` or ``cosine`` distance (a ``siamese_sdk.metric.Metric`` or its name).
        normalized: whether embeddings are L2-normalised.
        mining: ``all``, ``semihard`` or ``batch_hard`` (see ``miners``).
    """

    def __init__(self, margin: float = 0.2, metric: Metric | str = "euclidean", normalized: bool = True, mining: str = "semihard"):
        super().__init__()
        metric = distances.metric_of(metric)
        limit = distances.max_distance(metric, normalized)
        if not 0 < margin < limit:
            raise ValueError(
                f"triplet margin {margin} impossible for {metric.name}{' on unit vectors' if normalized else ''}; pick one in (0, {limit})"
            )
        self.margin, self.metric = margin, metric
        self.miner = TripletMiner(mining, margin, metric)

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, triplets: tuple[torch.Tensor, ...] | None = None
    ) -> torch.Tensor:
        a, p, n = triplets if triplets is not None else self.miner(embeddings, labels)
        if a.numel() == 0:
            return embeddings.sum() * 0.0  # keeps the graph: a batch with nothing to learn
        # one (B, B) distance matrix, then index it: batch-all mining yields O(B^3) triplets, and gathering
        # three (T, D) embedding copies for them made training ~6x slower than contrastive
        d = distances.matrix(embeddings, embeddings, self.metric)
        losses = triplet_margin_loss(d[a, p], d[a, n], self.margin)
        active = losses > 0
        return losses[active].mean() if active.any() else losses.sum() * 0.0
