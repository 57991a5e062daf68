"""Session-scoped fixtures for the image model kinds (imported by ``conftest.py``): tiny real runs, exported.

SigNet (LRN; BatchNorm + the learned head), a user backbone (``tiny_backbone.py``), and a pseudo-Siamese
run whose branch b sees a second domain made from the same Omniglot images.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageOps

TINY = dict(epochs=1, p=4, k=4, batches_per_epoch=3, embedding_dim=16, val_fraction=0.34, augment=False)


def _run(tmp_path_factory, tiny_data, name: str, **kw) -> tuple:
    pytest.importorskip("torch")
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.train import TrainConfig, train

    out = tmp_path_factory.mktemp("kinds") / name
    train(TrainConfig(data=str(tiny_data), out=str(out), **{**TINY, **kw}), log=lambda s: None, progress=False)
    return out, export_bundle(out / "model.pt", out / "bundle", ExportOptions(log=lambda s: None, calibration_images=64))


@pytest.fixture(scope="session")
def signet_lrn(tiny_data, tmp_path_factory):
    return _run(tmp_path_factory, tiny_data, "signet-lrn", arch="signet", size=48, width=8)


@pytest.fixture(scope="session")
def signet_batch(tiny_data, tmp_path_factory):
    """SigNet with BatchNorm, trained with the learned head (one run covers both, to keep the suite fast)."""
    return _run(tmp_path_factory, tiny_data, "signet-bn", arch="signet", size=48, width=8, norm="batch", head="learned")


@pytest.fixture(scope="session")
def backbone_run(tiny_data, tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tiny_backbone import TinyResNet

    weights = tmp_path_factory.mktemp("w") / "tiny.pt"
    torch.manual_seed(1)
    torch.save(TinyResNet().state_dict(), weights)
    return _run(tmp_path_factory, tiny_data, "backbone", arch="tiny_backbone:tiny_resnet", size=32, weights=str(weights))


@pytest.fixture(scope="session")
def learned_run(signet_batch):
    return signet_batch


def make_second_domain(src: Path, dest: Path, size: int = 36) -> Path:
    """Every image of ``src`` (same class folders) resized to ``size`` px, strokes thickened, inverted."""
    for png in sorted(src.rglob("*.png")):
        out = dest / png.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        img = Image.open(png).convert("L").resize((size, size), Image.BILINEAR).filter(ImageFilter.MinFilter(3))
        ImageOps.invert(img).save(out)
    return dest


@pytest.fixture(scope="session")
def pseudo_run(tiny_data, tmp_path_factory):
    pytest.importorskip("torch")
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.train import TrainConfig, train

    root = tmp_path_factory.mktemp("pseudo")
    sketches = make_second_domain(tiny_data, root / "inverted")
    out = root / "run"
    config = TrainConfig(
        data=str(tiny_data), data_b=str(sketches), pseudo=True, size_b=36, out=str(out),
        epochs=1, p=4, k=4, batches_per_epoch=3, embedding_dim=16, val_fraction=0.34, augment=False,
    )  # fmt: skip
    train(config, log=lambda s: None, progress=False)
    bundle = export_bundle(out / "model.pt", out / "bundle", ExportOptions(log=lambda s: None, calibration_images=64))
    return out, bundle, sketches


