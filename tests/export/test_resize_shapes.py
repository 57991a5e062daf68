"""Non-square inputs and ``--resize letterbox | crop`` through training, export and the SDK, on tiny generated PNGs
of assorted sizes (wider and taller than the input): the trainer's pixels are the SDK's, exactly, and every
architecture, the two-branch and the CSV image paths train, export (fp32 and int8) and embed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("onnx")

TINY = dict(epochs=1, p=3, k=2, batches_per_epoch=2, embedding_dim=8, val_fraction=0.34)


def make_shapes(dest: Path, classes: int = 6, per_class: int = 4, invert: bool = False) -> Path:
    """Class folders of grey PNGs between 20 and 59 px on each side; a class is a band at its own height."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (dest / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            w, h = (int(v) for v in rng.integers(20, 60, 2))
            a = (rng.random((h, w)) * 60).astype(np.uint8)
            a[h * c // classes : h * c // classes + 3] = 255
            Image.fromarray(255 - a if invert else a).save(dest / f"c{c}" / f"{i}.png")
    return dest


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return make_shapes(tmp_path_factory.mktemp("shapes") / "data")


def train_export(data: Path, out: Path, **kw):
    """Train a tiny run and export it (one-encoder runs for the openvino profile: int8 is not speed-gated there)."""
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.train import TrainConfig, train

    config = TrainConfig(data=str(data), out=str(out), **{**TINY, **kw})
    train(config, log=lambda s: None, progress=False)
    profiles = ("cpu",) if config.pseudo else ("openvino",)  # two-branch bundles are built for cpu only
    bundle = export_bundle(out / "model.pt", out / "bundle", ExportOptions(log=lambda s: None, calibration_images=16, profiles=profiles))
    return config, bundle


def embeds_every_variant(bundle: Path, paths: list[str], branch: str | None = None) -> set[str]:
    """Embed ``paths`` with fp32 and int8 (int8 is always built and measured; the gates may refuse it for these
    near-random weights, and say so in the manifest's notes); returns the variants run."""
    import siamese_sdk

    manifest = siamese_sdk.read_manifest(bundle)
    ran = set()
    for variant in ("fp32", "int8"):
        if variant not in manifest.variants:
            assert variant == "int8" and any(n.startswith("int8 not shipped: ") for n in manifest.notes), manifest.notes
            continue
        m = siamese_sdk.load(bundle, variant=variant)
        e = m.embed(paths, branch=branch)
        assert e.shape == (len(paths), manifest.embedding_dim) and np.all(np.isfinite(e))
        ran.add(variant)
    return ran


@pytest.fixture(scope="module")
def letterbox_run(shapes, tmp_path_factory):
    return train_export(shapes, tmp_path_factory.mktemp("lb") / "run", size="24,40", resize="letterbox", fill=200)


def test_letterbox_training_pixels_are_the_sdk_pixels(letterbox_run, shapes):
    import siamese_sdk
    from siamese_sdk.tools.imagefolder import ImageFolder
    from siamese_trainer.data.images import ImageDataset

    config, bundle = letterbox_run
    folder = ImageFolder.scan(shapes)
    trained = ImageDataset(folder, config.resolved().preprocess()).images().numpy()
    m = siamese_sdk.load(bundle)
    served = m.preprocess([str(p) for p in folder.paths])
    assert trained.shape == served.shape == (len(folder), 1, 24, 40)
    assert np.array_equal(trained, served)
    fill = (np.float32(200) * np.float32(1 / 255) - np.float32(0.5)) / np.float32(0.5)
    assert np.any(served == fill)  # the padding shows, normalised like any pixel


def test_letterbox_bundle_records_its_geometry(letterbox_run, shapes):
    import siamese_sdk
    from siamese_sdk.cli.common import _input_line
    from siamese_sdk.format.manifest import Manifest

    _, bundle = letterbox_run
    raw = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert raw["input"]["shape"] == [None, 1, 24, 40]
    assert {k: raw["input"]["preprocess"][k] for k in ("size", "resize", "fill")} == {"size": [24, 40], "resize": "letterbox", "fill": 200}
    assert Manifest.from_dict(raw).to_dict() == raw
    assert embeds_every_variant(bundle, [str(p) for p in sorted(shapes.rglob("*.png"))[:5]]) >= {"fp32"}
    assert "bilinear letterbox (fill 200) resize" in _input_line("input", siamese_sdk.load(bundle).input_spec())


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, kw",
    [
        ("koch", dict(arch="koch", size="72x65", resize="crop")),
        ("signet", dict(arch="signet", size=(48, 72), width=8, resize="crop")),
        ("backbone", dict(arch="tiny_backbone:tiny_resnet", size="40,32", resize="letterbox")),
        ("convnet4-stretch", dict(size="20x36")),
    ],
)
def test_every_arch_trains_exports_and_embeds_non_square(name, kw, shapes, tmp_path):
    from siamese_sdk.format.inputs import Preprocess
    from siamese_trainer.checkpoint import load

    config, bundle = train_export(shapes, tmp_path / name, **kw)
    hw = config.resolved().hw
    ckpt = load(tmp_path / name / "model.pt")
    assert ckpt["model"]["input_size"] == list(hw) and ckpt["config"]["size"] == hw
    assert Preprocess.from_dict(ckpt["preprocess"]).size == hw
    assert embeds_every_variant(bundle, [str(p) for p in sorted(shapes.rglob("*.png"))[:4]]) >= {"fp32"}


@pytest.mark.slow
def test_two_branch_takes_a_non_square_size_per_branch(shapes, tmp_path):
    import siamese_sdk

    sketches = make_shapes(tmp_path / "b", invert=True)
    _, bundle = train_export(shapes, tmp_path / "run", pseudo=True, data_b=str(sketches), size="24,32", size_b="32x24", resize="letterbox")
    m = siamese_sdk.load(bundle)
    assert m.preprocess_spec("a").size == (24, 32) and m.preprocess_spec("b").size == (32, 24)
    assert m.preprocess_spec("b").resize == "letterbox"
    for branch, root in (("a", shapes), ("b", sketches)):
        assert embeds_every_variant(bundle, [str(p) for p in sorted(root.rglob("*.png"))[:3]], branch=branch) >= {"fp32"}


@pytest.mark.slow
def test_csv_image_pairs_take_a_non_square_crop(shapes, tmp_path):
    import siamese_sdk
    from siamese_sdk.format.pixels import to_array

    files = [sorted((shapes / f"c{c}").glob("*.png")) for c in range(6)]
    rng = np.random.default_rng(0)
    lines = ["a,b,label"]
    for n in range(40):
        c, d = rng.choice(6, 2, replace=False)
        lines.append(f"{files[c][n % 4]},{files[c][(n + 1) % 4] if n % 2 == 0 else files[d][n % 4]},{1 - n % 2}")
    csv = tmp_path / "pairs.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config, bundle = train_export(csv, tmp_path / "run", size="24,36", resize="crop", width=8, p=4, k=4)
    m = siamese_sdk.load(bundle)
    pre = config.resolved().preprocess()
    assert m.preprocess_spec() == pre and pre.resize == "crop"
    assert np.array_equal(m.preprocess([str(files[0][0])])[0], to_array(files[0][0], pre))
    assert embeds_every_variant(bundle, [str(files[0][0]), str(files[1][0])]) >= {"fp32"}
