"""Measuring one variant of a bundle: embed the validation inputs, score the pairs, summarize, threshold support.

The one measurement the export (every variant it builds, on its validation pairs) and ``siamese calibrate``
(every shipped variant, on the user's folder) share: ``measure_variant`` returns a ``VariantMeasurement`` whose
``metrics``, ``thresholds`` and ``support`` are what a manifest's variant entry stores. ``evaluate`` is its last
two steps on scores already computed. Direction comes from a ``siamese_sdk.metric.Metric``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metric import Metric
from . import metrics, support

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

#: ``(model, {branch: (N, D) embeddings}) -> (P,) scores`` of the pairs being measured
Scorer = Callable[["SiameseModel", dict[str | None, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class VariantMeasurement:
    """What one variant achieves on a set of labelled pairs.

    ``metrics``: ``auc``, ``eer``, ``tar_at_far_1e-2``, ``tar_at_far_1e-3``, ``pairs_genuine``, ``pairs_impostor``
    (the export adds ``cosine_vs_fp32_*`` and the speed gate ``speedup_vs_fp32_b64``); ``thresholds``: operating
    point (``eer``, ``far_1e-2``, ``far_1e-3``, ``max_accuracy``) -> score threshold, within the metric's range; ``support``: operating point -> its support
    (``eval.support.threshold_support``); ``scores``: ``(P,)`` pair scores; ``embeddings``: branch (None: the one
    encoder) -> ``(N, D) float32``, empty when ``evaluate`` was given scores.
    """

    metrics: dict[str, float]
    thresholds: dict[str, float]
    support: dict[str, dict[str, Any]]
    scores: np.ndarray = field(repr=False)
    embeddings: dict[str | None, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def auc(self) -> float:
        """ROC AUC on the pairs."""
        return self.metrics["auc"]

    @property
    def eer(self) -> float:
        """Equal error rate on the pairs."""
        return self.metrics["eer"]


def evaluate(
    scores: np.ndarray,
    same: np.ndarray,
    metric: Metric,
    pair_classes: tuple[np.ndarray, np.ndarray] | None = None,
) -> VariantMeasurement:
    """Metrics, thresholds and their support of ``(P,)`` pair ``scores`` with ``(P,) bool`` labels ``same``.

    ``pair_classes``: ``(P,)`` class of each pair's two sides (bootstrap over identities), or None (over pairs).
    """
    m, t = metrics.summarize(scores, same, metric.higher_is_closer)
    t = metric.clamp(t)  # an impostor pair at the closest possible score puts a threshold just outside the range
    s = support.threshold_support(scores, same, pair_classes, metric.higher_is_closer, thresholds=t)
    return VariantMeasurement(metrics=m, thresholds=t, support=s, scores=np.asarray(scores))


def measure_variant(
    model: SiameseModel,
    inputs: Mapping[str | None, Any],
    score: Scorer,
    same: np.ndarray,
    pair_classes: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int = 128,
) -> VariantMeasurement:
    """Embed ``inputs`` (branch -> what ``model.embed`` takes; None: a one-encoder bundle) with ``model``, score the
    pairs with ``score`` and ``evaluate`` them under the bundle's metric (``model.manifest.score``)."""
    emb = {b: model.embed(x, batch_size=batch_size, **({"branch": b} if b else {})) for b, x in inputs.items()}
    return replace(evaluate(score(model, emb), same, model.manifest.score, pair_classes), embeddings=emb)
