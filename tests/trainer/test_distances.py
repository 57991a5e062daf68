"""The trainer's distances are the SDK's metrics: the same ``Metric`` objects, the same numbers as the numpy forms."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from siamese_sdk.metric import METRICS  # noqa: E402
from siamese_trainer import distances  # noqa: E402
from siamese_trainer.losses.contrastive import ContrastiveLoss  # noqa: E402


@pytest.mark.parametrize("name", ["euclidean", "cosine"])
def test_torch_forms_match_the_sdk_metric(name):
    m = METRICS[name]
    assert distances.metric_of(name) is m and distances.metric_of(m) is m
    a, b = np.random.default_rng(0).standard_normal((2, 7, 5)).astype(np.float32)
    np.testing.assert_allclose(distances.pairwise(torch.from_numpy(a), torch.from_numpy(b), m).numpy(), m.pairwise(a, b), atol=1e-5)
    np.testing.assert_allclose(distances.matrix(torch.from_numpy(a), torch.from_numpy(b), m).numpy(), m.matrix(a, b), atol=1e-5)
    assert distances.max_distance(m, normalized=True) == 2.0 and distances.max_distance(m, False) == m.hi
    assert ContrastiveLoss(1.0, name).metric is m


def test_a_metric_without_a_torch_form_is_refused():
    for bad in ("learned", "manhattan", METRICS["learned"]):
        with pytest.raises(ValueError, match="has no torch distance; expected euclidean or cosine"):
            distances.metric_of(bad)
