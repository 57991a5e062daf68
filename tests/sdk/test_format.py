"""The format layer (``siamese_sdk.format``): every part owns its dict form, and the manifest of a real bundle
survives ``from_dict`` / ``to_dict`` and ``write_manifest`` unchanged."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
from siamese_sdk import metric
from siamese_sdk.errors import BundleError
from siamese_sdk.format.inputs import Preprocess
from siamese_sdk.format.manifest import HEADS, MANIFEST, Manifest, read_manifest, write_manifest

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def _raw(bundle) -> dict:
    return json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", ["image", "image.int8-slow", "text", "pseudo"])
def test_manifest_dict_round_trips_for_every_bundle_kind(kind):
    """The checked-in manifests ``siamese-export`` wrote for each kind (``tests/data/golden``; every deployment
    profile's variants: ``tests/e2e/test_export_to_sdk.py``)."""
    d = json.loads((GOLDEN / f"{kind}.manifest.json").read_text(encoding="utf-8"))
    assert Manifest.from_dict(d).to_dict() == d
    assert set(d["heads"].items()) == set(HEADS.items())  # every exporter names the heads as the one table does


def test_write_manifest_writes_what_export_wrote(bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    before = (copy / MANIFEST).read_text(encoding="utf-8")
    m = read_manifest(copy)
    write_manifest(copy, Manifest.from_dict({**m.to_dict(), "files": dict.fromkeys(m.files, "")}))  # hashes recomputed
    assert (copy / MANIFEST).read_text(encoding="utf-8") == before
    read_manifest(copy)  # and it verifies


def test_preprocess_reads_manifest_and_checkpoint_entries():
    p = Preprocess(size=(36, 28), channels=3, resample="bicubic", mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    assert Preprocess.from_dict(p.to_dict()) == p
    every_field = {**asdict(p), "size": list(p.size), "mean": list(p.mean), "std": list(p.std)}  # resize, fill too
    assert Preprocess.from_dict(every_field) == p
    assert set(p.to_dict()) == {"size", "channels", "resample", "scale", "mean", "std"}  # a stretch entry as before
    old = {k: v for k, v in p.to_dict().items() if k != "resample"}
    assert Preprocess.from_dict(old).resample == "bilinear"
    with pytest.raises(BundleError, match="channels 2 invalid"):
        Preprocess.from_dict({**p.to_dict(), "channels": 2})


def test_metric_checks_thresholds_with_the_old_messages():
    assert metric.get("cosine").check_threshold(1.0) is None
    assert "cosine distance range [0, 2]" in metric.get("cosine").check_threshold(2.5)
    assert "Euclidean distances are >= 0" in metric.get("euclidean").check_threshold(-1.0)
    assert "probabilities" in metric.get("learned").check_threshold(1.5)
    assert "not finite" in metric.get("euclidean").check_threshold(float("inf"))
