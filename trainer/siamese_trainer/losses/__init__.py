"""Losses, one per module. Each takes ``(embeddings (B, D), labels (B,))`` plus optional mined indices."""

from .contrastive import ContrastiveLoss, contrastive_loss
from .triplet import TripletMarginLoss, triplet_margin_loss

LOSSES = {"contrastive": ContrastiveLoss, "triplet": TripletMarginLoss}

__all__ = ["LOSSES", "ContrastiveLoss", "TripletMarginLoss", "contrastive_loss", "triplet_margin_loss"]
