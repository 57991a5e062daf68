"""Edge profiles and the variants they build (fp16, fp16-fixed, w8a16-fixed, int8), all checked on the CPU provider.

One export with every profile is shared by the module. Parity thresholds (cosine similarity of each
variant's embeddings to fp32's, real validation images, CPU provider):

- fp16, fp16-fixed: >= 0.999 (measured ~0.9999998: ORT's CPU provider runs fp16 graphs mostly through fp32
  kernels with fp16-rounded weights, so GPU fp16 arithmetic may differ slightly more; the AUC gate holds);
- w8a16-fixed (uint16 activations): >= 0.995 (measured ~0.99997);
- int8 (uint8 activations): >= 0.98 (measured ~0.9999 on this tiny model).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import siamese_sdk
from siamese_sdk import BundleError, InputError
from siamese_sdk.format.manifest import Manifest, read_manifest
from siamese_sdk.profiles import FALLBACK, TARGETS, auto_variant
from siamese_sdk.tools.imagefolder import ImageFolder

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from siamese_export.gates import MAX_AUC_DROP  # noqa: E402
from siamese_export.pipeline import ExportOptions, export_bundle  # noqa: E402

ALL = ("cpu", "cuda", "tensorrt", "openvino", "coreml", "qnn")
MIN_COSINE = {"fp16": 0.999, "fp16-fixed": 0.999, "w8a16-fixed": 0.995, "int8": 0.98}


@pytest.fixture(scope="module")
def edge_bundle(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("edge") / "bundle"
    return export_bundle(trained_run / "model.pt", out, ExportOptions(profiles=ALL, log=lambda s: None))


@pytest.fixture(scope="module")
def val_images(trained_run, tiny_data):
    split = json.loads((trained_run / "split.json").read_text())
    return ImageFolder.scan(tiny_data, classes=split["val"]).paths


def test_every_profile_is_recorded_with_a_shipped_variant(edge_bundle):
    m = read_manifest(edge_bundle)
    assert list(m.profiles) == list(ALL)
    for name, prof in m.profiles.items():
        assert prof.providers == TARGETS[name].providers
        wanted = TARGETS[name].variant
        if wanted in m.variants and (name != "cpu" or m.default_variant == "int8"):
            assert prof.variant == wanted
        else:  # its variant failed a gate: the profile runs fp32 and says why
            assert prof.variant == "fp32" and prof.notes.startswith("fp32:")
            assert any(n.startswith(wanted) for n in m.notes) or name == "cpu"
    assert m.default_variant == m.profiles["cpu"].variant


def test_variants_files_types_and_shapes(edge_bundle):
    m = read_manifest(edge_bundle)
    assert {"fp32", "fp16", "fp16-fixed", "w8a16-fixed"} <= set(m.variants), m.notes
    for name, v in m.variants.items():
        model = onnx.load(str(edge_bundle / v.file))
        onnx.checker.check_model(model, full_check=True)
        (inp,), (out,) = model.graph.input, model.graph.output
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # every variant keeps float32 I/O
        assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        batch = inp.type.tensor_type.shape.dim[0]
        if name.endswith("-fixed"):
            assert v.batch == 1 and batch.dim_value == 1
            assert out.type.tensor_type.shape.dim[0].dim_value == 1
        else:
            assert v.batch is None and batch.dim_param  # dynamic batch axis
        inits = {np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)).name for t in model.graph.initializer}
        if name.startswith("fp16"):
            assert "float16" in inits and v.quantization["io"].startswith("float32")
        if name == "w8a16-fixed":
            q = v.quantization
            assert (q["activations"], q["weights"], q["format"]) == ("uint16", "int8", "QDQ")
            assert "uint16" in inits and "int8" in inits  # activation zero points, weights
            assert q["opset"] >= 21 or any(o.domain == "com.microsoft" for o in model.opset_import)


def test_sizes_fp16_about_half_and_quantised_smaller(edge_bundle):
    m = read_manifest(edge_bundle)
    size = {n: (edge_bundle / v.file).stat().st_size for n, v in m.variants.items()}
    assert 0.4 < size["fp16"] / size["fp32"] < 0.6
    assert size["w8a16-fixed"] < 0.4 * size["fp32"]
    if "int8" in size:
        assert size["int8"] < 0.4 * size["fp32"]


def test_every_variant_runs_on_cpu_with_parity_to_fp32(edge_bundle, val_images):
    ref = siamese_sdk.load(edge_bundle, variant="fp32").embed(val_images)
    m = read_manifest(edge_bundle)
    for name in m.variants:
        if name == "fp32":
            continue
        e = siamese_sdk.load(edge_bundle, variant=name).embed(val_images, batch_size=5)
        cos = (e * ref).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(ref, axis=1))
        assert cos.min() >= MIN_COSINE[name], (name, cos.min())
        recorded = m.variants[name].metrics
        assert recorded["cosine_vs_fp32_min"] >= MIN_COSINE[name]
        assert recorded["cosine_vs_fp32_mean"] >= recorded["cosine_vs_fp32_min"]


def test_accuracy_gate_holds_for_every_shipped_variant(edge_bundle):
    m = read_manifest(edge_bundle)
    auc32 = m.variants["fp32"].metrics["auc"]
    for name, v in m.variants.items():
        assert auc32 - v.metrics["auc"] <= MAX_AUC_DROP, name
        assert set(v.thresholds) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}
    assert "speedup_vs_fp32_b64" not in m.variants["fp16"].metrics  # no speed gate for fp16 (GPU/NPU variant)


def test_fixed_batch_variant_pads_and_refuses_other_device_batches(edge_bundle, val_images):
    fixed = siamese_sdk.load(edge_bundle, variant="fp16-fixed")
    dynamic = siamese_sdk.load(edge_bundle, variant="fp16")
    np.testing.assert_allclose(fixed.embed(val_images[:5], batch_size=2), dynamic.embed(val_images[:5]), atol=1e-4)
    x = fixed.preprocess(val_images[:3])
    np.testing.assert_allclose(fixed.embed_device(x[:1]).numpy(), dynamic.embed(x[:1]), atol=1e-4)
    with pytest.raises(InputError, match="runs exactly 1 input"):
        fixed.embed_device(x)
    with pytest.raises(InputError, match="fixed batch of 1"):
        siamese_sdk.load(edge_bundle, variant="w8a16-fixed", batch_sizes=(1, 8))


def test_auto_variant_follows_profiles_then_fallbacks(edge_bundle, bundle, tmp_path):
    m = read_manifest(edge_bundle)
    for name in ALL:  # (the mobile target shares the cpu provider: auto follows the cpu profile there)
        assert auto_variant(m, TARGETS[name].provider) == m.profiles[name].variant
    assert auto_variant(m, "DmlExecutionProvider") == "fp32"  # no profile, no fallback list
    assert siamese_sdk.load(edge_bundle).variant == m.profiles["cpu"].variant

    # an older bundle (no profiles key): the fallback lists decide, from the shipped variants
    old = tmp_path / "old"
    shutil.copytree(edge_bundle, old)
    d = json.loads((old / "manifest.json").read_text())
    del d["profiles"]
    (old / "manifest.json").write_text(json.dumps(d))
    om = read_manifest(old)
    assert om.profiles == {}
    for provider, order in FALLBACK.items():
        assert auto_variant(om, provider) == next(v for v in order if v in om.variants)
    # the session bundle is CPU-only (the default profile): GPU providers get fp32
    sm = read_manifest(bundle)
    assert list(sm.profiles) == ["cpu"] and "fp16" not in sm.variants
    assert auto_variant(sm, "CUDAExecutionProvider") == "fp32"


def test_manifest_stays_backward_compatible(edge_bundle, bundle):
    d = json.loads((bundle / "manifest.json").read_text())
    assert d["format_version"] == 1
    assert all("batch" not in v for v in d["variants"].values())  # dynamic variants read exactly as before
    assert Manifest.from_dict(d).to_dict()["profiles"] == d["profiles"]
    e = json.loads((edge_bundle / "manifest.json").read_text())
    e["profiles"]["cuda"]["variant"] = "int4"
    with pytest.raises(BundleError, match="profile 'cuda' uses variant 'int4'"):
        Manifest.from_dict(e)
    e = json.loads((edge_bundle / "manifest.json").read_text())
    e["variants"]["bf16"] = e["variants"].pop("fp16")
    e["profiles"]["cuda"]["variant"] = e["profiles"]["tensorrt"]["variant"] = "fp32"
    with pytest.raises(BundleError, match=r"variant 'bf16' unknown to this siamese-sdk.*pip install -U siamese-sdk"):
        Manifest.from_dict(e)


def test_profile_names_are_checked(trained_run, tmp_path):
    with pytest.raises(InputError, match=r"profile\(s\) \['warp'\] unknown"):
        export_bundle(trained_run / "model.pt", tmp_path / "b", ExportOptions(profiles=("cpu", "warp"), log=lambda s: None))
    from click.testing import CliRunner
    from siamese_export.cli import main

    r = CliRunner().invoke(main, [str(trained_run / "model.pt"), "-o", str(tmp_path / "c"), "--profile", "cpu,npu"])
    assert r.exit_code == 1 and "unknown" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_int8_slower_on_this_cpu_is_kept_for_openvino_only(trained_run, tmp_path, monkeypatch):
    """The CPU speed gate decides the cpu profile, not whether OpenVINO gets its int8."""
    import siamese_export.gates as gates

    monkeypatch.setattr(gates, "speedup", lambda *a, **k: 0.5)
    out = export_bundle(trained_run / "model.pt", tmp_path / "ov", ExportOptions(profiles=("openvino",), log=lambda s: None))
    m = read_manifest(out)
    if "int8" not in m.variants:  # failed its accuracy gate on this tiny model: nothing more to check
        assert any("int8 not shipped" in n for n in m.notes)
        return
    assert m.profiles["openvino"].variant == "int8"
    assert m.profiles["cpu"].variant == "fp32" and "slower" in m.profiles["cpu"].notes  # recorded for auto on CPU
    assert m.default_variant == "fp32" and siamese_sdk.load(out).variant == "fp32"
    assert any("kept for openvino" in n for n in m.notes)
