"""``siamese_sdk.eval.measure``: one variant measured on labelled pairs (the export's and calibrate's measurement),
on the checked-in golden bundle: no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk.eval import metrics, support
from siamese_sdk.eval.measure import VariantMeasurement, evaluate, measure_variant
from siamese_sdk.metric import METRICS

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))


def _pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels = np.array([ord(p.name[0]) for p in IMAGES])
    i, j, same = metrics.all_pairs(labels)
    return i, j, same, labels


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_measure_variant_is_embed_score_summarize_support(variant):
    model = siamese_sdk.load(GOLDEN / "bundle", variant=variant)
    i, j, same, labels = _pairs()
    classes = (labels[i], labels[j])

    def score(m, emb):
        return m.distance_matrix(emb[None], emb[None])[i, j]

    r = measure_variant(model, {None: [str(p) for p in IMAGES]}, score, same, classes)
    assert isinstance(r, VariantMeasurement) and r.embeddings[None].shape == (len(IMAGES), model.embedding_dim)
    emb = model.embed([str(p) for p in IMAGES])
    np.testing.assert_allclose(r.scores, model.distance_matrix(emb, emb)[i, j], rtol=1e-6, atol=1e-6)
    m, t = metrics.summarize(r.scores, same, False)
    assert (r.metrics, r.thresholds) == (m, t) and (r.auc, r.eer) == (m["auc"], m["eer"])
    assert r.support == support.threshold_support(r.scores, same, classes, False, thresholds=t)
    assert set(r.thresholds) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"} and r.metrics["pairs_genuine"] == 3


def test_evaluate_follows_the_metric_direction():
    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.3
    dist = np.abs(np.where(same, rng.normal(0.4, 0.2, same.size), rng.normal(1.2, 0.2, same.size)))
    d = evaluate(dist, same, METRICS["euclidean"])
    s = evaluate(np.exp(-dist), same, METRICS["learned"])  # a similarity in [0, 1]: higher is closer
    assert d.auc == pytest.approx(s.auc) and d.auc > 0.95
    assert s.thresholds["eer"] == pytest.approx(np.exp(-d.thresholds["eer"]), rel=1e-6)
    assert evaluate(dist, same, METRICS["learned"]).auc == pytest.approx(1 - d.auc)  # the wrong direction shows
    assert d.embeddings == {} and set(d.support) == set(d.thresholds)
