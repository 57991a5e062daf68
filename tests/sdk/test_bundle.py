"""Bundle integrity: the manifest is the single source of truth, and any mismatch is refused by name."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest
import siamese_sdk
from siamese_sdk import BundleError
from siamese_sdk.format.manifest import FORMAT_VERSION, Manifest, read_manifest, sha256_file


def _rewrite_manifest(bundle, edit):
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_manifest_round_trip(bundle):
    m = read_manifest(bundle)
    assert Manifest.from_dict(json.loads(m.to_json())) == m
    assert m.format_version == 1 < FORMAT_VERSION and m.input_shape == (None, 1, 28, 28)  # v2 only for text/dialog or branches
    for v in m.variants.values():
        assert set(v.thresholds) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
        assert {"auc", "eer", "tar_at_far_1e-2", "tar_at_far_1e-3"} <= set(v.metrics)
        assert m.files[v.file] == sha256_file(bundle / v.file)


def test_onnx_metadata_mirrors_manifest(bundle):
    m = read_manifest(bundle)
    for v in m.variants.values():
        model = onnx.load(str(bundle / v.file))
        props = {p.key: p.value for p in model.metadata_props}
        assert props["siamese.metric"] == m.metric and int(props["siamese.embedding_dim"]) == m.embedding_dim
        assert json.loads(props["siamese.thresholds"]) == v.thresholds
        assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 18


def test_changed_file_is_refused(bundle_copy):
    f = bundle_copy / "encoder.fp32.onnx"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="encoder.fp32.onnx does not match its sha256"):
        siamese_sdk.load(bundle_copy)


def test_swapped_head_is_refused(bundle_copy):
    shutil.copy(bundle_copy / "head.matrix.onnx", bundle_copy / "head.pairwise.onnx")
    with pytest.raises(BundleError, match="head.pairwise.onnx"):
        siamese_sdk.load(bundle_copy)


def test_missing_and_extra_files_are_refused(bundle_copy):
    (bundle_copy / "notes.txt").write_text("hello")
    with pytest.raises(BundleError, match="does not list.*notes.txt"):
        siamese_sdk.load(bundle_copy)
    (bundle_copy / "notes.txt").unlink()
    (bundle_copy / "head.matrix.onnx").unlink()
    with pytest.raises(BundleError, match="head.matrix.onnx is missing"):
        siamese_sdk.load(bundle_copy)


def test_not_a_bundle(tmp_path, bundle_copy):
    with pytest.raises(BundleError, match="not found"):
        siamese_sdk.load(tmp_path / "nope")
    (tmp_path / "file.onnx").write_bytes(b"x")
    with pytest.raises(BundleError, match="is a file"):
        siamese_sdk.load(tmp_path / "file.onnx")
    with pytest.raises(BundleError, match="no manifest.json"):
        siamese_sdk.load(tmp_path)
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        siamese_sdk.load(bundle_copy)


def test_newer_format_version_is_refused(bundle_copy):
    _rewrite_manifest(bundle_copy, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(BundleError, match="newer than this siamese-sdk reads.*pip install -U"):
        siamese_sdk.load(bundle_copy)


@pytest.mark.parametrize(
    "edit, expect",
    [
        (lambda d: d.pop("format"), "not a siamese-bundle manifest"),
        (lambda d: d.update(metric="cosin"), "metric 'cosin' unknown"),
        (lambda d: d.pop("embedding_dim"), "malformed"),
        (lambda d: d.update(default_variant="fp16"), "default_variant"),
        (lambda d: d["input"]["preprocess"].update(channels=2), "channels 2 invalid"),
        (lambda d: d["files"].pop("head.matrix.onnx"), "no sha256"),
        (lambda d: d["files"].update({"../evil.onnx": "0" * 64}), "unsafe path"),
    ],
)
def test_malformed_manifest(bundle_copy, edit, expect):
    _rewrite_manifest(bundle_copy, edit)
    with pytest.raises(BundleError, match=expect):
        siamese_sdk.load(bundle_copy)


def test_non_onnx_file_with_matching_hash_is_refused(bundle_copy):
    """Even with a re-hashed manifest, a file that is not ONNX fails in one line, not an ORT traceback."""
    (bundle_copy / "encoder.fp32.onnx").write_bytes(b"definitely not protobuf")
    _rewrite_manifest(
        bundle_copy, lambda d: d["files"].update({"encoder.fp32.onnx": sha256_file(bundle_copy / "encoder.fp32.onnx")})
    )
    with pytest.raises(BundleError, match="not a loadable ONNX model"):
        siamese_sdk.load(bundle_copy, variant="fp32")


def test_embedding_dim_mismatch_is_refused(bundle_copy):
    _rewrite_manifest(bundle_copy, lambda d: d.update(embedding_dim=d["embedding_dim"] + 1))
    with pytest.raises(BundleError, match="embeddings, manifest says"):
        siamese_sdk.load(bundle_copy)


def test_verify_false_warns(bundle_copy):
    (bundle_copy / "extra.bin").write_bytes(b"1")
    with pytest.warns(UserWarning, match="WITHOUT checking"):
        siamese_sdk.load(bundle_copy, verify=False)
