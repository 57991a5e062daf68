"""Pair and triplet miners against brute-force loops over a small batch."""

from __future__ import annotations

import itertools

import pytest

torch = pytest.importorskip("torch")

from siamese_trainer import distances  # noqa: E402
from siamese_trainer.miners import BalancedPairMiner, TripletMiner  # noqa: E402

# classes of 3, 2, 2 and 1 (the singleton can only ever be a negative)
LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3])
Triplet = tuple[int, int, int]


def _embeddings(seed: int = 0, n: int = len(LABELS), dim: int = 3) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def _triplets(a: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> list[Triplet]:
    return list(zip(a.tolist(), p.tolist(), n.tolist(), strict=True))


def _brute_force_triplets(labels: torch.Tensor) -> set[Triplet]:
    lab = labels.tolist()
    idx = range(len(lab))
    return {(a, p, n) for a in idx for p in idx for n in idx if a != p and lab[a] == lab[p] and lab[n] != lab[a]}


# ---------------------------------------------------------------- pairs


def test_balanced_pairs_hold_every_positive_and_as_many_negatives():
    a, b, y = BalancedPairMiner(torch.Generator().manual_seed(0))(_embeddings(), LABELS)
    lab = LABELS.tolist()
    pairs = list(zip(a.tolist(), b.tolist(), y.tolist(), strict=True))
    positives = {(i, j) for i, j in itertools.combinations(range(len(lab)), 2) if lab[i] == lab[j]}
    assert {(i, j) for i, j, t in pairs if t == 0} == positives
    assert sum(t == 0 for *_, t in pairs) == len(positives) == 3 + 1 + 1
    negatives = [(i, j) for i, j, t in pairs if t == 1]
    assert len(negatives) == len(positives) and len(set(negatives)) == len(negatives)
    assert all(i < j and lab[i] != lab[j] for i, j in negatives)
    assert all(t in (0.0, 1.0) for *_, t in pairs)
    assert y.dtype == torch.float32


def test_balanced_pairs_are_seeded_by_the_generator():
    e = _embeddings()
    first = BalancedPairMiner(torch.Generator().manual_seed(3))(e, LABELS)
    again = BalancedPairMiner(torch.Generator().manual_seed(3))(e, LABELS)
    assert all(torch.equal(u, v) for u, v in zip(first, again, strict=True))


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [5, 5, 5, 5]])
def test_balanced_pairs_need_positives_and_negatives(labels: list[int]):
    with pytest.raises(ValueError, match="no positive or no negative pair"):
        BalancedPairMiner()(_embeddings(n=4), torch.tensor(labels))


# ---------------------------------------------------------------- triplets


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_all_is_every_valid_triplet(metric: str):
    found = _triplets(*TripletMiner("all", metric=metric)(_embeddings(), LABELS))
    expected = _brute_force_triplets(LABELS)
    assert len(found) == len(set(found))  # no duplicates
    assert set(found) == expected
    # by hand: class 0 gives 3*2 (a, p) x 5 negatives, classes 1 and 2 give 2*1 x 6 each, the singleton none
    assert len(expected) == 6 * 5 + 2 * 6 + 2 * 6


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semihard_is_exactly_the_band_past_the_positive(metric: str, seed: int):
    e, margin = _embeddings(seed), 0.5
    found = _triplets(*TripletMiner("semihard", margin=margin, metric=metric)(e, LABELS))
    d = distances.matrix(e, e, metric).tolist()
    for a, p, n in found:
        assert d[a][p] < d[a][n] < d[a][p] + margin
    expected = {(a, p, n) for a, p, n in _brute_force_triplets(LABELS) if d[a][p] < d[a][n] < d[a][p] + margin}
    assert expected, "choose data with semi-hard triplets, or the test proves nothing"
    assert set(found) == expected and len(found) == len(expected)


def test_semihard_on_hand_placed_points():
    # anchor 0 and its positive 1 at distance 1; negatives at 1.1 (semi-hard), 0.5 (hard), 3 (easy), 1.2 (semi-hard)
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.1, 0.0], [0.5, 0.0], [0.0, 3.0], [0.0, -1.2]])
    labels = torch.tensor([0, 0, 1, 2, 3, 4])
    found = {t for t in _triplets(*TripletMiner("semihard", margin=0.25)(e, labels)) if t[0] == 0}
    assert found == {(0, 1, 2), (0, 1, 5)}


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_batch_hard_picks_the_farthest_positive_and_nearest_negative(metric: str):
    e = _embeddings(4)
    a, p, n = TripletMiner("batch_hard", metric=metric)(e, LABELS)
    d = distances.matrix(e, e, metric)
    lab = LABELS.tolist()
    anchors = [i for i in range(len(lab)) if lab.count(lab[i]) > 1]  # the singleton has no positive
    assert a.tolist() == anchors
    for i, pi, ni in zip(a.tolist(), p.tolist(), n.tolist(), strict=True):
        positives = [j for j in range(len(lab)) if j != i and lab[j] == lab[i]]
        negatives = [j for j in range(len(lab)) if lab[j] != lab[i]]
        assert pi == max(positives, key=lambda j: d[i, j].item())
        assert ni == min(negatives, key=lambda j: d[i, j].item())


def test_batch_hard_on_hand_placed_points():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 0.5]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    a, p, n = TripletMiner("batch_hard")(e, labels)
    assert _triplets(a, p, n)[0] == (0, 2, 4)  # farthest positive at 3, nearest negative at 0.5


def test_miners_do_not_track_gradients():
    e = _embeddings().requires_grad_()
    for strategy in ("all", "semihard", "batch_hard"):
        out = TripletMiner(strategy)(e, LABELS)
        assert all(t.dtype == torch.long and not t.requires_grad for t in out)


def test_unknown_strategy_raises():
    with pytest.raises(ValueError, match=r"'hardest' unknown; expected one of \['all', 'semihard', 'batch_hard'\]"):
        TripletMiner("hardest")
