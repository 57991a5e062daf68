"""Training: exact resume, refusing to overwrite a run, clear data errors, class-disjoint splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_sdk.errors import InputError  # noqa: E402
from siamese_sdk.tools.imagefolder import ImageFolder  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402
from siamese_trainer.data.images import split_classes  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402


def quiet(_: str) -> None:
    pass


def _config(data: Path, out: Path, epochs: int = 2) -> TrainConfig:
    return TrainConfig(
        data=str(data), out=str(out), epochs=epochs, p=4, k=4, batches_per_epoch=3, embedding_dim=8, val_fraction=0.34, seed=1
    )


def _state(run: Path) -> dict[str, torch.Tensor]:
    return checkpoint.load(run / "model.pt")["state_dict"]


def _history(run: Path) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in checkpoint.load(run / "model.pt")["history"]]


@pytest.fixture(scope="module")
def run_a(tiny_data, tmp_path_factory) -> Path:
    """Two epochs, uninterrupted."""
    out = tmp_path_factory.mktemp("train") / "A"
    train(_config(tiny_data, out), log=quiet, progress=False)
    return out


# ---------------------------------------------------------------- resume


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_equals_an_uninterrupted_run(run_a, tiny_data, tmp_path):
    out = tmp_path / "B"

    def stop_in_epoch_2(line: str) -> None:  # logged before epoch 2 is checkpointed: epoch 1 is all that is saved
        if line.startswith("epoch 2/2"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(_config(tiny_data, out), log=stop_in_epoch_2, progress=False)
    assert checkpoint.load(out / "model.pt")["epoch"] == 1

    train(TrainConfig(out=str(out), epochs=2), resume=True, log=quiet, progress=False)
    a, b = _state(run_a), _state(out)
    assert a.keys() == b.keys()
    unequal = [k for k in a if not torch.equal(a[k], b[k])]
    assert not unequal, f"resumed run differs from the uninterrupted one in {unequal}"
    assert _history(out) == _history(run_a)


def test_resume_with_more_epochs_keeps_learning(tiny_data, tmp_path):
    """Raising --epochs on a finished run re-plans the cosine schedule instead of staying at its final lr of 0.

    (This is not bit-equal to a run planned for 2 epochs from the start: epoch 1's learning rates followed the
    1-epoch schedule.)
    """
    out = tmp_path / "C"
    train(_config(tiny_data, out, epochs=1), log=quiet, progress=False)
    before = checkpoint.load(out / "model.pt")
    assert before["optimizer"]["param_groups"][0]["lr"] == 0.0  # the 1-epoch cosine ended at 0

    train(TrainConfig(out=str(out), epochs=2), resume=True, log=quiet, progress=False)
    after = checkpoint.load(out / "model.pt")
    assert after["epoch"] == 2 and len(after["history"]) == 2 and after["config"]["epochs"] == 2
    assert after["scheduler"]["T_max"] == 2 * 3
    learnable = [k for k, v in after["state_dict"].items() if v.is_floating_point() and "running" not in k]
    changed = [k for k in learnable if not torch.equal(before["state_dict"][k], after["state_dict"][k])]
    assert changed == learnable, "weights did not move in the resumed epoch"


def test_resume_of_a_completed_run_is_a_no_op(run_a):
    before = (run_a / "model.pt").read_bytes()
    lines: list[str] = []
    path = train(TrainConfig(out=str(run_a), epochs=1), resume=True, log=lines.append, progress=False)
    assert path == run_a / "model.pt" and (run_a / "model.pt").read_bytes() == before
    assert "already completed 2 epoch(s)" in lines[-1]


def test_existing_run_without_resume_is_refused(run_a, tiny_data):
    before = (run_a / "model.pt").read_bytes()
    with pytest.raises(InputError, match="exists; pass --resume"):
        train(_config(tiny_data, run_a), log=quiet, progress=False)
    assert (run_a / "model.pt").read_bytes() == before


def test_resume_with_nothing_to_resume(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        train(TrainConfig(out=str(tmp_path / "new")), resume=True, log=quiet, progress=False)
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------- data and settings errors


def _make_data(root: Path, source: Path, classes: int, per_class: int) -> Path:
    pngs = sorted(source.rglob("*.png"))
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            shutil.copy(pngs[c * 8 + i], root / f"class{c}" / f"{i}.png")
    root.mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize(
    "classes, per_class, match",
    [
        (0, 0, "no images found under"),
        (1, 5, r"has 1 class\(es\) with >= 2 images; need at least 4"),
        (6, 1, r"has 0 class\(es\) with >= 2 images; need at least 4"),
        (3, 4, r"has 3 class\(es\) with >= 2 images; need at least 4 \(2 to train, 2 to validate\)"),
    ],
    ids=["empty", "one-class", "one-image-each", "three-classes"],
)
def test_unusable_data(tiny_data, tmp_path, classes: int, per_class: int, match: str):
    data = _make_data(tmp_path / "data", tiny_data, classes, per_class)
    with pytest.raises(InputError, match=match):
        train(_config(data, tmp_path / "run"), log=quiet, progress=False)
    assert not (tmp_path / "run").exists()  # nothing written for a run that never started


def test_missing_data_folder(tmp_path):
    with pytest.raises(InputError, match="data folder not found"):
        train(_config(tmp_path / "nope", tmp_path / "run"), log=quiet, progress=False)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"loss": "hinge"}, "--loss 'hinge' unknown"),
        ({"arch": "resnet"}, "--arch 'resnet' unknown"),
        ({"metric": "manhattan"}, "--metric 'manhattan' unknown"),
        ({"k": 1}, "--p and --k >= 2"),
        ({"channels": 2}, "--channels 2 invalid"),
        ({"val_fraction": 1.0}, r"--val-fraction 1.0 must be in \(0, 1\)"),
        ({"loss": "ntxent", "temperature": 0.0}, "--temperature 0.0 must be > 0"),
    ],
)
def test_bad_settings(tiny_data, tmp_path, change: dict, match: str):
    config = TrainConfig(**{**vars(_config(tiny_data, tmp_path / "run")), **change})
    with pytest.raises(InputError, match=match):
        train(config, log=quiet, progress=False)


@pytest.mark.parametrize("classes, per_class, expect", [(0, 0, "no images found"), (6, 1, "need at least 4")])
def test_train_cli_bad_data_is_one_line(tiny_data, tmp_path, classes: int, per_class: int, expect: str):
    from siamese_trainer.cli import main as train_cli

    data = _make_data(tmp_path / "data", tiny_data, classes, per_class)
    r = CliRunner().invoke(train_cli, ["--data", str(data), "--out", str(tmp_path / "run"), "--quiet"])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expect in lines[0], r.output


# ---------------------------------------------------------------- class split


def _folder(counts: list[int]) -> ImageFolder:
    classes = [f"c{i:02d}" for i in range(len(counts))]
    paths = [Path(f"{c}/{j}.png") for c, n in zip(classes, counts, strict=True) for j in range(n)]
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    return ImageFolder(root=Path("data"), classes=classes, paths=paths, labels=labels)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("val_fraction", [0.01, 0.2, 0.5, 0.99])
def test_split_is_class_disjoint(seed: int, val_fraction: float):
    counts = [3, 1, 5, 2, 4, 0, 2, 8, 1, 3, 2, 6]  # classes c01, c05 and c08 cannot form a positive pair
    folder = _folder(counts)
    train_classes, val_classes = split_classes(folder, val_fraction, seed)
    usable = {c for c, n in zip(folder.classes, counts, strict=True) if n >= 2}
    assert not set(train_classes) & set(val_classes)
    assert set(train_classes) | set(val_classes) == usable
    assert len(train_classes) >= 2 and len(val_classes) >= 2
    assert train_classes == sorted(train_classes) and val_classes == sorted(val_classes)
    assert split_classes(folder, val_fraction, seed) == (train_classes, val_classes)  # deterministic


def test_split_of_a_real_run_is_class_disjoint(run_a, tiny_data):
    split = json.loads((run_a / "split.json").read_text())
    data = checkpoint.load(run_a / "model.pt")["data"]
    assert (split["train"], split["val"]) == (data["train_classes"], data["val_classes"])
    assert not set(split["train"]) & set(split["val"])
    assert len(split["val"]) == 4 and len(split["train"]) == 8  # round(0.34 * 12)
    assert set(split["train"]) | set(split["val"]) == set(ImageFolder.scan(tiny_data).classes)


def test_random_thickness_grows_and_thins_strokes():
    from siamese_trainer.data.augment import random_thickness

    x = torch.ones(64, 1, 9, 9)
    x[:, :, 4, 4] = -1.0  # one dark dot on white
    torch.manual_seed(0)
    y = random_thickness(x, 1.0)
    ring = y[:, 0, 3:6, 3:6].sum((1, 2)) - y[:, 0, 4, 4]  # the 8 neighbours
    assert (ring < 8 - 1e-3).any() and (y[:, 0, 4, 4] > -1 + 1e-3).any()  # some dots grew, some faded
    assert torch.all((ring >= 8 - 1e-6) | (y[:, 0, 4, 4] <= -1 + 1e-6))  # never both at once
    assert torch.equal(y[:, :, 0], x[:, :, 0]) and torch.equal(random_thickness(x, 0.0), x)  # far pixels untouched


def test_preset_omniglot_typed_flags_win(tiny_data, tmp_path):
    from siamese_trainer.cli import main as cli
    from siamese_trainer.config import PRESETS

    out = tmp_path / "run"
    args = ["--preset", "omniglot", "--data", str(tiny_data), "--out", str(out), "--quiet", "--epochs", "1"]
    args += ["--batches-per-epoch", "2", "--p", "4", "--width", "8", "--embedding-dim", "16", "--thickness", "0.3"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "metrics.json").read_text())["config"]
    typed = {"epochs": 1, "batches_per_epoch": 2, "p": 4, "width": 8, "embedding_dim": 16, "thickness": 0.3}
    assert {k: cfg[k] for k in typed} == typed
    preset = PRESETS["omniglot"]
    assert {k: cfg[k] for k in preset if k not in typed} == {k: v for k, v in preset.items() if k not in typed}


def test_ntxent_run_normalises_and_learns(tiny_data, tmp_path):
    from siamese_trainer.cli import main as cli

    out = tmp_path / "run"
    args = ["--data", str(tiny_data), "--out", str(out), "--quiet", "--loss", "ntxent", "--temperature", "0.2"]
    args += ["--epochs", "3", "--batches-per-epoch", "4", "--p", "4", "--k", "2", "--embedding-dim", "8", "--val-fraction", "0.34"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    ck = checkpoint.load(out / "model.pt")
    assert ck["model"]["normalize"] is True and ck["config"]["temperature"] == 0.2
    losses = [row["train_loss"] for row in ck["history"]]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
