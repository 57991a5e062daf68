"""Image model kinds: SigNet (LRN / BatchNorm), a user backbone, the learned head.

Each trains a few real steps on the tiny Omniglot copy, exports (fp32 parity, int8 gate) and runs through
the SDK; ``tests/e2e/test_venv.py`` runs the same bundles in a venv without torch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import BundleError, InputError
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.gallery import Gallery

pytest.importorskip("torch")
import torch  # noqa: E402
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402


def _check_gates(bundle) -> None:
    m = read_manifest(bundle)
    assert m.validation["parity_min_cosine"] >= 0.9999
    if "int8" in m.variants:
        assert m.variants["int8"].metrics["cosine_vs_fp32_min"] >= 0.98
        assert m.variants["fp32"].metrics["auc"] - m.variants["int8"].metrics["auc"] <= 0.005
    else:
        assert any("int8 not" in n for n in m.notes)


@pytest.mark.parametrize("kind", ["signet_lrn", "signet_batch", "backbone_run"])
def test_encoder_kinds_export_with_parity_and_verify(kind, request, images):
    run, bundle = request.getfixturevalue(kind)
    _check_gates(bundle)
    model = siamese_sdk.load(bundle)
    r = model.verify([images[0], images[0]], [images[0], images[-1]])
    if r.higher_is_closer:  # signet_batch carries the learned head: p(same), tested below
        assert np.all((r.scores >= 0) & (r.scores <= 1)) and np.array_equal(r.same, r.scores >= r.threshold)
    else:
        assert r.same[0] and r.scores[0] < 1e-3


def test_signet_lrn_exports_without_losing_parity(signet_lrn):
    """LRN exports as torch's decomposition (square, pad, 3-D average pool, scale, add, pow, divide), which
    ONNX Runtime runs faster than its own LRN kernel (measured: README); int8 must stay close to fp32."""
    import onnx

    run, bundle = signet_lrn
    ops = {n.op_type for n in onnx.load(str(bundle / "encoder.fp32.onnx")).graph.node}
    assert "AveragePool" in ops and "Pow" in ops and "LRN" not in ops
    assert read_manifest(bundle).provenance["arch"] == "signet"
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["model"]["arch_kwargs"] == {"width": 8, "norm": "lrn"}


def test_signet_batchnorm_folds_away(signet_batch):
    import onnx

    ops = {n.op_type for n in onnx.load(str(signet_batch[1] / "encoder.fp32.onnx")).graph.node}
    assert "BatchNormalization" not in ops and "AveragePool" not in ops


def test_backbone_checkpoint_records_the_factory_and_export_needs_it(backbone_run, monkeypatch, tmp_path):
    run, bundle = backbone_run
    ckpt = torch.load(run / "model.pt", weights_only=True)
    assert ckpt["model"]["arch"] == "tiny_backbone:tiny_resnet" and "weights" not in ckpt["model"]["arch_kwargs"]
    assert read_manifest(bundle).embedding_dim == 16
    # the factory module not importable where export runs: one line naming the fix
    import sys

    monkeypatch.delitem(sys.modules, "tiny_backbone")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not p.rstrip("/").endswith("tests")])
    with pytest.raises(BundleError, match="not importable here.*PYTHONPATH"):
        export_bundle(run / "model.pt", tmp_path / "b", ExportOptions(log=lambda s: None))


def test_backbone_classifier_rule_and_weights_refusals(tmp_path):
    import torch.nn as nn
    from siamese_trainer.models.backbones import BackboneError, UserBackbone

    b = UserBackbone(1, 8, (32, 32), factory="tiny_backbone:tiny_resnet")
    assert b.removed == "fc" and isinstance(b.body.fc, nn.Identity) and b.proj.in_features == 8
    m = UserBackbone(1, 8, (32, 32), factory="tiny_backbone:plain_mlp")
    assert m.removed == "3" and m.proj.in_features == 24
    evil = tmp_path / "evil.pt"
    torch.save({"x": nn.Linear(2, 2)}, evil)  # a pickled module, not a state_dict
    with pytest.raises(BackboneError, match="refused, nothing executed"):
        UserBackbone(1, 8, (32, 32), factory="tiny_backbone:tiny_resnet", weights=str(evil))
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 3).state_dict(), other)
    with pytest.raises(BackboneError, match="does not fit"):
        UserBackbone(1, 8, (32, 32), factory="tiny_backbone:tiny_resnet", weights=str(other))
    for spec, msg in (("nosuch_mod_xyz:f", "not importable"), ("tiny_backbone:nope", "no attribute"), ("a b:c", "not 'package")):
        with pytest.raises(BackboneError, match=msg):
            UserBackbone(1, 8, (32, 32), factory=spec)
    with pytest.raises(BackboneError, match=r"--channels 3 but the backbone's first layer \(stem.0: Conv2d\) takes 1 channel\(s\); pass --channels 1"):
        UserBackbone(3, 8, (32, 32), factory="tiny_backbone:tiny_resnet")
    with pytest.raises(BackboneError, match="match --channels/--size"):
        UserBackbone(1, 8, (4, 4), factory="tiny_backbone:plain_mlp")  # 16 inputs where its Linear takes 32 x 32


def test_learned_head_bundle_scores_probabilities(learned_run, images, tiny_data):
    run, bundle = learned_run
    m = read_manifest(bundle)
    assert m.metric == "learned" and m.higher_is_closer and m.to_dict()["score"]["higher_is_closer"] is True
    assert m.validation["head_parity_max_abs"] <= 1e-5
    _check_gates(bundle)
    for t in m.variants["fp32"].thresholds.values():
        assert 0.0 <= t <= 1.0
    model = siamese_sdk.load(bundle, variant="fp32")
    e = model.embed(images[:10])
    p = model.distance(e, e[::-1].copy())
    pm = model.distance_matrix(e, e)
    assert np.all((p >= 0) & (p <= 1)) and pm.shape == (10, 10)
    np.testing.assert_allclose(np.diag(pm[:, ::-1]), p, atol=1e-6)
    r = model.verify(images[:3], images[:3])
    assert r.higher_is_closer and np.array_equal(r.same, r.scores >= r.threshold)
    with pytest.raises(InputError, match=r"outside \[0, 1\]"):
        model.verify(images[:1], images[:1], threshold=1.5)
    # torch head == ONNX head on the checkpoint's weights
    from siamese_trainer.models.heads import LearnedHead

    head = LearnedHead(16)
    head.load_state_dict(torch.load(run / "model.pt", weights_only=True)["head_state_dict"])
    with torch.no_grad():
        ref = head.matrix(torch.from_numpy(e), torch.from_numpy(e)).numpy()
    np.testing.assert_allclose(pm, ref, atol=1e-5)
    # gallery ranks highest first through the head; faiss cannot rank it
    g = Gallery.for_model(model, max_chunk_bytes=4096)  # several chunks
    g.add(e, ids=[str(i) for i in range(10)])
    ids, scores = g.search(e[:3], k=4)
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(scores, -np.sort(-pm[:3], axis=1)[:, :4], atol=1e-6)
    path = g.save(run / "g.npz")
    ids2, scores2 = Gallery.load(path, model=model).search(e[:3], k=4)
    np.testing.assert_array_equal(scores2, scores)
    with pytest.raises(InputError, match="Gallery.load"):
        Gallery.load(path).search(e[:1], k=1)
    with pytest.raises(InputError, match="index='flat'"):
        Gallery.for_model(model, index="faiss-flat")


def test_learned_head_cli_direction(learned_run, images):
    from click.testing import CliRunner
    from siamese_sdk.cli import main

    run, bundle = learned_run
    r = CliRunner().invoke(main, ["verify", str(bundle), str(images[0]), str(images[0])])
    assert r.exit_code == 0 and "SAME: learned head p(same)" in r.output and ">= threshold" in r.output
    res = CliRunner().invoke(main, ["gallery", str(bundle), *map(str, images[:6]), "-o", str(run / "cli.npz")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["search", str(bundle), str(run / "cli.npz"), str(images[0]), "-k", "3", "--json"])
    hits = json.loads(res.output)["results"][0]["hits"]
    assert hits[0]["id"].endswith(images[0].name) and hits[0]["score"] >= hits[1]["score"]
    assert all(h["same"] == (h["score"] >= json.loads(res.output)["threshold"]) for h in hits)
