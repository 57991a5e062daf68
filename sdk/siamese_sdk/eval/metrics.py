"""Verification metrics on scored pairs: ROC AUC, EER, thresholds and TAR at a target FAR, the most accurate threshold.

All functions take ``scores`` ``(N,)`` (a distance unless ``higher_is_closer``) and ``same`` ``(N,)``
bool (True for a genuine pair). A pair is accepted when its score is on the close side of the threshold,
inclusive: ``score <= t`` for distances. FAR is the fraction of impostor pairs accepted, FRR the
fraction of genuine pairs rejected, TAR = 1 - FRR.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: the operating points whose accuracy and accept rate ``summarize`` reports
DECISION_POINTS = ("eer", "max_accuracy")


def _signed(x: np.ndarray | float, higher_is_closer: bool) -> np.ndarray | float:
    """Scores as distances (lower = closer) and back: negated for similarities (its own inverse)."""
    return -x if higher_is_closer else x


def _closeness(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return (genuine, impostor) as float64 distances (lower = closer)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same = np.asarray(same, dtype=bool).ravel()
    if scores.shape != same.shape:
        raise InputError(f"scores {scores.shape} and labels {same.shape} differ in length; pass one label per pair")
    if not np.all(np.isfinite(scores)):
        raise InputError("scores contain NaN or Inf; check the embeddings")
    d = _signed(scores, higher_is_closer)
    gen, imp = d[same], d[~same]
    if gen.size == 0 or imp.size == 0:
        raise InputError("need both genuine and impostor pairs to measure verification; use at least two classes")
    return gen, imp


def roc_auc(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool = False) -> float:
    """Area under the ROC curve: P(a genuine pair is closer than an impostor pair), ties counting half."""
    gen, imp = _closeness(scores, same, higher_is_closer)
    allv = np.concatenate([gen, imp])
    _, inverse, counts = np.unique(allv, return_inverse=True, return_counts=True)
    # average 1-based rank of each unique value, ascending
    ends = np.cumsum(counts)
    avg_rank = ends - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    # impostors should rank high (large distances): Mann-Whitney U of impostors over genuines
    u = ranks[gen.size :].sum() - imp.size * (imp.size + 1) / 2.0
    return float(u / (gen.size * imp.size))


def roc_curve(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(far, tar, thresholds)`` at every distinct score, thresholds ascending in closeness order."""
    gen, imp = _closeness(scores, same, higher_is_closer)
    thr = np.unique(np.concatenate([gen, imp]))
    far = np.searchsorted(np.sort(imp), thr, side="right") / imp.size
    tar = np.searchsorted(np.sort(gen), thr, side="right") / gen.size
    return far, tar, _signed(thr, higher_is_closer)


def equal_error_rate(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool = False) -> tuple[float, float]:
    """``(eer, threshold)``: the rate where FAR and FRR cross, and the threshold that gets closest."""
    far, tar, thr = roc_curve(scores, same, higher_is_closer)
    frr = 1.0 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0), float(thr[i])


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float, higher_is_closer: bool = False) -> float:
    """The loosest threshold whose FAR on these pairs is at most ``far``.

    With fewer than ``1/far`` impostor pairs this is the threshold that accepts no impostor at all.
    """
    if not 0.0 < far < 1.0:
        raise InputError(f"far {far} must be in (0, 1)")
    _, imp = _closeness(scores, same, higher_is_closer)
    imp = np.sort(imp)
    k = int(np.floor(far * imp.size + 1e-9))  # impostors we may accept (epsilon: 0.29 * 100 is 28.999...)
    t = float(np.nextafter(imp[k], -np.inf)) if k < imp.size else float(imp[-1])
    return float(_signed(t, higher_is_closer))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float, higher_is_closer: bool = False) -> float:
    """True accept rate at the threshold ``threshold_at_far`` picks."""
    t = threshold_at_far(scores, same, far, higher_is_closer)
    gen, _ = _closeness(scores, same, higher_is_closer)
    return float(np.mean(gen <= _signed(t, higher_is_closer)))


def threshold_max_accuracy(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool = False) -> float:
    """The threshold with the highest accuracy (correct decisions / pairs) on these pairs, ties to the tightest.

    Unlike the EER point it weighs every pair alike, so on imbalanced pairs (say 2/3 genuine) it leans to the
    majority instead of equalising the two error rates. Candidates: every distinct score, and one below them all.
    """
    gen, imp = _closeness(scores, same, higher_is_closer)
    thr = np.unique(np.concatenate([gen, imp]))
    correct = np.searchsorted(np.sort(gen), thr, side="right") + imp.size - np.searchsorted(np.sort(imp), thr, side="right")
    i = int(np.argmax(correct))
    t = float(thr[i]) if correct[i] > imp.size else float(np.nextafter(thr[0], -np.inf))  # none accepted is as good
    return float(_signed(t, higher_is_closer))


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float, higher_is_closer: bool = False) -> tuple[float, float]:
    """``(accuracy, accepted)`` at ``threshold``: the fraction of pairs decided right, and of pairs accepted."""
    gen, imp = _closeness(scores, same, higher_is_closer)
    t = _signed(threshold, higher_is_closer)
    accepted_gen, accepted_imp = int(np.sum(gen <= t)), int(np.sum(imp <= t))
    n = gen.size + imp.size
    return (accepted_gen + imp.size - accepted_imp) / n, (accepted_gen + accepted_imp) / n


def summarize(scores: np.ndarray, same: np.ndarray, higher_is_closer: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """``(metrics, thresholds)`` as stored per variant in a bundle manifest.

    metrics: ``auc``, ``eer``, ``tar_at_far_1e-2``, ``tar_at_far_1e-3``, ``pairs_genuine``, ``pairs_impostor``,
    and per decision point ``p`` in ``eer``, ``max_accuracy``: ``accuracy_at_<p>`` (the fraction of pairs
    decided right) and ``accepted_at_<p>`` (the fraction called the same: compare with the genuine share);
    thresholds: ``eer``, ``far_1e-2``, ``far_1e-3``, ``max_accuracy``.
    """
    gen, imp = _closeness(scores, same, higher_is_closer)
    eer, t_eer = equal_error_rate(scores, same, higher_is_closer)
    metrics = {"auc": roc_auc(scores, same, higher_is_closer), "eer": eer}
    thresholds = {"eer": t_eer}
    for name, far in (("1e-2", 1e-2), ("1e-3", 1e-3)):
        thresholds[f"far_{name}"] = threshold_at_far(scores, same, far, higher_is_closer)
        metrics[f"tar_at_far_{name}"] = tar_at_far(scores, same, far, higher_is_closer)
    thresholds["max_accuracy"] = threshold_max_accuracy(scores, same, higher_is_closer)
    for op in DECISION_POINTS:
        metrics[f"accuracy_at_{op}"], metrics[f"accepted_at_{op}"] = accuracy_at(scores, same, thresholds[op], higher_is_closer)
    metrics["pairs_genuine"] = float(gen.size)
    metrics["pairs_impostor"] = float(imp.size)
    return metrics, thresholds


def all_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every unordered pair ``i < j`` of a labelled set: ``(i, j, same)``, each ``(P,)``."""
    labels = np.asarray(labels)
    i, j = np.triu_indices(labels.shape[0], k=1)
    return i, j, labels[i] == labels[j]
