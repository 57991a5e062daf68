"""An ink bundle (``--ink normalize-crop``, ``--arch signet-small``) through training, export and the SDK, on tiny
generated signatures on grey and white paper: the trainer's pixels are the SDK's, exactly, and the manifest
records the step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("torch")
pytest.importorskip("onnx")


def make_signatures(dest: Path, classes: int = 6, per_class: int = 4) -> Path:
    """Wavy 2 px lines on 160 x 60 px pages whose paper level is grey or white."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        (dest / f"w{c}").mkdir(parents=True)
        for i in range(per_class):
            img = Image.new("L", (160, 60), int(rng.choice([238, 244, 253])))
            x = np.linspace(15, 145, 40)
            y = 30 + 12 * np.sin(x / (6 + 2 * c)) + rng.normal(0, 0.7, x.size)
            ImageDraw.Draw(img).line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=35, width=2)
            img.save(dest / f"w{c}" / f"{i}.png")
    return dest


def test_ink_training_pixels_are_the_sdk_pixels(tmp_path):
    import siamese_sdk
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_sdk.tools.imagefolder import ImageFolder
    from siamese_trainer.data.images import ImageDataset
    from siamese_trainer.train import TrainConfig, train

    data = make_signatures(tmp_path / "data")
    config = TrainConfig(
        data=str(data), out=str(tmp_path / "run"), arch="signet-small", size="32,64", resize="letterbox", fill=255,
        ink="normalize-crop", epochs=1, p=3, k=2, batches_per_epoch=2, embedding_dim=8, val_fraction=0.34,
    )  # fmt: skip
    train(config, log=lambda s: None, progress=False)
    bundle = export_bundle(tmp_path / "run" / "model.pt", tmp_path / "bundle", ExportOptions(log=lambda s: None, calibration_images=16, profiles=("openvino",)))
    raw = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert raw["input"]["preprocess"]["ink"] == "normalize-crop" and raw["input"]["shape"] == [None, 1, 32, 64]
    folder = ImageFolder.scan(data)
    trained = ImageDataset(folder, config.resolved().preprocess()).images().numpy()
    m = siamese_sdk.load(bundle, variant="fp32")
    served = m.preprocess([str(p) for p in folder.paths])
    assert trained.shape == served.shape and np.array_equal(trained, served)
    assert (np.median(served, axis=(1, 2, 3)) == 1.0).all() and (served[:, 0, :2, :2] == 1.0).all()  # grey or white paper: 255
    from siamese_sdk.cli.common import _input_line

    assert "gray, ink normalize-crop, bilinear letterbox (fill 255) resize" in _input_line("input", m.input_spec())
    emb = m.embed([str(p) for p in folder.paths[:3]])
    assert emb.shape == (3, 8) and np.all(np.isfinite(emb))


def test_ink_needs_grey_inputs(tmp_path):
    from siamese_sdk.errors import InputError
    from siamese_trainer.train import TrainConfig

    with pytest.raises(InputError, match="--ink normalize-crop reads grey strokes; add --channels 1"):
        TrainConfig(data=str(tmp_path), channels=3, ink="normalize-crop").resolved()
