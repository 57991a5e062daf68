"""A bundle that declares an older encoder compatible: the manifest entry, old galleries loaded and upgraded.

The bundle here is the session bundle with a ``compatibility`` entry written into its manifest (the export's
measurement and a real trained map are covered in ``tests/export/test_compatible_training.py``); the "old gallery" is
real embeddings saved under another encoder's fingerprint.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.cli import main as cli
from siamese_sdk.errors import BundleError
from siamese_sdk.format.compatibility import Compatibility
from siamese_sdk.gallery import Gallery

OLD = "0123456789abcdef"
FIGS = {"old_old": {"auc": 0.9, "eer": 0.2}, "new_old": {"auc": 0.91, "eer": 0.19}, "new_new": {"auc": 0.95, "eer": 0.1}}


def entry(dim: int, metric: str, compatible: bool = True) -> dict:
    old = {"fingerprint": OLD, "fingerprints": {"fp32": OLD}, "embedding_dim": dim, "metric": metric, "normalized": False}
    return {"old": old, "compatible": compatible, "validation": copy.deepcopy(FIGS)}


def declare(bundle_dir, compat: dict) -> None:
    path = bundle_dir / "manifest.json"
    d = json.loads(path.read_text())
    d["compatibility"] = compat
    path.write_text(json.dumps(d, indent=2))


@pytest.fixture
def new_bundle(bundle_copy):
    m = siamese_sdk.load(bundle_copy)
    declare(bundle_copy, entry(m.embedding_dim, m.manifest.metric))
    return bundle_copy


@pytest.fixture
def old_gallery(new_bundle, images, tmp_path):
    """Real embeddings of the first 12 images, saved as encoder ``OLD``'s gallery; ids are the image paths."""
    m = siamese_sdk.load(new_bundle, variant="fp32")
    g = Gallery(OLD, m.embedding_dim, m.manifest.metric)
    g.add(m.embed([str(p) for p in images[:12]]), [str(p) for p in images[:12]])
    return g.save(tmp_path / "old.npz")


def test_entry_round_trips_and_old_bundles_stay_byte_identical(bundle):
    c = Compatibility.from_dict(entry(16, "euclidean"))
    assert Compatibility.from_dict(c.to_dict()) == c and c.accepts(OLD) and not c.accepts("ffff")
    assert "compatibility" not in siamese_sdk.read_manifest(bundle).to_dict()


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda d: d.update(compatible="yes"), "compatible must be true or false"),
        (lambda d: d["validation"]["new_old"].update(auc=math.nan), "NaN"),
        (lambda d: d["validation"]["new_old"].update(eer=1.5), "finite number"),
        (lambda d: d["validation"].update(other={"auc": 1, "eer": 0}), "must be one of"),
        (lambda d: d["old"].update(embedding_dim="16"), "embedding_dim"),
        (lambda d: d["old"].pop("fingerprint"), "old.fingerprint"),
        (lambda d: d.update(map={"file": 3}), "map.file"),
    ],
)
def test_malformed_entry_is_one_line(bundle_copy, edit, expect):
    d = entry(16, "euclidean")
    edit(d)
    declare(bundle_copy, d)
    with pytest.raises(BundleError, match=expect) as e:
        siamese_sdk.load(bundle_copy)
    assert "\n" not in str(e.value)


def test_a_compatible_bundle_serves_the_old_gallery_and_enrols_new_rows(new_bundle, old_gallery, images, tmp_path):
    m = siamese_sdk.load(new_bundle, variant="fp32")
    g = Gallery.load(old_gallery, model=m)
    assert (g.fingerprint, g.legacy_fingerprint, g.legacy_count, len(g)) == (m.fingerprint, OLD, 12, 12)
    ids, _ = g.search(m.embed([str(images[3])]), k=1)
    assert ids[0, 0] == str(images[3])
    g.add(m.embed([str(images[12])]), ["new"])  # a new enrolment: the new encoder's
    assert g.legacy_count == 12 and list(g.legacy_mask()) == [True] * 12 + [False]
    again = Gallery.load(g.save(tmp_path / "mixed.npz"), model=m)
    assert again.legacy_count == 12 and again.fingerprint == m.fingerprint
    g.remove([str(images[0])])
    assert g.legacy_count == 11


def test_search_cli_accepts_it_and_other_bundles_still_refuse(new_bundle, bundle_copy, old_gallery, images, tmp_path):
    r = CliRunner().invoke(cli, ["search", str(new_bundle), str(old_gallery), str(images[5]), "-k", "1", "--variant", "fp32"])
    assert r.exit_code == 0 and str(images[5]) in r.output, r.output
    plain = shutil.copytree(new_bundle, tmp_path / "plain")
    d = json.loads((plain / "manifest.json").read_text())
    d.pop("compatibility")
    (plain / "manifest.json").write_text(json.dumps(d))
    with pytest.raises(BundleError, match="another model"):
        Gallery.load(old_gallery, model=siamese_sdk.load(plain))


