"""Losses, one per module. Each takes ``(embeddings (B, D), labels (B,))`` plus optional mined indices."""

from .contrastive import ContrastiveLoss, contrastive_loss
from .ntxent import NTXentLoss, ntxent_loss
from .triplet import TripletMarginLoss, triplet_margin_loss

LOSSES = {"contrastive": ContrastiveLoss, "triplet": TripletMarginLoss, "ntxent": NTXentLoss}

__all__ = [
    "LOSSES",
    "ContrastiveLoss",
    "NTXentLoss",
    "TripletMarginLoss",
    "contrastive_loss",
    "ntxent_loss",
    "triplet_margin_loss",
]
