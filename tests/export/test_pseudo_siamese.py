"""Pseudo-Siamese (two unshared branches): cross-branch training, a format-version-2 bundle with one
encoder per branch per variant, ``embed(x, branch=)`` and ``verify`` with one input per branch.

Branch b's domain is made from the same real Omniglot images: 36 px instead of 28, strokes thickened
and colours inverted (white on black), so the two encoders really see different inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import BundleError, InputError
from siamese_sdk.format import manifest as bundle_mod
from siamese_sdk.format.manifest import read_manifest

pytest.importorskip("torch")



def test_bundle_has_one_encoder_per_branch_and_variant(pseudo_run):
    out, bundle, _ = pseudo_run
    m = read_manifest(bundle)
    raw = json.loads((bundle / "manifest.json").read_text())
    assert m.format_version == 2 and raw["format_version"] == 2 and "input" not in raw
    assert raw["branches"]["a"]["input"]["shape"] == [None, 1, 28, 28]
    assert raw["branches"]["b"]["input"]["shape"] == [None, 1, 36, 36]
    for name in m.variants:
        assert (bundle / f"encoder.a.{name}.onnx").is_file() and (bundle / f"encoder.b.{name}.onnx").is_file()
        assert set(m.variants[name].thresholds) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
    assert m.validation["parity_min_cosine"] >= 0.9999 and m.validation["pairs_kind"].startswith("cross-branch")
    if "int8" in m.variants:
        for b in ("a", "b"):
            assert m.branches[b].variants["int8"].metrics["cosine_vs_fp32_min"] >= 0.98
        assert m.variants["fp32"].metrics["auc"] - m.variants["int8"].metrics["auc"] <= 0.005
    else:
        assert any("int8 not shipped" in n for n in m.notes)


def test_sdk_embeds_per_branch_and_verifies_across(pseudo_run, tiny_data):
    out, bundle, sketches = pseudo_run
    model = siamese_sdk.load(bundle)
    assert model.branches == ("a", "b")
    photos = sorted(tiny_data.rglob("*.png"))[:4]
    inverted = [sketches / p.relative_to(tiny_data) for p in photos]
    ea, eb = model.embed(photos, branch="a"), model.embed(inverted, branch="b")
    assert ea.shape == eb.shape == (4, 16)
    with pytest.raises(InputError, match="pass branch='a' or branch='b'"):
        model.embed(photos)
    with pytest.raises(InputError, match="branch 'c' unknown"):
        model.embed(photos, branch="c")
    r = model.verify(photos, inverted)
    np.testing.assert_allclose(r.scores, model.distance(ea, eb), rtol=1e-5, atol=1e-6)
    assert np.array_equal(r.same, r.scores <= r.threshold)
    # cross-branch metrics recomputed through the SDK match the manifest
    from siamese_sdk.eval import metrics
    from siamese_sdk.tools.imagefolder import ImageFolder

    split = json.loads((out / "split.json").read_text())
    fa, fb = ImageFolder.scan(tiny_data, classes=split["val"]), ImageFolder.scan(sketches, classes=split["val"])
    d = model.distance_matrix(model.embed(fa.paths, branch="a"), model.embed(fb.paths, branch="b"))
    got, _ = metrics.summarize(d.ravel(), (fa.labels[:, None] == fb.labels[None, :]).ravel())
    assert got["auc"] == pytest.approx(model.manifest.variants[model.variant].metrics["auc"], abs=1e-6)
    # a one-encoder bundle refuses branch=
    from siamese_sdk.gallery import Gallery

    g = Gallery.for_model(model)
    g.add(eb, ids=[str(p) for p in inverted])
    ids, _ = g.search(ea[:1], k=1)
    assert ids.shape == (1, 1)


def test_v1_readers_refuse_and_one_encoder_bundles_refuse_branch(pseudo_run, bundle, monkeypatch):
    out, pbundle, _ = pseudo_run
    with pytest.raises(InputError, match="drop branch="):
        siamese_sdk.load(bundle).embed(np.zeros((1, 1, 28, 28), np.float32), branch="a")
    monkeypatch.setattr(bundle_mod, "FORMAT_VERSION", 1)  # what a version-1 reader does with this bundle
    with pytest.raises(BundleError, match="format version 2 is newer.*upgrade"):
        read_manifest(pbundle)
    assert read_manifest(bundle).format_version == 1  # one-encoder bundles stay readable by version-1 readers


def test_cli_verify_and_info_on_two_branches(pseudo_run, tiny_data):
    from click.testing import CliRunner
    from siamese_sdk.cli import main

    out, bundle, sketches = pseudo_run
    photo = sorted(tiny_data.rglob("*.png"))[0]
    r = CliRunner().invoke(main, ["verify", str(bundle), str(photo), str(sketches / photo.relative_to(tiny_data)), "--json"])
    assert r.exit_code == 0, r.output
    assert isinstance(json.loads(r.output)["same"], bool)
    info = CliRunner().invoke(main, ["info", str(bundle)])
    assert info.exit_code == 0 and "input a" in info.output and "input b" in info.output
    r = CliRunner().invoke(main, ["gallery", str(bundle), str(sketches), "-o", str(out / "g.npz")])
    assert r.exit_code == 1 and "branch=" in r.output
    r = CliRunner().invoke(main, ["gallery", str(bundle), str(sketches), "-o", str(out / "g.npz"), "--branch", "b"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["search", str(bundle), str(out / "g.npz"), str(photo), "--branch", "a", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.output)["results"][0]["hits"]) == 5


def test_signed_two_branch_bundle_is_verified_once(pseudo_run, tmp_path, monkeypatch):
    """One signature check covers both branches' encoders; a swapped branch encoder is refused."""
    import shutil

    pytest.importorskip("cryptography")
    from siamese_sdk import security
    from siamese_sdk.security import keygen, sign_bundle

    bundle = shutil.copytree(pseudo_run[1], tmp_path / "bundle")
    priv, pub = keygen(tmp_path / "publisher")
    sign_bundle(bundle, priv)
    calls = []
    real = security.verify_manifest_bytes
    monkeypatch.setattr(security, "verify_manifest_bytes", lambda *a, **k: calls.append(1) or real(*a, **k))
    m = siamese_sdk.load(bundle, variant="fp32", trusted_keys=[pub])
    assert m.branches == ("a", "b") and len(calls) == 1
    shutil.copy(bundle / "encoder.a.fp32.onnx", bundle / "encoder.b.fp32.onnx")
    raw = json.loads((bundle / "manifest.json").read_text())
    raw["files"]["encoder.b.fp32.onnx"] = raw["files"]["encoder.a.fp32.onnx"]
    (bundle / "manifest.json").write_text(json.dumps(raw, indent=2))
    with pytest.raises(BundleError, match="changed after it was signed"):
        siamese_sdk.load(bundle, variant="fp32", trusted_keys=[pub])


