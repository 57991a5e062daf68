"""The SDK against a checked-in bundle: numpy, onnxruntime and Pillow only (no torch, no export, no fixtures).

``tests/data/golden/bundle`` is the image export of ``tests/data/golden/image/model.pt`` (fp32 + int8, both heads);
``images/`` holds six Omniglot images of classes unseen in training (two per class: a, b, c) and
``expected.json`` what the SDK computed on them when the bundle was made (``scripts/make_golden.py``):
embeddings, the distance matrix and the verify decisions at every operating point, per variant.
``test_venv.py`` runs this module in a fresh venv without torch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from PIL import Image
from siamese_sdk.cli import main

#: ``tests/data/golden``, found from this file wherever it sits under ``tests/``
GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())
BUNDLE = GOLDEN / "bundle"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text())
IMAGES = [str(GOLDEN / "images" / name) for name in EXPECTED["images"]]
PAIRS = [tuple(p) for p in EXPECTED["pairs"]]
VARIANTS = ("fp32", "int8")
OPERATING_POINTS = ("eer", "far_1e-2", "far_1e-3")
#: absolute tolerance of embeddings and scores: fp32 up to float rounding; int8 kernels may round differently on another CPU
ATOL = {"fp32": 1e-5, "int8": 5e-3}
#: decisions are compared where the expected score is at least this far from the threshold (else: consistency only)
MARGIN = {"fp32": 1e-4, "int8": 2e-2}


@pytest.fixture(scope="module", params=VARIANTS)
def model(request) -> siamese_sdk.SiameseModel:
    return siamese_sdk.load(BUNDLE, variant=request.param)


def test_manifest_fields():
    m = siamese_sdk.load(BUNDLE).manifest
    assert (m.embedding_dim, m.metric, m.normalized, m.higher_is_closer) == (8, "euclidean", False, False)
    assert (m.format_version, m.input_name, m.default_variant, m.default_operating_point) == (1, "images", "int8", "eer")
    assert (m.preprocess.size, m.preprocess.channels, m.preprocess.resample) == ((28, 28), 1, "bilinear")
    assert (m.preprocess.scale, m.preprocess.mean, m.preprocess.std) == (1 / 255, (0.5,), (0.5,))
    assert set(m.variants) == set(VARIANTS) and m.heads == {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"}
    assert {f: p.variant for f, p in m.profiles.items()} == {"cpu": "int8", "openvino": "int8"}
    assert set(m.files) == {"encoder.fp32.onnx", "encoder.int8.onnx", "head.pairwise.onnx", "head.matrix.onnx"}
    for name in VARIANTS:
        assert m.variants[name].file == f"encoder.{name}.onnx"
        assert m.variants[name].thresholds == MANIFEST["variants"][name]["thresholds"]
        assert set(m.variants[name].thresholds) == {*OPERATING_POINTS, "max_accuracy"}
        assert m.variants[name].metrics["auc"] == MANIFEST["variants"][name]["metrics"]["auc"]
    assert m.variants["int8"].quantization["method"] == "static" and m.variants["fp32"].quantization is None
    assert m.validation["source"] == "embedded:omniglot_mini" and m.provenance["arch"] == "convnet4"
    assert json.loads(m.to_json()) == MANIFEST


def test_auto_picks_the_cpu_profile():
    assert siamese_sdk.load(BUNDLE).variant == EXPECTED["auto_variant"] == "int8"


def test_embeddings(model):
    want = np.array(EXPECTED["variants"][model.variant]["embeddings"])
    got = model.embed(IMAGES)
    assert got.shape == (len(IMAGES), 8) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=ATOL[model.variant], rtol=0)
    # the same images as Pillow images and as preprocessed arrays
    np.testing.assert_array_equal(model.embed([Image.open(p) for p in IMAGES]), got)
    np.testing.assert_array_equal(model.embed(model.preprocess(IMAGES)), got)


def test_distances(model):
    want = np.array(EXPECTED["variants"][model.variant]["distance_matrix"])
    emb = model.embed(IMAGES)
    matrix = model.distance_matrix(emb, emb)
    assert matrix.shape == (len(IMAGES), len(IMAGES)) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, want, atol=ATOL[model.variant], rtol=0)
    # the pairwise head: the matrix's entries, except on the diagonal (exactly 0 here, where the matrix head's
    # |a|^2 + |b|^2 - 2ab form leaves rounding noise)
    i, j = np.array(PAIRS).T
    pairs = model.distance(emb[i], emb[j])
    np.testing.assert_allclose(pairs, EXPECTED["variants"][model.variant]["pair_scores"], atol=ATOL[model.variant], rtol=0)
    np.testing.assert_allclose(pairs[i != j], matrix[i[i != j], j[i != j]], atol=1e-5, rtol=0)
    assert (pairs[i == j] == 0).all() and (np.diag(matrix) < 2e-3).all()


@pytest.mark.parametrize("op", OPERATING_POINTS)
def test_verify_decisions(model, op):
    expected = EXPECTED["variants"][model.variant]
    want = expected["verify"][op]
    i, j = np.array(PAIRS).T
    scores = np.array(expected["pair_scores"])
    r = model.verify([IMAGES[a] for a in i], [IMAGES[b] for b in j], operating_point=op)
    assert (r.threshold, r.operating_point, r.higher_is_closer) == (want["threshold"], op, False)
    assert r.threshold == model.manifest.variants[model.variant].thresholds[op] == model.threshold(op)
    np.testing.assert_allclose(r.scores, scores, atol=ATOL[model.variant], rtol=0)
    np.testing.assert_array_equal(r.same, r.scores <= r.threshold)
    clear = np.abs(scores - want["threshold"]) > MARGIN[model.variant]
    np.testing.assert_array_equal(r.same[clear], np.array(want["same"])[clear])
    assert r.same[clear].any() and not r.same[clear].all()  # both decisions are checked
    if op == expected["default_operating_point"]:
        np.testing.assert_array_equal(model.verify([IMAGES[a] for a in i], [IMAGES[b] for b in j]).same, r.same)


def test_cli_info():
    runner = CliRunner()
    text = runner.invoke(main, ["info", str(BUNDLE)])
    assert text.exit_code == 0, text.output
    assert "8-d, metric euclidean (lower score = closer)" in text.output and "cpu: int8 on cpu" in text.output
    assert "signature   unsigned" in text.output
    as_json = runner.invoke(main, ["info", str(BUNDLE), "--json"])
    assert as_json.exit_code == 0
    out = json.loads(as_json.output)
    assert out.pop("signature")["signed"] is False and out == MANIFEST


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("a", "b"), [(0, 1), (0, 2), (2, 5)])
def test_cli_verify(variant, a, b):
    expected = EXPECTED["variants"][variant]
    score, threshold = expected["pair_scores"][PAIRS.index((a, b))], expected["verify"]["eer"]["threshold"]
    runner = CliRunner()
    res = runner.invoke(main, ["verify", str(BUNDLE), IMAGES[a], IMAGES[b], "--json", "--variant", variant])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert set(got) == {"same", "score", "threshold", "operating_point", "metric", "variant", "unsupported"}
    # the golden validation set (6 identities) cannot support its thresholds: verify says so, with the fix
    assert got["unsupported"] == siamese_sdk.load(BUNDLE, variant=variant).unsupported_threshold("eer")
    assert "eer is not supported" in got["unsupported"] and "siamese calibrate" in got["unsupported"]
    assert (got["threshold"], got["operating_point"], got["metric"], got["variant"]) == (threshold, "eer", "euclidean", variant)
    assert got["score"] == pytest.approx(score, abs=ATOL[variant]) and got["same"] == (score <= threshold)
    plain = runner.invoke(main, ["verify", str(BUNDLE), IMAGES[a], IMAGES[b], "--variant", variant])
    word, cmp = ("SAME", "<=") if got["same"] else ("DIFFERENT", ">")
    assert plain.exit_code == 0
    assert plain.output == (
        f"{word}: euclidean distance {got['score']:.4f} {cmp} threshold {threshold:.4f} (eer, {variant})\n"
        f"warning: {got['unsupported']}\n"
    )


def test_a_tampered_file_is_refused(tmp_path):
    bundle = Path(shutil.copytree(BUNDLE, tmp_path / "bundle"))
    data = bytearray((bundle / "encoder.int8.onnx").read_bytes())
    data[-1] ^= 1
    (bundle / "encoder.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(siamese_sdk.BundleError, match="encoder.int8.onnx"):
        siamese_sdk.load(bundle)
    res = CliRunner().invoke(main, ["verify", str(bundle), IMAGES[0], IMAGES[1]])
    assert res.exit_code != 0 and "encoder.int8.onnx" in res.output


def test_the_sdk_runs_the_bundle_without_importing_torch():
    script = (
        "import sys, siamese_sdk, siamese_sdk.cli\n"
        f"siamese_sdk.load({str(BUNDLE)!r}).verify([{IMAGES[0]!r}], [{IMAGES[1]!r}])\n"
        "print(sorted(m for m in ('torch', 'onnx', 'siamese_trainer', 'siamese_export') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
