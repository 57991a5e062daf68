"""Losses, one per module. Each takes ``(embeddings (B, D), labels (B,))`` plus optional mined indices.

``make_loss(config)`` is the one-branch loss a run trains with (``cross_branch`` wraps them for two branches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from siamese_sdk.errors import InputError

from .contrastive import ContrastiveLoss, contrastive_loss
from .ntxent import NTXentLoss, ntxent_loss
from .triplet import TripletMarginLoss, triplet_margin_loss

if TYPE_CHECKING:
    from ..config import TrainConfig

LOSSES = {"contrastive": ContrastiveLoss, "triplet": TripletMarginLoss, "ntxent": NTXentLoss}


def make_loss(config: TrainConfig) -> torch.nn.Module:
    """The one-branch loss of ``--loss`` (or the learned head's BCE) of a resolved ``config``; ``InputError`` for
    an impossible margin."""
    from ..models.heads import PairBCELoss

    if config.head == "learned":
        return PairBCELoss(config.embedding_dim)
    try:
        if config.loss == "triplet":
            return TripletMarginLoss(config.margin, config.metric, bool(config.normalize), config.mining)
        if config.loss == "ntxent":
            return NTXentLoss(config.temperature)
        return ContrastiveLoss(config.margin, config.metric, bool(config.normalize))
    except ValueError as e:  # an impossible margin or unknown mining: a flag problem
        raise InputError(str(e)) from None

__all__ = [
    "LOSSES",
    "ContrastiveLoss",
    "NTXentLoss",
    "TripletMarginLoss",
    "contrastive_loss",
    "make_loss",
    "ntxent_loss",
    "triplet_margin_loss",
]
