"""Pairs CSVs whose classes are imbalanced: max_accuracy is the default operating point, stated with its
accuracy and balance; support lines and fixes speak of pairs and CSVs; the subword tokenizer.json is hashed."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese
from siamese_sdk.format.manifest import read_manifest, sha256_file

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("tokenizers")


def _imbalanced_pairs(src, dst, positives=0.75):
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    pos = [r for r in rows if r["label"] == "1"]
    neg = [r for r in rows if r["label"] == "0"]
    n_neg = round(len(pos) * (1 - positives) / positives)
    keep = pos + neg[:n_neg]
    np.random.default_rng(0).shuffle(keep)
    with open(dst, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["a", "b", "label"])
        w.writeheader()
        w.writerows({k: r[k] for k in ("a", "b", "label")} for r in keep)
    return dst


def test_imbalanced_pairs_default_to_max_accuracy(tmp_path):
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.data.paraphrase_data import write_csv
    from siamese_trainer.train import TrainConfig, train

    data = _imbalanced_pairs(write_csv(tmp_path / "pairs.csv", "pairs", 240), tmp_path / "imb.csv")
    out = tmp_path / "run"
    cfg = dict(epochs=1, p=4, k=4, batches_per_epoch=3, embedding_dim=16, width=16, val_fraction=0.3, max_length=24)
    train(TrainConfig(data=str(data), out=str(out), **cfg), log=lambda s: None, progress=False)
    logs: list[str] = []
    bundle = export_bundle(out / "model.pt", out / "bundle", ExportOptions(log=logs.append))
    m = read_manifest(bundle)
    assert m.default_operating_point == "max_accuracy"
    said = [line for line in logs if line.startswith("default operating point: max_accuracy")]
    assert said and "genuine pairs; accuracy" in said[0] and "of pairs accepted" in said[0]
    v = m.variants[m.default_variant]
    assert "max_accuracy" in v.thresholds and v.metrics["accuracy_at_max_accuracy"] >= v.metrics["accuracy_at_eer"]
    assert m.files["tokenizer.json"] == sha256_file(bundle / "tokenizer.json")  # hashed like every file
    fix = [line for line in logs if "warning: thresholds" in line]
    assert all("--validation CSV" in line and "class folders" not in line for line in fix)

    model = siamese_sdk.load(bundle)
    r = model.verify(["how do i reset my password"], ["how can i change my password"])
    assert r.operating_point == "max_accuracy" and r.threshold == v.thresholds["max_accuracy"]
    info = CliRunner().invoke(siamese, ["info", str(bundle)])
    assert info.exit_code == 0, info.output
    decision = [line for line in info.output.splitlines() if line.startswith("decision")]
    assert decision[0].startswith("decision    max_accuracy (default)") and "genuine (always answering the majority" in decision[0]
    support = [line for line in info.output.splitlines() if line.startswith("support")]
    assert any(" max_accuracy:" in line for line in support)
    assert not any("? identities" in line for line in support)


def test_balanced_pairs_keep_eer():
    from siamese_export.operating_point import default_operating_point

    assert default_operating_point(np.array([True, False] * 50), "pairs") == "eer"
    assert default_operating_point(np.array([True] * 70 + [False] * 30), "pairs") == "max_accuracy"
    assert default_operating_point(np.array([True] * 10 + [False] * 90), "labelled") == "eer"  # built pairs
    assert default_operating_point(np.array([True] * 10 + [False] * 90), None) == "eer"  # class folders
