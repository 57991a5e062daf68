"""Shared fixtures: tiny real data (from the embedded Omniglot subset), a trained run, an exported bundle.

Everything expensive is made once per session; tests that modify a bundle copy it first (``bundle_copy``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kinds import backbone_run, learned_run, pseudo_run, signet_batch, signet_lrn  # noqa: F401  (the image model kinds)


def make_tiny_dataset(dest: Path, alphabets: int = 4, characters: int = 3, per_class: int = 8) -> Path:
    """Copy a few real Omniglot classes (``Alphabet/characterNN/*.png``) into ``dest``."""
    from siamese_trainer.data.images import copy_embedded_subset

    return copy_embedded_subset(dest, alphabets, characters, per_class)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 real classes x 8 images, 28 px grayscale, Omniglot layout."""
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "omniglot")


@pytest.fixture
def golden_folder(tmp_path) -> Path:
    """The six golden images (``tests/data/golden/images``) as three class folders (a, b, c), two each."""
    root = tmp_path / "mine"
    for img in sorted((Path(__file__).resolve().parent / "data" / "golden" / "images").glob("*.png")):
        (root / img.name[0]).mkdir(parents=True, exist_ok=True)
        shutil.copy(img, root / img.name[0] / img.name)
    return root


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory) -> Path:
    """A run directory with model.pt from a few real training steps (contrastive, convnet4)."""
    pytest.importorskip("torch")
    from siamese_trainer.train import TrainConfig, train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(
        TrainConfig(
            data=str(tiny_data), out=str(out), epochs=2, p=4, k=4, batches_per_epoch=4, embedding_dim=16, val_fraction=0.34
        ),
        log=lambda s: None,
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def bundle(trained_run) -> Path:
    """A bundle exported from ``trained_run`` (fp32, plus int8 when it passed its gates), one view (``--tta none``:
    its embeddings are the encoder's; the ``auto`` gate is tested in ``tests/export/test_tta.py``)."""
    pytest.importorskip("onnx")
    from siamese_export.pipeline import ExportOptions, export_bundle

    return export_bundle(trained_run / "model.pt", trained_run / "bundle", ExportOptions(tta="none", log=lambda s: None))


@pytest.fixture
def bundle_copy(bundle, tmp_path) -> Path:
    """A private copy of the session bundle, free to tamper with."""
    return Path(shutil.copytree(bundle, tmp_path / "bundle"))


@pytest.fixture(scope="module")
def model(bundle):
    """The session bundle loaded with the SDK (``variant="auto"``)."""
    import siamese_sdk

    return siamese_sdk.load(bundle)


@pytest.fixture(scope="module")
def images(tiny_data) -> list[Path]:
    """The tiny dataset's image files, sorted."""
    return sorted(tiny_data.rglob("*.png"))


def train_and_export_table(csv_path: Path, out: Path, **overrides) -> Path:
    """Train a tiny text/dialog model on ``csv_path`` for a few steps and export it; returns the bundle."""
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.train import TrainConfig, train

    settings = dict(epochs=1, p=4, k=4, batches_per_epoch=3, embedding_dim=16, width=16, val_fraction=0.3, max_length=24)
    train(TrainConfig(data=str(csv_path), out=str(out), **{**settings, **overrides}), log=lambda s: None, progress=False)
    return export_bundle(out / "model.pt", out / "bundle", ExportOptions(log=lambda s: None))


@pytest.fixture(scope="session")
def text_bundle(tmp_path_factory) -> Path:
    """A text bundle: BiLSTM trained a few steps on a generated ``text,label`` CSV (8 intents x 15 questions)."""
    pytest.importorskip("onnx")
    from siamese_trainer.data.paraphrase_data import write_csv

    root = tmp_path_factory.mktemp("text")
    return train_and_export_table(write_csv(root / "questions.csv", "text", 120, intents=8), root / "run")


@pytest.fixture(scope="session")
def dialog_bundle(tmp_path_factory) -> Path:
    """A dialog bundle (word tokenizer): BiLSTM final (h, c) trained a few steps on a generated ``dialog,label`` CSV."""
    pytest.importorskip("onnx")
    from siamese_trainer.data.paraphrase_data import write_csv

    root = tmp_path_factory.mktemp("dialog")
    # the word tokenizer (--tokenizer word): its bundles keep being written and read; subword pieces would also
    # make every generated dialog longer than max_length 24, leaving no mix of lengths to check
    return train_and_export_table(write_csv(root / "dialogs.csv", "dialog", 120, intents=8), root / "run", tokenizer="word")
