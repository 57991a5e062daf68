"""Contrastive, triplet and NT-Xent losses against values worked out by hand on a few 2-D points."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from siamese_trainer.losses import (  # noqa: E402
    ContrastiveLoss,
    NTXentLoss,
    TripletMarginLoss,
    contrastive_loss,
    ntxent_loss,
    triplet_margin_loss,
)
from siamese_trainer.miners import BalancedPairMiner  # noqa: E402


def _points(*xy: tuple[float, float]) -> torch.Tensor:
    return torch.tensor(xy, dtype=torch.float32, requires_grad=True)


def _idx(*ix: int) -> torch.Tensor:
    return torch.tensor(ix, dtype=torch.long)


# ---------------------------------------------------------------- contrastive


def test_contrastive_matches_hand_computation():
    # 0 at the origin; 1 at distance 5 (beyond the margin 2); 2 at distance 1; 3 at distance 1.5
    e = _points((0, 0), (3, 4), (1, 0), (0, 1.5))
    a, b = _idx(0, 0, 0, 2), _idx(2, 1, 3, 3)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])  # 1 = dissimilar
    # similar (0,2): 1/2 * 1^2 = 0.5; dissimilar (0,1): D = 5 > m -> 0; dissimilar (0,3): 1/2 * (2 - 1.5)^2 = 0.125;
    # similar (2,3): D^2 = 1 + 2.25 -> 1/2 * 3.25 = 1.625
    expected = (0.5 + 0.0 + 0.125 + 1.625) / 4
    loss = ContrastiveLoss()(e, torch.zeros(4), pairs=(a, b, y))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert ContrastiveLoss().margin == 2.0


def test_contrastive_function_per_pair():
    d = torch.tensor([0.0, 1.0, 3.0, 0.5, 2.0])
    y = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])
    expected = [0.0, 0.5, 4.5, 0.5 * 1.5**2, 0.0]  # a dissimilar pair exactly at the margin costs nothing
    torch.testing.assert_close(contrastive_loss(d, y), torch.tensor(expected))
    torch.testing.assert_close(contrastive_loss(d, y, margin=3.0)[3:], torch.tensor([0.5 * 2.5**2, 0.5]))


def test_contrastive_cosine_metric():
    e = _points((1, 0), (0, 1), (2, 0))
    # cosine distances: (0,1) -> 1, (0,2) -> 0; margin 1.5
    a, b, y = _idx(0, 0), _idx(1, 2), torch.tensor([1.0, 0.0])
    loss = ContrastiveLoss(margin=1.5, metric="cosine")(e, torch.zeros(3), pairs=(a, b, y))
    assert loss.item() == pytest.approx((0.5 * 0.5**2 + 0.0) / 2, abs=1e-6)


def test_contrastive_with_its_miner_is_the_mean_over_mined_pairs():
    e = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    a, b, y = BalancedPairMiner(torch.Generator().manual_seed(5))(e, labels)
    d = (e[a] - e[b]).norm(dim=1)
    expected = contrastive_loss(d, y).mean()
    loss = ContrastiveLoss(miner=BalancedPairMiner(torch.Generator().manual_seed(5)))(e, labels)
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": 3.0, "normalized": True},
        {"margin": 2.5, "metric": "cosine"},
        {"margin": 0.0},
        {"margin": -1.0},
    ],
)
def test_contrastive_margin_validation(kwargs: dict):
    with pytest.raises(ValueError, match=r"pick a margin in \(0, "):
        ContrastiveLoss(**kwargs)


def test_contrastive_margin_limits_that_are_allowed():
    assert ContrastiveLoss(margin=2.0, normalized=True).margin == 2.0  # the bound itself is reachable
    assert ContrastiveLoss(margin=2.0, metric="cosine").margin == 2.0
    assert ContrastiveLoss(margin=10.0).margin == 10.0  # raw Euclidean distances are unbounded


def test_contrastive_margin_error_names_the_range():
    with pytest.raises(ValueError, match=r"\[0, 2\.0\]") as e:
        ContrastiveLoss(margin=3.0, normalized=True)
    assert "unit vectors" in str(e.value)


# ---------------------------------------------------------------- triplet


def test_triplet_function_per_triplet():
    d_ap = torch.tensor([1.0, 1.0, 1.0])
    d_an = torch.tensor([1.1, 3.0, 0.5])
    torch.testing.assert_close(triplet_margin_loss(d_ap, d_an), torch.tensor([0.1, 0.0, 0.7]))


def test_triplet_is_the_mean_over_violating_triplets():
    # anchor 0 at the origin, positive 1 at distance 1; negatives at 1.1 (violates by 0.1), 3 (easy), 0.5 (0.7)
    e = _points((0, 0), (1, 0), (1.1, 0), (0, 3), (0.5, 0))
    a, p, n = _idx(0, 0, 0), _idx(1, 1, 1), _idx(2, 3, 4)
    loss = TripletMarginLoss(normalized=False)(e, torch.zeros(5), triplets=(a, p, n))
    assert loss.item() == pytest.approx((0.1 + 0.7) / 2, rel=1e-5)  # the easy triplet does not dilute the mean
    assert TripletMarginLoss().margin == 0.2


def test_triplet_zero_when_nothing_violates_keeps_the_graph():
    e = _points((0, 0), (1, 0), (0, 3))
    loss = TripletMarginLoss(normalized=False)(e, torch.zeros(3), triplets=(_idx(0), _idx(1), _idx(2)))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(e.grad, torch.zeros_like(e))


def test_triplet_zero_when_no_triplet_was_mined():
    e = _points((0, 0), (1, 0))
    empty = torch.zeros(0, dtype=torch.long)
    loss = TripletMarginLoss(normalized=False)(e, torch.zeros(2), triplets=(empty, empty, empty))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(e.grad, torch.zeros_like(e))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"margin": 2.0},  # normalised by default: distances are at most 2, a margin of 2 is never met
        {"margin": 2.0, "metric": "cosine", "normalized": False},
        {"margin": 0.0},
        {"margin": -0.1, "normalized": False},
    ],
)
def test_triplet_margin_validation(kwargs: dict):
    with pytest.raises(ValueError, match="triplet margin"):
        TripletMarginLoss(**kwargs)


def test_triplet_margin_limits_that_are_allowed():
    assert TripletMarginLoss(margin=1.99).margin == 1.99
    assert TripletMarginLoss(margin=5.0, normalized=False).margin == 5.0


def test_triplet_unknown_mining_raises():
    with pytest.raises(ValueError, match="mining strategy"):
        TripletMarginLoss(mining="hardest")


# ---------------------------------------------------------------- NT-Xent


def test_ntxent_matches_hand_computation():
    # unit vectors at 0, 90 and 180 degrees; classes [0, 0, 1]; T = 0.5
    e = _points((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0))
    # positive pairs (0,1) and (1,0): cos 0 over the one negative of the anchor (cos -1 for 0, cos 0 for 1)
    l01 = -math.log(math.exp(0 / 0.5) / (math.exp(0 / 0.5) + math.exp(-1 / 0.5)))
    l10 = -math.log(math.exp(0 / 0.5) / (math.exp(0 / 0.5) + math.exp(0 / 0.5)))
    assert NTXentLoss(0.5)(e, torch.tensor([0, 0, 1])).item() == pytest.approx((l01 + l10) / 2, rel=1e-6)


def test_ntxent_normalises_and_counts_every_positive_pair():
    e = _points((3.0, 0.0), (0.0, 2.0), (-5.0, 0.0), (0.0, -1.0))  # lengths differ; the loss uses directions
    sim = torch.tensor([[1.0, 0, -1, 0], [0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1]])
    labels = torch.tensor([0, 0, 1, 1])
    per_pair = ntxent_loss(sim, labels, 0.1)
    assert per_pair.shape == (4,)  # (0,1), (1,0), (2,3), (3,2)
    assert NTXentLoss(0.1)(e, labels).item() == pytest.approx(per_pair.mean().item(), rel=1e-6)


def test_ntxent_without_positives_is_zero_and_keeps_the_graph():
    e = _points((1.0, 0.0), (0.0, 1.0))
    loss = NTXentLoss()(e, torch.tensor([0, 1]))
    loss.backward()
    assert loss.item() == 0.0 and e.grad is not None


def test_ntxent_temperature_validation():
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_gradients_flow_through_mined_losses(metric: str):
    torch.manual_seed(0)
    e = torch.randn(8, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for loss_fn in (
        ContrastiveLoss(margin=1.0, metric=metric),
        TripletMarginLoss(margin=0.5, metric=metric, normalized=False, mining="all"),
        NTXentLoss(0.1),
    ):
        e.grad = None
        loss = loss_fn(e, labels)
        loss.backward()
        assert math.isfinite(loss.item()) and loss.item() > 0
        assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0


def test_identical_embeddings_give_finite_gradients():
    """Euclidean distance has an infinite derivative at 0; the losses must not turn it into NaN."""
    e = torch.ones(4, 3, requires_grad=True)  # every pair at distance 0
    labels = torch.tensor([0, 0, 1, 1])
    a, b, y = _idx(0, 0), _idx(1, 2), torch.tensor([0.0, 1.0])
    ContrastiveLoss()(e, labels, pairs=(a, b, y)).backward()
    assert torch.isfinite(e.grad).all()

    e.grad = None
    for mining in ("all", "semihard", "batch_hard"):
        loss = TripletMarginLoss(normalized=False, mining=mining)(e, labels)
        loss.backward()
        assert math.isfinite(loss.item()) and torch.isfinite(e.grad).all(), mining


def test_identical_embeddings_in_contrastive_with_its_miner():
    e = torch.zeros(6, 2, requires_grad=True)
    loss = ContrastiveLoss()(e, torch.tensor([0, 0, 1, 1, 2, 2]))
    loss.backward()
    # every similar pair costs 0, every dissimilar pair 1/2 * m^2 = 2; half the mined pairs are dissimilar
    assert loss.item() == pytest.approx(1.0, abs=1e-5)
    assert torch.isfinite(e.grad).all()