def test_a_bundle_not_marked_compatible_refuses_with_the_figures(new_bundle, old_gallery):
    m = siamese_sdk.load(new_bundle)
    declare(new_bundle, entry(m.embedding_dim, m.manifest.metric, compatible=False))
    with pytest.raises(BundleError, match=r"not marked compatible .*new/old AUC 0\.9100") as e:
        Gallery.load(old_gallery, model=siamese_sdk.load(new_bundle))
    assert "\n" not in str(e.value)


def test_upgrade_re_embeds_the_rows_whose_images_exist(new_bundle, old_gallery, images, tmp_path):
    enrolled = tmp_path / "enrolled"
    shutil.copytree(images[0].parents[2], enrolled)
    g = Gallery.load(old_gallery)
    rel = [str(enrolled / p.relative_to(images[0].parents[2])) for p in images[:12]]
    moved = Gallery(OLD, g.embedding_dim, g.metric)
    moved.add(g.embeddings(), rel)
    moved.save(old_gallery)
    for p in rel[:4]:  # four images are gone
        Path(p).unlink()
    out = tmp_path / "up.npz"
    r = CliRunner().invoke(
        cli, ["gallery", "upgrade", str(old_gallery), "--to", str(new_bundle), "--images", str(enrolled), "-o", str(out), "--variant", "fp32"]
    )
    assert r.exit_code == 0, r.output
    assert "8 of 12 rows re-embedded" in r.output and "4 remain on old templates" in r.output
    m = siamese_sdk.load(new_bundle, variant="fp32")
    up = Gallery.load(out, model=m)
    assert up.legacy_count == 4 and list(up.ids) == rel
    np.testing.assert_allclose(up.embeddings()[4:], m.embed(rel[4:]), atol=1e-5)
    r = CliRunner().invoke(cli, ["gallery", "upgrade", str(out), "--to", str(new_bundle), "--map", "--variant", "fp32"])
    assert r.exit_code == 1 and "has no old -> new map" in r.output


def test_gallery_build_still_takes_a_bundle_first(bundle, images, tmp_path):
    r = CliRunner().invoke(cli, ["gallery", str(bundle), str(images[0]), "-o", str(tmp_path / "g.npz")])
    assert r.exit_code == 0 and "wrote" in r.output, r.output
    r = CliRunner().invoke(cli, ["gallery", "upgrade", str(tmp_path / "g.npz"), "--to", str(bundle)])
    assert r.exit_code != 0 and "exactly one of --images DIR" in r.output


def test_a_legacy_member_without_its_fingerprint_is_refused(tmp_path):
    from siamese_sdk.gallery import io

    meta = {"fingerprint": "new", "embedding_dim": 2, "metric": "euclidean", "storage": "float32"}
    vec = np.ones((2, 2), np.float32)
    io.write(tmp_path / "a.npz", meta, ["a", "b"], vec, None, legacy=np.array([True, False]))
    with pytest.raises(BundleError, match="legacy member and meta legacy_fingerprint"):
        Gallery.load(tmp_path / "a.npz")
    io.write(tmp_path / "c.npz", {**meta, "legacy_fingerprint": OLD}, ["a", "b"], vec, None, legacy=np.array([True, False]))
    g = Gallery.load(tmp_path / "c.npz")
    assert (g.legacy_count, g.legacy_fingerprint) == (1, OLD)


def test_upgrade_refuses_to_leave_rows_an_incompatible_bundle_cannot_search(new_bundle, old_gallery, tmp_path):
    m = siamese_sdk.load(new_bundle)
    declare(new_bundle, entry(m.embedding_dim, m.manifest.metric, compatible=False))
    empty = tmp_path / "none"
    empty.mkdir()
    r = CliRunner().invoke(cli, ["gallery", "upgrade", str(old_gallery), "--to", str(new_bundle), "--images", str(empty)])
    assert r.exit_code == 1 and "12 rows" in r.output and "not marked compatible" in r.output, r.output


def test_upgrade_keeps_an_encrypted_gallery_encrypted(new_bundle, old_gallery, images, tmp_path):
    pytest.importorskip("cryptography")
    from siamese_sdk.security import generate_key, sealed_info

    key_file = tmp_path / "gallery.key"
    key_file.write_bytes(generate_key())
    Gallery.load(old_gallery).save(old_gallery, key=key_file.read_bytes(), encrypt=True)
    out = tmp_path / "up.npz"
    r = CliRunner().invoke(
        cli,
        ["gallery", "upgrade", str(old_gallery), "--to", str(new_bundle), "--images", str(images[0].parents[2]), "-o", str(out),
         "--gallery-key-file", str(key_file), "--variant", "fp32"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sealed_info(out.read_bytes()[:30])["mode"] == "aes-256-gcm"
