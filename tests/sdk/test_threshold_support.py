"""Threshold support: identities and pairs behind each operating point, the bootstrap over identities, refusal."""

from __future__ import annotations

import numpy as np
import pytest
from siamese_sdk.eval.metrics import all_pairs
from siamese_sdk.eval.support import MIN_IDENTITIES, lower_eer_share, threshold_support, unsupported


def _set(genuine_by_class: list[float], impostor: float = 3.0, per_class: int = 2):
    """All pairs of ``len(genuine_by_class)`` classes: class k's genuine pairs at distance ``genuine_by_class[k]``."""
    labels = np.repeat(np.arange(len(genuine_by_class)), per_class)
    i, j, same = all_pairs(labels)
    d = np.where(same, np.asarray(genuine_by_class)[labels[i]], impostor)
    return d, same, (labels[i], labels[j])


def test_counts_and_keys():
    d, same, cls = _set([1.0] * 12, per_class=3)
    s = threshold_support(d, same, cls, resamples=50)
    assert set(s) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
    for op in s.values():
        assert op["identities"] == 12
        assert op["genuine_pairs"] == 36 and op["impostor_pairs"] == int((~same).sum())
        assert set(op) >= {"interval", "far_interval", "frr_interval", "supported", "reason"}


def test_identical_identities_give_a_zero_width_interval():
    d, same, cls = _set([1.0] * 12)
    s = threshold_support(d, same, cls, resamples=50)
    for op in s.values():
        lo, hi = op["interval"]
        assert lo == hi
        assert op["far_interval"][0] == op["far_interval"][1]


def test_very_different_identities_give_a_wide_interval():
    same_ids = threshold_support(*_set([1.0] * 12), resamples=100)
    spread = threshold_support(*_set([0.1, 0.2, 0.3, 0.5, 0.8, 1.3, 2.1, 3.4, 5.5, 8.9, 14.0, 23.0], impostor=4.0), resamples=100)
    lo, hi = spread["eer"]["interval"]
    assert hi - lo > 1.0
    assert same_ids["eer"]["interval"][1] - same_ids["eer"]["interval"][0] == 0.0
    assert spread["eer"]["frr_interval"][1] - spread["eer"]["frr_interval"][0] > 0.1


def test_fixed_seed_is_reproducible_and_similarities_are_ordered():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(15), 4)
    emb = rng.normal(size=(15, 4))[labels] + rng.normal(size=(60, 4))
    i, j, same = all_pairs(labels)
    sim = -np.linalg.norm(emb[i] - emb[j], axis=1)
    a = threshold_support(sim, same, (labels[i], labels[j]), higher_is_closer=True, resamples=60)
    b = threshold_support(sim, same, (labels[i], labels[j]), higher_is_closer=True, resamples=60)
    assert a == b
    for op in a.values():
        assert op["interval"][0] <= op["interval"][1]


def test_refusal_below_10_over_far_impostor_pairs_and_few_identities():
    d, same, cls = _set([1.0] * 12)  # 12 identities, 264 impostor pairs
    s = threshold_support(d, same, cls, resamples=20)
    bad = unsupported(s)
    assert "eer" not in bad
    assert "1000" in bad["far_1e-2"] and "10/FAR" in bad["far_1e-2"]
    assert "10000" in bad["far_1e-3"]
    few = threshold_support(*_set([1.0] * 3, per_class=40), resamples=20)
    assert not few["eer"]["supported"]
    assert f"3 identities < {MIN_IDENTITIES}" in few["eer"]["reason"]


def test_pairs_without_identities_are_resampled_as_pairs():
    d, same, _ = _set([1.0] * 12)
    s = threshold_support(d, same, None, resamples=20)
    assert s["eer"]["identities"] is None and s["eer"]["supported"]
    assert s["max_accuracy"]["supported"] and s["max_accuracy"]["interval"][0] <= s["max_accuracy"]["interval"][1]


def test_max_accuracy_needs_pairs_of_both_kinds():
    same = np.array([True] * 30 + [False] * 5)
    d = np.where(same, 0.5, 1.5) + np.linspace(0, 0.1, 35)
    s = threshold_support(d, same, None, resamples=20)
    assert not s["max_accuracy"]["supported"] and "5 impostor pairs < 10" in s["max_accuracy"]["reason"]
    assert s["eer"]["supported"]


def test_mismatched_classes_are_an_input_error():
    from siamese_sdk.errors import InputError

    d, same, (ci, cj) = _set([1.0] * 12)
    with pytest.raises(InputError):
        threshold_support(d, same, (ci[:-1], cj), resamples=5)


def test_shortfalls_match_the_bootstrap_verdicts():
    from siamese_sdk.eval.support import shortfalls

    for spec in ([1.0] * 12, [1.0] * 3):
        d, same, cls = _set(spec)
        assert shortfalls(same, cls) == unsupported(threshold_support(d, same, cls, resamples=5))


def test_a_malformed_support_entry_is_a_one_line_bundle_error():
    import json
    from pathlib import Path

    from siamese_sdk.errors import BundleError
    from siamese_sdk.format.manifest import Manifest

    golden = (Path(__file__).resolve().parents[1] / "data" / "golden" / "bundle" / "manifest.json").read_text()
    for bad in ({"interval": [1]}, {"identities": "many"}, {"supported": "yes"}):
        d = json.loads(golden)
        d["variants"]["fp32"]["threshold_support"]["eer"].update(bad)
        with pytest.raises(BundleError, match="manifest is malformed"):
            Manifest.from_dict(d)


def test_lower_eer_share_is_paired_over_identities():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 5)  # 6 identities x 5 images
    i, j, same = all_pairs(labels)
    base = rng.normal(size=same.size) + np.where(same, 0.0, 1.0)  # genuine pairs closer
    better = base - np.where(same, 0.4, 0.0)  # every genuine pair closer still: lower EER in every draw
    classes = (labels[i], labels[j])
    assert lower_eer_share(base, better, same, classes) == 1.0
    assert lower_eer_share(better, base, same, classes) == 0.0
    assert lower_eer_share(base, base, same, classes) == 0.0  # equal is no gain
    assert 0.0 < lower_eer_share(base, base + rng.normal(scale=0.3, size=same.size), same, None) < 1.0  # noise
