"""Validation: embed unseen-class images and score every pair, with the SDK's metric functions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from siamese_sdk import metric as _metric
from siamese_sdk.eval import metrics

from . import distances

#: the verification metrics a history row records
ROW_METRICS = ("auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3")


@torch.no_grad()
def embed(encoder: torch.nn.Module, images: torch.Tensor, batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """``(N, C, H, W)`` images -> ``(N, D)`` embeddings on the CPU, encoder in eval mode."""
    was_training = encoder.training
    encoder.eval()
    out = [encoder(images[i : i + batch_size].to(device)).cpu() for i in range(0, images.shape[0], batch_size)]
    encoder.train(was_training)
    return torch.cat(out)


def pair_scores(
    embeddings: torch.Tensor, labels: np.ndarray, metric: str, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (``metric`` distances, or ``score(a, b) -> (N, M)``) and same-class flags of every unordered pair: ``(P,), (P,)``."""
    d = (score or (lambda a, b: distances.matrix(a, b, metric)))(embeddings, embeddings).numpy()
    i, j, same = metrics.all_pairs(labels)
    return d[i, j], same


def verification_metrics(
    embeddings: torch.Tensor, labels: np.ndarray, metric: str, score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
) -> dict[str, float]:
    """ROC AUC, EER and TAR at FAR 1e-2 / 1e-3 over all pairs of a labelled embedding set.

    ``metric`` may be ``learned`` only with ``score`` (the head's ``matrix``): its scores are p(same), higher = closer.
    """
    scores, same = pair_scores(embeddings, labels, metric, score)
    return metrics.summarize(scores, same, _metric.get(metric).higher_is_closer)[0]


def cross_metrics(ea: torch.Tensor, la: np.ndarray, eb: torch.Tensor, lb: np.ndarray, metric: str) -> dict[str, float]:
    """ROC AUC, EER, TAR at FAR 1e-2 / 1e-3 over all cross-branch pairs ``(i in a, j in b)`` of ``(A, D)``, ``(B, D)``."""
    d = distances.matrix(ea, eb, metric).numpy()
    return metrics.summarize(d.ravel(), (la[:, None] == lb[None, :]).ravel(), _metric.get(metric).higher_is_closer)[0]