def test_cross_branch_losses_by_hand():
    import torch
    from siamese_trainer.tasks.two_branch import CrossBranchLoss

    ea = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    eb = torch.tensor([[0.0, 0.5], [1.0, 1.0]])
    y = torch.tensor([0, 1])
    # triplets (anchor a_i, positive b_i, negative b_j): d(a0,b0)=0.5, d(a0,b1)=sqrt2; d(a1,b1)=1, d(a1,b0)=sqrt(1.25)
    loss = CrossBranchLoss("triplet", 1.0, "euclidean", False)(ea, y, eb, y)
    expected = np.mean([0.5 - 2**0.5 + 1.0, 1.0 - 1.25**0.5 + 1.0])
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # contrastive: both genuine pairs and both impostor pairs (all of them are taken: 2 of 2)
    loss = CrossBranchLoss("contrastive", 2.0, "euclidean", False)(ea, y, eb, y)
    d_gen, d_imp = np.array([0.5, 1.0]), np.array([2**0.5, 1.25**0.5])
    expected = np.mean(np.concatenate([0.5 * d_gen**2, 0.5 * (2.0 - d_imp) ** 2]))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(InputError, match="impossible"):
        CrossBranchLoss("triplet", 3.0, "cosine", True)


def test_pseudo_flags_are_checked(tiny_data, tmp_path):
    from siamese_trainer.train import TrainConfig, train

    with pytest.raises(InputError, match="--pseudo and --data-b"):
        TrainConfig(pseudo=True).resolved()
    with pytest.raises(InputError, match="add --pseudo"):
        TrainConfig(size_b=36).resolved()
    cfg = TrainConfig(data=str(tiny_data), data_b=str(tiny_data), pseudo=True, head="learned", out=str(tmp_path / "r"))
    with pytest.raises(InputError, match="does not support --head learned"):
        train(cfg, log=lambda s: None, progress=False)
    assert not (tmp_path / "r").exists()
