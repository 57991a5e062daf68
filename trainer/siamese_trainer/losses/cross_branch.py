"""The loss of a two-branch (pseudo-Siamese) run: cross-branch pairs only, an anchor from branch a and a
positive or negative from branch b, since a deployed bundle compares a query of one domain with a reference
of the other.

- ``contrastive``: every genuine a-b pair and as many random impostor a-b pairs (``contrastive_loss``);
- ``triplet``: batch-all triplets (anchor in a, positive and negative in b), mean over the violating ones.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from siamese_sdk.errors import InputError
from siamese_sdk.metric import Metric

from .. import distances
from .contrastive import ContrastiveLoss, contrastive_loss
from .triplet import TripletMarginLoss, triplet_margin_loss


class CrossBranchLoss(nn.Module):
    """Contrastive or batch-all triplet loss over the cross-branch pairs of ``(ea (A, D), ya (A,))`` x ``(eb (B, D), yb (B,))``."""

    def __init__(self, loss: str, margin: float, metric: Metric | str, normalized: bool, generator: torch.Generator | None = None):
        super().__init__()
        try:  # the one-branch losses check that the margin is reachable for the metric
            (TripletMarginLoss(margin, metric, normalized, "all") if loss == "triplet" else ContrastiveLoss(margin, metric, normalized))
        except ValueError as e:
            raise InputError(str(e)) from None
        self.loss, self.margin, self.metric, self.generator = loss, margin, distances.metric_of(metric), generator

    def forward(self, ea: torch.Tensor, ya: torch.Tensor, eb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        d = distances.matrix(ea, eb, self.metric)  # (A, B)
        same = ya[:, None] == yb[None, :]
        if self.loss == "triplet":
            valid = same[:, :, None] & ~same[:, None, :]  # (anchor a, positive b, negative b)
            losses = triplet_margin_loss(d[:, :, None], d[:, None, :], self.margin)[valid]
            active = losses > 0
            return losses[active].mean() if active.any() else d.sum() * 0.0
        pos, neg = same.nonzero(as_tuple=True), (~same).nonzero(as_tuple=True)
        take = torch.randperm(neg[0].numel(), generator=self.generator)[: pos[0].numel()]
        dd = torch.cat([d[pos], d[neg[0][take], neg[1][take]]])
        y = torch.cat([torch.zeros(pos[0].numel()), torch.ones(take.numel())]).to(dd)
        return contrastive_loss(dd, y, self.margin).mean()
