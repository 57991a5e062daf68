"""NT-Xent / multi-positive N-pair loss (Sohn 2016; Chen et al. 2020; pytorch-metric-learning's ``NTXentLoss``).

For every positive pair ``(a, p)`` of a P x K batch, a softmax over ``p`` and all of ``a``'s negatives:

    L(a, p) = -log( exp(s(a, p) / T) / (exp(s(a, p) / T) + sum_n exp(s(a, n) / T)) )

with ``s`` the cosine similarity of the (unit-length) embeddings and ``T`` the temperature (default 0.1).
It is the training-time form of a one-shot episode: pick the positive out of every other class in the
batch at once, instead of one negative per triplet. The batch loss is the mean over positive pairs.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def ntxent_loss(sim: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1, self_pairs: bool = False) -> torch.Tensor:
    """Per-positive-pair loss ``(P,)`` from a ``(B, B)`` cosine-similarity matrix and ``(B,)`` labels.

    ``self_pairs``: the diagonal counts as a positive (rows and columns are different embeddings of the same
    images, e.g. new queries x old templates); else it is left out (one batch against itself)."""
    logits = sim / temperature
    same = labels[:, None] == labels[None, :]
    pos = same if self_pairs else same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    # log-sum-exp over the negatives of each anchor, (B,); -inf where an anchor has none
    neg_lse = torch.logsumexp(logits.masked_fill(same, float("-inf")), dim=1)
    a, p = pos.nonzero(as_tuple=True)
    lp = logits[a, p]
    return torch.logaddexp(lp, neg_lse[a]) - lp


class NTXentLoss(nn.Module):
    """Mean NT-Xent loss over the positive pairs of a labelled batch (embeddings are L2-normalised here).

    Args:
        temperature: ``T`` > 0; lower values weight the hardest negatives more.
    """

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature {temperature} must be > 0 (typical: 0.05-0.2)")
        self.temperature = temperature

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = embeddings / torch.linalg.vector_norm(embeddings, dim=1, keepdim=True).clamp_min(1e-12)
        losses = ntxent_loss(e @ e.T, labels, self.temperature)
        return losses.mean() if losses.numel() else embeddings.sum() * 0.0
