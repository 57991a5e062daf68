"""Contrastive loss (Hadsell, Chopra & LeCun 2006), as in the reference article.

    L = (1 - Y) * 1/2 * D^2  +  Y * 1/2 * max(0, m - D)^2

``D`` is the distance between the two embeddings of a pair, ``Y = 0`` for a similar pair and ``Y = 1``
for a dissimilar one, ``m`` the margin (default 2.0): dissimilar pairs farther apart than ``m`` cost
nothing. The batch loss is the mean over the mined pairs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from siamese_sdk.metric import Metric

from .. import distances
from ..miners import BalancedPairMiner


def contrastive_loss(d: torch.Tensor, y: torch.Tensor, margin: float = 2.0) -> torch.Tensor:
    """Per-pair loss for distances ``d (P,)`` and labels ``y (P,)`` (1 = dissimilar): ``(P,)``."""
    return (1 - y) * 0.5 * d.pow(2) + y * 0.5 * torch.clamp(margin - d, min=0.0).pow(2)


class ContrastiveLoss(nn.Module):
    """Mean contrastive loss over pairs mined from a labelled batch.

    Args:
        margin: ``m``; must be reachable, so at most 2 for cosine or unit-length embeddings.
        metric: the ``euclidean`` or ``cosine`` distance (a ``siamese_sdk.metric.Metric`` or its name).
        normalized: whether embeddings are L2-normalised (bounds Euclidean distances by 2).
        miner: picks ``(a, b, y)`` pairs; default ``BalancedPairMiner``.
    """

    def __init__(
        self, margin: float = 2.0, metric: Metric | str = "euclidean", normalized: bool = False, miner: BalancedPairMiner | None = None
    ):
        super().__init__()
        metric = distances.metric_of(metric)
        limit = distances.max_distance(metric, normalized)
        if not 0 < margin <= limit:
            raise ValueError(
                f"contrastive margin {margin} impossible for {metric.name}{' on unit vectors' if normalized else ''} "
                f"(distances lie in [0, {limit}]); pick a margin in (0, {limit}]"
            )
        self.margin, self.metric = margin, metric
        self.miner = miner or BalancedPairMiner()

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor, pairs: tuple[torch.Tensor, ...] | None = None
    ) -> torch.Tensor:
        a, b, y = pairs if pairs is not None else self.miner(embeddings, labels)
        d = distances.pairwise(embeddings[a], embeddings[b], self.metric)
        return contrastive_loss(d, y, self.margin).mean()
