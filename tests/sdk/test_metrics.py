"""Verification metrics against brute force and hand-worked cases (torch-free)."""

from __future__ import annotations

import numpy as np
import pytest
from siamese_sdk.errors import InputError
from siamese_sdk.eval import metrics


def _scored(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Distances where genuine pairs tend to be closer; with ``ties`` they sit on a coarse grid."""
    rng = np.random.default_rng(seed)
    same = rng.random(n) < 0.3
    scores = rng.normal(np.where(same, 0.8, 1.4), 0.4)
    return (np.round(scores, 1) if ties else scores), same


def _brute_force_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """P(genuine distance < impostor distance), ties counting half: O(n^2) Mann-Whitney."""
    wins = 0.0
    for g in scores[same]:
        for i in scores[~same]:
            wins += 1.0 if g < i else 0.5 if g == i else 0.0
    return wins / (same.sum() * (~same).sum())


def _far(scores: np.ndarray, same: np.ndarray, t: float, higher_is_closer: bool = False) -> float:
    imp = scores[~same]
    return float(np.mean(imp >= t if higher_is_closer else imp <= t))


# ---------------------------------------------------------------- AUC


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_auc_equals_brute_force_mann_whitney(seed: int, ties: bool):
    scores, same = _scored(seed, ties=ties)
    if ties:
        assert len(np.unique(scores)) < len(scores) / 4  # plenty of ties, across classes too
    assert metrics.roc_auc(scores, same) == pytest.approx(_brute_force_auc(scores, same), abs=1e-12)


def test_auc_hand_cases():
    same = np.array([True, True, False, False])
    assert metrics.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), same) == 1.0
    assert metrics.roc_auc(np.array([0.8, 0.9, 0.1, 0.2]), same) == 0.0
    assert metrics.roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), same) == 0.5
    assert metrics.roc_auc(np.array([0.1, 0.5, 0.5, 0.9]), same) == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_auc_accepts_lists_and_other_dtypes():
    assert metrics.roc_auc([1, 2, 3, 4], [1, 1, 0, 0]) == 1.0
    assert metrics.roc_auc(np.array([0.1, 0.2, 0.3], np.float32), np.array([1, 0, 0])) == 1.0


# ---------------------------------------------------------------- EER


def test_eer_hand_case():
    # genuine 0.1 0.2 0.3 0.4, impostors 0.35 0.5 0.6 0.7: at t = 0.35, FAR = 1/4 (0.35) and FRR = 1/4 (0.4)
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.35, 0.5, 0.6, 0.7])
    same = np.array([True] * 4 + [False] * 4)
    eer, t = metrics.equal_error_rate(scores, same)
    assert eer == pytest.approx(0.25) and t == pytest.approx(0.35)
    eer, t = metrics.equal_error_rate(-scores, same, higher_is_closer=True)
    assert eer == pytest.approx(0.25) and t == pytest.approx(-0.35)


def test_eer_separable_is_zero():
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    eer, t = metrics.equal_error_rate(scores, np.array([True, True, False, False]))
    assert eer == 0.0 and 0.2 <= t < 0.8


# ---------------------------------------------------------------- threshold and TAR at a FAR


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("far", [0.01, 0.05, 0.3])
def test_threshold_at_far_is_the_loosest_within_the_target(far: float, ties: bool):
    scores, same = _scored(3, n=2000, ties=ties)
    t = metrics.threshold_at_far(scores, same, far)
    assert _far(scores, same, t) <= far
    # the next impostor past t would push FAR over the target: no looser threshold qualifies
    next_impostor = np.min(scores[~same][scores[~same] > t])
    assert _far(scores, same, next_impostor) > far
    assert metrics.tar_at_far(scores, same, far) == pytest.approx(np.mean(scores[same] <= t))


def test_threshold_at_far_with_few_impostors_accepts_none():
    scores = np.array([0.1, 0.2, 0.3, 0.5, 0.6])
    same = np.array([True, True, False, False, False])  # 3 impostors: a FAR of 1e-2 means accepting none
    t = metrics.threshold_at_far(scores, same, 1e-2)
    assert 0.2 <= t < 0.3 and _far(scores, same, t) == 0.0
    assert metrics.tar_at_far(scores, same, 1e-2) == 1.0


@pytest.mark.parametrize("far", [0.01, 0.1])
def test_similarity_scores_mirror_distances(far: float):
    """``higher_is_closer`` on negated scores gives the same rates and negated thresholds."""
    dist, same = _scored(5, n=1000, ties=True)
    sim = -dist
    t = metrics.threshold_at_far(sim, same, far, higher_is_closer=True)
    assert t == -metrics.threshold_at_far(dist, same, far)
    assert _far(sim, same, t, higher_is_closer=True) <= far
    assert metrics.tar_at_far(sim, same, far, higher_is_closer=True) == metrics.tar_at_far(dist, same, far)
    assert metrics.roc_auc(sim, same, higher_is_closer=True) == metrics.roc_auc(dist, same)

    m_d, t_d = metrics.summarize(dist, same)
    m_s, t_s = metrics.summarize(sim, same, higher_is_closer=True)
    assert m_s == m_d
    assert t_s == {k: -v for k, v in t_d.items()}


def test_summarize_keys_and_counts():
    scores, same = _scored(6)
    m, t = metrics.summarize(scores, same)
    decisions = {f"{k}_at_{op}" for k in ("accuracy", "accepted") for op in ("eer", "max_accuracy")}
    assert set(m) == {"auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3", "pairs_genuine", "pairs_impostor"} | decisions
    assert set(t) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
    assert m["accuracy_at_max_accuracy"] >= m["accuracy_at_eer"]
    assert m["pairs_genuine"] == same.sum() and m["pairs_impostor"] == (~same).sum()
    assert t["far_1e-3"] <= t["far_1e-2"]


def test_all_pairs():
    i, j, same = metrics.all_pairs(np.array([7, 7, 3]))
    assert list(zip(i.tolist(), j.tolist(), same.tolist(), strict=True)) == [(0, 1, True), (0, 2, False), (1, 2, False)]


# ---------------------------------------------------------------- errors


GOOD = np.array([0.1, 0.2, 0.8, 0.9])
SAME = np.array([True, True, False, False])


@pytest.mark.parametrize(
    "scores, same, match",
    [
        (GOOD, np.ones(4, bool), "need both genuine and impostor pairs"),
        (GOOD, np.zeros(4, bool), "need both genuine and impostor pairs"),
        (np.array([0.1, np.nan, 0.8, 0.9]), SAME, "NaN or Inf"),
        (np.array([0.1, 0.2, np.inf, 0.9]), SAME, "NaN or Inf"),
        (GOOD, SAME[:3], "differ in length"),
    ],
)
@pytest.mark.parametrize(
    "fn",
    [
        metrics.roc_auc,
        metrics.equal_error_rate,
        metrics.summarize,
        lambda s, y: metrics.threshold_at_far(s, y, 0.1),
        lambda s, y: metrics.tar_at_far(s, y, 0.1),
    ],
)
def test_bad_input_raises_input_error(fn, scores: np.ndarray, same: np.ndarray, match: str):
    with pytest.raises(InputError, match=match):
        fn(scores, same)


@pytest.mark.parametrize("far", [0.0, 1.0, -0.1, 2.0])
def test_far_out_of_range(far: float):
    with pytest.raises(InputError, match=r"must be in \(0, 1\)"):
        metrics.threshold_at_far(GOOD, SAME, far)


def _accuracy_brute(scores, same, higher_is_closer=False):
    """Best accuracy over every possible cut, by brute force."""
    d = -scores if higher_is_closer else scores
    cuts = np.concatenate([[d.min() - 1], np.unique(d)])
    return max(float(np.mean((d <= c) == same)) for c in cuts)


@pytest.mark.parametrize("higher_is_closer", [False, True])
def test_max_accuracy_threshold_is_the_most_accurate(higher_is_closer):
    rng = np.random.default_rng(3)
    same = rng.random(300) < 2 / 3  # imbalanced, as many paraphrase corpora are
    d = np.round(np.where(same, rng.normal(0.8, 0.3, 300), rng.normal(1.2, 0.3, 300)), 2)  # ties included
    scores = -d if higher_is_closer else d
    t = metrics.threshold_max_accuracy(scores, same, higher_is_closer)
    acc, accepted = metrics.accuracy_at(scores, same, t, higher_is_closer)
    assert acc == pytest.approx(_accuracy_brute(scores, same, higher_is_closer))
    _, t_eer = metrics.equal_error_rate(scores, same, higher_is_closer)
    acc_eer, accepted_eer = metrics.accuracy_at(scores, same, t_eer, higher_is_closer)
    assert acc > acc_eer and accepted > accepted_eer  # the majority (genuine) side gains


def test_max_accuracy_may_accept_nothing():
    same = np.array([False, False, False, True])
    scores = np.array([0.1, 0.2, 0.3, 0.9])  # the one genuine pair is the farthest: rejecting all is best (3/4)
    t = metrics.threshold_max_accuracy(scores, same)
    assert metrics.accuracy_at(scores, same, t) == (0.75, 0.0)


def test_thresholds_clamped_into_the_score_range():
    """An impostor pair of two identical items (distance 0) puts threshold_at_far just below 0: clamped to 0."""
    from siamese_sdk.metric import get

    same = np.array([True, True, False, False, False])
    d = np.array([0.2, 0.3, 0.0, 0.9, 1.2])
    _, t = metrics.summarize(d, same)
    assert t["far_1e-2"] < 0.0
    clamped = get("euclidean").clamp(t)
    assert clamped["far_1e-2"] == 0.0 and clamped["eer"] == t["eer"]
    assert all(get("euclidean").check_threshold(v) is None for v in clamped.values())
    assert get("cosine").clamp({"x": 2.0000001, "y": -3.0, "z": 0.5}) == {"x": 2.0, "y": 0.0, "z": 0.5}  # cosine distance
