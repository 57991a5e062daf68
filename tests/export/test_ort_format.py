"""ORT-format (mobile) bundles: ``.ort`` copies of every variant and head, the reduced build's operator list, the
mobile usability verdicts, all in the manifest (``ort``) and hashed; the SDK runs them with the ``.onnx`` results.

Most tests convert a copy of the checked-in bundle (``tests/data/golden/bundle``: no torch, needs onnx for the
usability checker); one exports the golden checkpoint with ``--profile mobile`` (torch).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk.errors import BundleError
from siamese_sdk.format.entries import sha256_file
from siamese_sdk.format.manifest import HEADS, Manifest

pytest.importorskip("onnx")
from siamese_export.ort_format import OPERATORS, STYLE, convert_bundle  # noqa: E402

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
GOLDEN = ROOT / "tests" / "data" / "golden"
IMAGES = [str(GOLDEN / "images" / n) for n in json.loads((GOLDEN / "expected.json").read_text())["images"]]
#: what the ``.ort`` files give against the ``.onnx`` ones (measured: int8 0.0, fp32 1.7e-6 on these images)
MAX_ABS = {"fp32": 1e-5, "int8": 0.0}
MIN_COSINE = 0.99999
EPS = ("NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A converted copy of the golden bundle."""
    root = tmp_path_factory.mktemp("mobile") / "bundle"
    shutil.copytree(GOLDEN / "bundle", root)
    convert_bundle(root, log=lambda _: None)
    return root


def test_files_hashes_and_manifest_entry(bundle: Path) -> None:
    d = json.loads((bundle / "manifest.json").read_text())
    ort = d["ort"]
    assert ort["style"] == STYLE == "Fixed" and ort["operators"] == OPERATORS
    assert ort["variants"] == {"fp32": "encoder.fp32.ort", "int8": "encoder.int8.ort"}
    assert ort["heads"] == {"pairwise": "head.pairwise.ort", "matrix": "head.matrix.ort"}
    for name in [*ort["variants"].values(), *ort["heads"].values(), OPERATORS]:
        assert d["files"][name] == sha256_file(bundle / name), name
    # the .onnx side is untouched: same files, same hashes, same variants
    golden = json.loads((GOLDEN / "bundle" / "manifest.json").read_text())
    assert {k: d["files"][k] for k in golden["files"]} == golden["files"]
    assert {k: v for k, v in d.items() if k not in ("ort", "files")} == {k: v for k, v in golden.items() if k != "files"}
    assert Manifest.from_dict(d).to_dict() == d
    siamese_sdk.read_manifest(bundle)  # every file listed and matching


def test_operator_config_and_usability_verdicts(bundle: Path) -> None:
    config = (bundle / OPERATORS).read_text()
    assert "ai.onnx;" in config and "Conv" in config and "QuantizeLinear" in config
    # bare model names, no converter paths: the file hashes the same wherever it was made
    assert "# - encoder.int8.ort\n" in config and not any(line.startswith("# - /") for line in config.splitlines())
    ort = json.loads((bundle / "manifest.json").read_text())["ort"]
    onnx_files = ["encoder.fp32.onnx", "encoder.int8.onnx", *HEADS.values()]
    assert sorted(ort["usability"]) == sorted(onnx_files)
    for name, verdict in ort["usability"].items():
        assert isinstance(verdict["try_nnapi_or_coreml"], bool), name
        for ep in EPS:
            assert verdict[ep]["as_is"] in ("YES", "NO", "MAYBE"), (name, ep)
    # the measured verdict for these small graphs: the encoders are for the CPU provider as they are
    assert ort["usability"]["encoder.int8.onnx"]["NNAPI"]["as_is"] == "NO"


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_ort_embeddings_and_decisions_match_onnx(bundle: Path, variant: str) -> None:
    onnx_model = siamese_sdk.load(bundle, variant=variant)
    ort_model = siamese_sdk.load(bundle, variant=variant, model_format="ort")
    assert ort_model.model_format == "ort" and ort_model.fingerprint == onnx_model.fingerprint
    a, b = onnx_model.embed(IMAGES), ort_model.embed(IMAGES)
    assert float(np.abs(a - b).max()) <= MAX_ABS[variant]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert float(cos.min()) >= MIN_COSINE
    # the heads are bit-equal on the same embeddings (a distance near 0 amplifies the embeddings' 1e-6 through sqrt)
    assert np.array_equal(ort_model.distance_matrix(a, a), onnx_model.distance_matrix(a, a))
    assert np.array_equal(ort_model.distance(a, a[::-1]), onnx_model.distance(a, a[::-1]))
    x1 = [IMAGES[i] for i in (0, 0, 2, 4, 1)]
    x2 = [IMAGES[i] for i in (1, 2, 3, 5, 4)]
    for op in ("eer", "far_1e-2", "far_1e-3"):
        v1, v2 = onnx_model.verify(x1, x2, operating_point=op), ort_model.verify(x1, x2, operating_point=op)
        assert v1.threshold == v2.threshold
        assert v1.same.tolist() == v2.same.tolist(), op


def test_a_bundle_without_ort_files_says_so(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no ORT-format file for 'fp32'.*--profile mobile"):
        siamese_sdk.load(GOLDEN / "bundle", variant="fp32", model_format="ort")
    with pytest.raises(siamese_sdk.InputError, match="model_format 'tflite' unknown"):
        siamese_sdk.load(GOLDEN / "bundle", variant="fp32", model_format="tflite")


def test_convert_refuses_twice_and_signed(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="already has ORT-format files"):
        convert_bundle(bundle, log=lambda _: None)
    signed = tmp_path / "signed"
    shutil.copytree(GOLDEN / "bundle", signed)
    (signed / "manifest.sig").write_bytes(b"x")
    with pytest.raises(BundleError, match="is signed"):
        convert_bundle(signed, log=lambda _: None)


def test_an_ort_entry_naming_an_unshipped_variant_is_refused(bundle: Path) -> None:
    d = json.loads((bundle / "manifest.json").read_text())
    d["ort"]["variants"]["fp16"] = "encoder.fp16.ort"
    with pytest.raises(BundleError, match=r"ort lists variant\(s\) \['fp16'\]"):
        Manifest.from_dict(d)


@pytest.mark.slow
def test_export_with_profile_mobile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``siamese-export --profile mobile`` on the golden checkpoint: int8 built, the mobile profile, the ``.ort`` files."""
    pytest.importorskip("torch")
    from click.testing import CliRunner
    from siamese_export.cli import main

    monkeypatch.chdir(ROOT)
    out = tmp_path / "bundle"
    ckpt = (GOLDEN / "image" / "model.pt").relative_to(ROOT)
    result = CliRunner().invoke(main, [str(ckpt), "-o", str(out), "--profile", "mobile"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    m = siamese_sdk.read_manifest(out)
    assert m.profiles["mobile"].variant == "int8" and m.profiles["mobile"].providers == ("cpu",)
    assert m.ort is not None and sorted(m.ort.variants) == ["fp32", "int8"]
    for variant in ("fp32", "int8"):
        a = siamese_sdk.load(out, variant=variant).embed(IMAGES)
        b = siamese_sdk.load(out, variant=variant, model_format="ort").embed(IMAGES)
        assert float(np.abs(a - b).max()) <= MAX_ABS[variant], variant
