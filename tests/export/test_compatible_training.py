"""Backward-compatible training end to end on tiny real data: train old -> export -> enrol -> train new
``--compatible-with`` old -> export (measured, gated) -> search the old gallery with the new bundle; the learned
map (``--map-from``) -> ``siamese gallery upgrade --map``; and the one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import siamese_sdk  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from siamese_export.compatibility import passes  # noqa: E402
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402
from siamese_sdk.cli import main as sdk_cli  # noqa: E402
from siamese_sdk.errors import BundleError  # noqa: E402
from siamese_sdk.gallery import Gallery  # noqa: E402
from siamese_sdk.tools.enrol import enrol  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402
from siamese_trainer.cli import main as train_cli  # noqa: E402

TINY = ["--p", "4", "--k", "4", "--batches-per-epoch", "4", "--val-fraction", "0.34", "--recipe", "off", "--quiet"]


def train(data, out, *flags):
    r = CliRunner().invoke(train_cli, ["--data", str(data), "--out", str(out), "--epochs", "2", *TINY, *flags])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def old_gallery(bundle, images, tmp_path_factory):
    """A gallery enrolled by the session bundle (the old model); ids are the image paths."""
    old = siamese_sdk.load(bundle, variant="fp32")
    return enrol(old, [str(p) for p in images]).save(tmp_path_factory.mktemp("g") / "old.npz")


def test_compatible_training_is_measured_gated_and_served(trained_run, bundle, tiny_data, old_gallery, tmp_path):
    new_run = train(tiny_data, tmp_path / "new", "--compatible-with", str(trained_run))
    ckpt = checkpoint.load(new_run / "model.pt")
    assert ckpt["model"]["embedding_dim"] == 16 and ckpt["compatibility"]["bundle"] == str(trained_run / "bundle")
    new_bundle = export_bundle(new_run, None, ExportOptions(log=lambda s: None, int8=False))
    m = json.loads((new_bundle / "manifest.json").read_text())
    c = m["compatibility"]
    old_manifest = siamese_sdk.read_manifest(bundle)
    assert c["old"]["fingerprint"] == old_manifest.fingerprint(old_manifest.default_variant)
    assert c["old"]["fingerprints"]["fp32"] == old_manifest.fingerprint("fp32")
    assert set(c["validation"]) == {"old_old", "new_old", "new_new"}
    # the same validation pairs as the old bundle's own export: old/old is its fp32 AUC
    assert c["validation"]["old_old"]["auc"] == pytest.approx(old_manifest.variants["fp32"].metrics["auc"], abs=1e-6)
    assert c["validation"]["new_new"]["auc"] == pytest.approx(m["variants"]["fp32"]["metrics"]["auc"], abs=1e-6)
    assert c["compatible"] == passes(c["validation"])
    new = siamese_sdk.load(new_bundle, variant="fp32")
    if c["compatible"]:
        g = Gallery.load(old_gallery, model=new)
        assert g.legacy_count == len(g) and g.fingerprint == new.fingerprint
    else:  # the gate refused: the figures are in the notes and in the refusal
        assert any("not marked compatible" in n and "new/old AUC" in n for n in m["notes"])
        with pytest.raises(BundleError, match="not marked compatible .*old/old AUC"):
            Gallery.load(old_gallery, model=new)


def test_the_gate():
    figs = {"old_old": {"auc": 0.9, "eer": 0.2}, "new_old": {"auc": 0.9, "eer": 0.2}}
    assert passes(figs)
    assert not passes({**figs, "new_old": {"auc": 0.91, "eer": 0.21}})
    assert not passes({**figs, "new_old": {"auc": 0.89, "eer": 0.1}})
    assert not passes({"old_old": figs["old_old"]})


def test_map_converts_an_old_gallery_without_images(trained_run, bundle, tiny_data, old_gallery, images, tmp_path):
    run = train(tiny_data, tmp_path / "mapped", "--map-from", str(trained_run / "bundle"), "--embedding-dim", "8", "--loss", "triplet")
    assert "map" in checkpoint.load(run / "best.pt") and "map" in checkpoint.load(run / "model.pt")
    new_bundle = export_bundle(run, None, ExportOptions(log=lambda s: None, int8=False))
    manifest = siamese_sdk.read_manifest(new_bundle)  # verifies the map graph's sha256 too
    c = manifest.compatibility
    assert c is not None and c.map is not None and c.map.file in manifest.files and not c.compatible
    assert set(c.validation) == {"old_old", "new_new", "mapped_new"}  # 16-d old, 8-d new: no new/old
    with pytest.raises(BundleError, match="--map"):
        Gallery.load(old_gallery, model=siamese_sdk.load(new_bundle))
    out = tmp_path / "upgraded.npz"
    r = CliRunner().invoke(sdk_cli, ["gallery", "upgrade", str(old_gallery), "--to", str(new_bundle), "--map", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"{len(images)} of {len(images)} rows mapped" in r.output and "none remain" in r.output
    new = siamese_sdk.load(new_bundle)
    g = Gallery.load(out, model=new)
    assert g.embedding_dim == 8 and g.legacy_count == 0 and list(g.ids) == [str(p) for p in images]
    assert np.allclose(np.linalg.norm(g.embeddings(), axis=1), 1, atol=1e-4)  # triplet: unit-length, as the new encoder's
    r = CliRunner().invoke(sdk_cli, ["search", str(new_bundle), str(out), str(images[0]), "-k", "3"])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("flags", "expect"),
    [
        (["--embedding-dim", "32"], "--embedding-dim 32 differs from the old model's 16"),
        (["--metric", "cosine"], "--metric cosine differs from the old model's euclidean"),
        (["--head", "learned"], "apply to one-encoder metric runs"),
    ],
)
def test_refusals_are_one_line(trained_run, tiny_data, tmp_path, flags, expect):
    r = CliRunner().invoke(
        train_cli, ["--data", str(tiny_data), "--out", str(tmp_path / "x"), *TINY, "--compatible-with", str(trained_run), *flags]
    )
    assert r.exit_code == 1 and expect in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_export_needs_the_old_bundle(trained_run, tiny_data, tmp_path):
    old = train(tiny_data, tmp_path / "old2")
    new = train(tiny_data, tmp_path / "new2", "--compatible-with", str(old / "model.pt"), )
    with pytest.raises(Exception, match="whose bundle is not at .*siamese-export OLD_RUN"):
        export_bundle(new, None, ExportOptions(log=lambda s: None, int8=False))
