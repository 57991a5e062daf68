"""The learned distance head (``--head learned``): ``p(same) = sigmoid(w · |a - b| + c)``.

As in the reference articles (Koch et al. 2015's L1 siamese layer): the element-wise absolute difference
of two embeddings goes through one fully connected unit and a sigmoid. It is trained jointly with the
encoder by binary cross-entropy on the pairs of each P x K batch (every positive pair and as many random
negatives, ``BalancedPairMiner``); no metric loss is added, so the one objective both shapes the
embedding and calibrates the probability. Scores are probabilities (higher = closer): a pair matches
when ``score >= threshold``. The export writes this head as ``head.pairwise.onnx`` ``(B, D), (B, D) ->
(B,)`` and ``head.matrix.onnx`` ``(B, D), (N, D) -> (B, N)`` (``siamese_export.onnx.learned_head.build_learned_head``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..miners import BalancedPairMiner


class LearnedHead(nn.Module):
    """``sigmoid(w · |a - b| + c)``; ``forward`` is pairwise ``(B, D), (B, D) -> (B,)``, ``matrix`` is ``(B, D), (N, D) -> (B, N)``."""

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.fc = nn.Linear(embedding_dim, 1)
        with torch.no_grad():  # start as "far apart = different": negative weights, positive bias
            self.fc.weight.fill_(-1.0 / embedding_dim**0.5)
            self.fc.bias.fill_(1.0)

    def logits(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Pairwise logits ``(B,)``."""
        return self.fc((a - b).abs()).squeeze(1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(a, b))

    def matrix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``p(same)`` of every row of ``a (B, D)`` against every row of ``b (N, D)``: ``(B, N)``."""
        return torch.sigmoid(self.fc((a[:, None, :] - b[None, :, :]).abs()).squeeze(2))


class PairBCELoss(nn.Module):
    """Binary cross-entropy of the learned head on mined pairs (label 1 = same identity); owns the head,
    so ``loss.parameters()`` are the head's and train with the encoder's."""

    def __init__(self, embedding_dim: int, miner: BalancedPairMiner | None = None):
        super().__init__()
        self.head = LearnedHead(embedding_dim)
        self.miner = miner or BalancedPairMiner()

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        a, b, y = self.miner(embeddings, labels)  # y = 1 for a dissimilar pair
        return F.binary_cross_entropy_with_logits(self.head.logits(embeddings[a], embeddings[b]), 1.0 - y.float())
