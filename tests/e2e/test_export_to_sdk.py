"""Train -> export -> SDK: the runtime checks that need a trained run or a fresh export (the runtime's own suite,
``tests/sdk``, runs on checked-in bundles without torch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.format.manifest import HEADS, MANIFEST, Manifest
from siamese_sdk.runtime.encoder import EncoderRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_line_error(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: "), result.output
    return lines[-1]


def test_export_cli_refuses_a_non_bundle_directory(runner, trained_run, tmp_path):
    from siamese_export.cli import main as export

    target = tmp_path / "precious"
    target.mkdir()
    (target / "thesis.txt").write_text("do not delete")
    r = runner.invoke(export, [str(trained_run / "model.pt"), "-o", str(target)])
    assert "is not a bundle" in _one_line_error(r)
    assert (target / "thesis.txt").exists()


def test_train_cli_bad_data(runner, tmp_path):
    from siamese_trainer.cli import main as train

    (tmp_path / "empty").mkdir()
    r = runner.invoke(train, ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    assert "no images found" in _one_line_error(r)


@pytest.fixture(scope="module")
def edge_bundle(trained_run, tmp_path_factory):
    """Every deployment profile: fp16, int8 and the fixed-batch variants, and ``profiles`` in the manifest."""
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_sdk.profiles import TARGETS

    out = tmp_path_factory.mktemp("edge") / "bundle"
    return export_bundle(trained_run / "model.pt", out, ExportOptions(profiles=tuple(TARGETS), log=lambda s: None))


def test_every_profile_manifest_round_trips(edge_bundle):
    d = json.loads((edge_bundle / MANIFEST).read_text(encoding="utf-8"))
    assert d["profiles"] and any("batch" in v for v in d["variants"].values())
    assert Manifest.from_dict(d).to_dict() == d
    assert set(d["heads"].items()) == set(HEADS.items())


def test_sdk_preprocessing_matches_trainer(bundle, trained_run, images):
    """The same image gives the same input tensor, and the same embedding, in training eval and in the SDK."""
    from siamese_sdk.tools.imagefolder import ImageFolder
    from siamese_trainer import checkpoint
    from siamese_trainer.data.images import ImageDataset

    model = siamese_sdk.load(bundle, variant="fp32")
    folder = ImageFolder.scan(images[0].parents[2])
    ds = ImageDataset(folder, model.manifest.preprocess)
    x_train = torch.stack([ds[i][0] for i in range(4)]).numpy()
    np.testing.assert_array_equal(x_train, model.preprocess(folder.paths[:4]))
    ck = checkpoint.load(trained_run / "model.pt")
    mc = ck["model"]
    enc = checkpoint.build_encoder(mc, ck["state_dict"])
    with torch.no_grad():
        ref = enc(torch.from_numpy(x_train)).numpy()
    np.testing.assert_allclose(model.embed(folder.paths[:4]), ref, atol=1e-4)


def test_two_branches_are_two_runners_and_one_set_of_heads(pseudo_run, tiny_data):
    _, bundle, sketches = pseudo_run
    model = siamese_sdk.load(bundle, variant="fp32")
    assert list(model._encoders) == ["a", "b"] and all(isinstance(e, EncoderRunner) for e in model._encoders.values())
    assert model._pair == (model._encoders["a"], model._encoders["b"]) and model.input is None
    assert not any(isinstance(v, siamese_sdk.SiameseModel) for v in vars(model).values())
    assert model.preprocess_spec("a").size == (28, 28) and model.input_spec("b").preprocess.size == (36, 36)
    photos = sorted(tiny_data.rglob("*.png"))[:3]
    inverted = [sketches / p.relative_to(tiny_data) for p in photos]
    r = model.verify(photos, inverted, threshold=1.0)
    d = model.distance(model.embed(photos, branch="a"), model.embed(inverted, branch="b"))
    np.testing.assert_allclose(r.scores, d, rtol=1e-5, atol=1e-6)
    assert np.array_equal(r.same, model.manifest.score.is_match(d, 1.0))


def test_embed_device_takes_and_gives_torch_tensors_on_the_cpu(bundle, tiny_data):
    """DLPack both ways on the CPU: a torch tensor in, the ``OrtValue`` out read by torch."""
    model = siamese_sdk.load(bundle, variant="fp32")
    x = model.preprocess(sorted(tiny_data.rglob("*.png"))[:5])
    ref = model.embed(x)
    np.testing.assert_array_equal(model.embed_device(torch.from_numpy(x)).numpy(), ref)
    np.testing.assert_array_equal(torch.from_dlpack(model.embed_device(x)).numpy(), ref)
