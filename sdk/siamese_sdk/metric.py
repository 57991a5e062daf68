"""One ``Metric`` object per score kind: its direction, its range and what "a match" means.

Every place that compares a score with a threshold, picks the closest item or checks that a
threshold is in range asks the ``Metric`` instead of testing the metric's name.

    >>> m = get("euclidean")
    >>> m.is_match(np.array([0.2, 0.9]), 0.5)
    array([ True, False])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import BundleError


@dataclass(frozen=True)
class Metric:
    """A score kind. ``higher_is_closer`` is False for distances (the default metrics).

    ``lo``/``hi``: the range every score and threshold lies in (``hi`` may be ``inf``).
    ``normalized_inputs``: the score assumes unit-length embeddings (cosine).
    ``out_of_range``: what a threshold outside ``[lo, hi]`` gets told, after ``"threshold {t} "``.
    """

    name: str
    higher_is_closer: bool
    lo: float
    hi: float
    normalized_inputs: bool = False
    out_of_range: str = "outside this metric's score range; pick a threshold in range"
    #: the numpy formulas ``(N, D), (N, D) -> (N,)`` and ``(N, D), (M, D) -> (N, M)``; None for a learned head
    numpy_pairwise: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    numpy_matrix: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def is_match(self, scores: np.ndarray | float, threshold: float) -> np.ndarray:
        """``(N,) bool``: True where a score is on the close side of ``threshold``, inclusive."""
        s = np.asarray(scores)
        return s >= threshold if self.higher_is_closer else s <= threshold

    def as_distance(self, scores: np.ndarray) -> np.ndarray:
        """Scores mapped so that lower is closer (negated for similarities); float64."""
        s = np.asarray(scores, dtype=np.float64)
        return -s if self.higher_is_closer else s

    def closest(self, scores: np.ndarray, axis: int = -1) -> np.ndarray:
        """Index of the closest score along ``axis`` (argmin for distances, argmax for similarities)."""
        return np.argmax(scores, axis=axis) if self.higher_is_closer else np.argmin(scores, axis=axis)

    def order(self, scores: np.ndarray, axis: int = -1) -> np.ndarray:
        """Indices that sort ``scores`` from closest to farthest along ``axis`` (stable)."""
        return np.argsort(self.as_distance(scores), axis=axis, kind="stable")

    def sign(self) -> str:
        """The comparison a match satisfies, for messages: ``<=`` or ``>=``."""
        return ">=" if self.higher_is_closer else "<="

    def in_range(self, threshold: float) -> bool:
        """Whether ``threshold`` lies in this metric's score range."""
        return bool(self.lo <= threshold <= self.hi)

    def clamp(self, thresholds: dict[str, float]) -> dict[str, float]:
        """Calibrated thresholds brought into this metric's score range.

        A threshold that must reject an impostor pair at the closest possible score (two identical texts labelled
        different: euclidean distance 0) lies just outside the range (``-5e-324``); at the bound it accepts only
        such pairs, which is what any in-range threshold must do.
        """
        return {k: float(min(max(t, self.lo), self.hi)) for k, t in thresholds.items()}

    def check_threshold(self, threshold: float) -> str | None:
        """Why ``threshold`` cannot be one of this metric's (not finite, out of range), or None when it can."""
        if not np.isfinite(threshold):
            return f"threshold {threshold} is not finite; pass a number"
        if not self.in_range(threshold):
            return f"threshold {threshold} {self.out_of_range}"
        return None

    def pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(N,) float32`` scores of row pairs ``a[i]``, ``b[i]`` (``(N, D)`` each), in numpy."""
        if self.numpy_pairwise is None:
            raise self._no_formula()
        return self.numpy_pairwise(np.asarray(a, np.float32), np.asarray(b, np.float32)).astype(np.float32)

    def matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``(N, M) float32`` scores of every row of ``a`` (``(N, D)``) against every row of ``b`` (``(M, D)``)."""
        if self.numpy_matrix is None:
            raise self._no_formula()
        return self.numpy_matrix(np.asarray(a, np.float32), np.asarray(b, np.float32)).astype(np.float32)

    def _no_formula(self) -> BundleError:
        return BundleError(f"the {self.name} metric has no numpy formula; use the bundle's head graph (model.distance)")


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _euclidean_pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(((a - b) ** 2).sum(axis=1), 0.0))


def _euclidean_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T), 0.0))


def _cosine_pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 - (_unit(a) * _unit(b)).sum(axis=1)


def _cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 1.0 - _unit(a) @ _unit(b).T


#: the metrics a bundle may name. cosine is ``1 - cos`` in ``[0, 2]``; learned is p(same) in ``[0, 1]``
#: from the trained ``|a - b| -> FC -> sigmoid`` head of ``siamese-train --head learned``.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "euclidean", higher_is_closer=False, lo=0.0, hi=float("inf"),
            out_of_range="below 0, but Euclidean distances are >= 0; pick a threshold >= 0",
            numpy_pairwise=_euclidean_pairwise, numpy_matrix=_euclidean_matrix,
        ),
        Metric(
            "cosine", higher_is_closer=False, lo=0.0, hi=2.0, normalized_inputs=True,
            out_of_range="outside the cosine distance range [0, 2]; pick a threshold in range",
            numpy_pairwise=_cosine_pairwise, numpy_matrix=_cosine_matrix,
        ),
        Metric(
            "learned", higher_is_closer=True, lo=0.0, hi=1.0,
            out_of_range="outside [0, 1], but the learned head's scores are probabilities; pick one in range",
        ),
    )
}


def get(name: str) -> Metric:
    """The ``Metric`` called ``name``; raises ``BundleError`` naming the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise BundleError(f"unknown metric {name!r}; this siamese-sdk knows {', '.join(METRICS)} (upgrade siamese-sdk?)") from None
