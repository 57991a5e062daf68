"""The influence loss of backward-compatible training (Shen et al., CVPR 2020, "BCT").

The run's own metric loss, computed between the NEW encoder's embeddings (the queries) and the frozen OLD
encoder's embeddings of the same batch (the gallery): a new anchor must lie close to the old embeddings of its
class and far from the old embeddings of the others, so new queries search old templates. Every cross pair
counts, the image's own old embedding included (the strongest positive).

- ``contrastive`` / ``triplet``: the cross-branch pairs and triplets of ``CrossBranchLoss`` (anchor new,
  positive and negative old);
- ``ntxent``: per new anchor, a softmax over the old embeddings: each old positive against all old negatives.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cross_branch import CrossBranchLoss
from .ntxent import ntxent_loss


def cross_ntxent_loss(new: torch.Tensor, old: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean NT-Xent over the (new anchor, old positive) pairs of ``new (B, D)``, ``old (B, D)``, ``labels (B,)``."""
    sim = F.normalize(new, dim=1) @ F.normalize(old, dim=1).T  # (B, B): new anchor x old template
    return ntxent_loss(sim, labels, temperature, self_pairs=True).mean()


class InfluenceLoss(nn.Module):
    """``loss(new (B, D), old (B, D), labels (B,))``: the run's ``loss`` between new queries and old templates.

    Args:
        loss: ``contrastive``, ``triplet`` or ``ntxent`` (the run's ``--loss``).
        margin, metric, normalized: the run's (contrastive / triplet).
        temperature: the run's (ntxent).
    """

    def __init__(self, loss: str, margin: float, metric: str, normalized: bool, temperature: float):
        super().__init__()
        self.loss, self.temperature = loss, temperature
        self.cross = None if loss == "ntxent" else CrossBranchLoss(loss, margin, metric, normalized)

    def forward(self, new: torch.Tensor, old: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        old = old.detach().to(new)
        if self.cross is None:
            return cross_ntxent_loss(new, old, labels, self.temperature)
        return self.cross(new, labels, old, labels)
