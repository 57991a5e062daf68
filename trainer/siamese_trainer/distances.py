"""The SDK's metrics (``siamese_sdk.metric.Metric``) in torch, matching the bundle's head graphs.

``euclidean``: ``||a - b||_2``; ``cosine``: ``1 - cos(a, b)`` in ``[0, 2]``. Lower is closer for both. A metric
is the SDK's ``Metric`` object (direction, range); ``metric_of`` turns a ``--metric`` name into it. ``learned``
has no formula: its scores come from the trained head.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from siamese_sdk import metric as _metric
from siamese_sdk.metric import Metric

_EPS = 1e-12

Formula = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _euclidean_pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).pow(2).sum(dim=1).clamp_min(_EPS).sqrt()  # clamp before sqrt: its gradient at 0 is infinite


def _euclidean_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    sq = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T
    return sq.clamp_min(_EPS).sqrt()


def _cosine_pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8)


def _cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1.0 - F.normalize(a, dim=1) @ F.normalize(b, dim=1).T


#: metric name -> its torch formulas (pairwise ``(N,)``, matrix ``(N, M)``): the metrics a loss can train
TORCH: dict[str, tuple[Formula, Formula]] = {
    "euclidean": (_euclidean_pairwise, _euclidean_matrix),
    "cosine": (_cosine_pairwise, _cosine_matrix),
}


def metric_of(metric: Metric | str) -> Metric:
    """The SDK ``Metric`` (a name is looked up in ``siamese_sdk.metric.METRICS``); ``ValueError`` for one without
    a torch distance."""
    m = metric if isinstance(metric, Metric) else _metric.METRICS.get(metric)
    if m is None or m.name not in TORCH:
        raise ValueError(f"metric {getattr(m, 'name', metric)!r} has no torch distance; expected {' or '.join(TORCH)}")
    return m


def pairwise(a: torch.Tensor, b: torch.Tensor, metric: Metric) -> torch.Tensor:
    """Row-wise distances of ``(N, D)`` and ``(N, D)``: ``(N,)``."""
    return TORCH[metric_of(metric).name][0](a, b)


def matrix(a: torch.Tensor, b: torch.Tensor, metric: Metric) -> torch.Tensor:
    """All distances of ``(N, D)`` against ``(M, D)``: ``(N, M)``."""
    return TORCH[metric_of(metric).name][1](a, b)


def max_distance(metric: Metric, normalized: bool) -> float:
    """Largest possible distance: 2 on unit-length embeddings, else the metric's own bound (cosine 2, euclidean inf)."""
    return 2.0 if normalized else metric_of(metric).hi
