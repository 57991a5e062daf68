"""One training loop for every kind of run: what image-folder runs do, CSV and pseudo-Siamese runs do too.

Each test here pins a behaviour that once differed between the kinds' loops: the learning-rate re-plan on
``--resume`` with more ``--epochs``, the ``versions`` a checkpoint records, ``--patience``, and flags a
kind cannot honour being refused in one line instead of silently ignored.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402
from siamese_trainer.data.paraphrase_data import write_csv  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402

BATCHES = 3
TEXT = dict(p=4, k=4, batches_per_epoch=BATCHES, embedding_dim=8, width=8, val_fraction=0.3, max_length=16)


def quiet(_: str) -> None:
    pass


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def questions(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("csv") / "questions.csv", "text", 80, intents=6)


def test_csv_resume_with_more_epochs_replans_the_learning_rate(questions, tmp_path):
    """A finished 1-epoch CSV run resumed to 3 epochs trains on the re-planned cosine, not at its final lr of 0.

    The run is stopped while epoch 3 is logged, so ``model.pt`` holds the optimizer after epoch 2:
    step ``2 * BATCHES`` of ``3 * BATCHES``, where the cosine is at ``(1 + cos(2 pi / 3)) / 2 = 1/4`` of the base lr.
    """
    out = tmp_path / "run"
    train(TrainConfig(data=str(questions), out=str(out), epochs=1, **TEXT), log=quiet, progress=False)
    before = checkpoint.load(out / "model.pt")
    base = before["config"]["lr"]
    assert before["optimizer"]["param_groups"][0]["lr"] == 0.0  # the 1-epoch cosine ended at 0

    def stop_in_epoch_3(line: str) -> None:
        if line.startswith("epoch 3/3"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(TrainConfig(out=str(out), epochs=3), resume=True, log=stop_in_epoch_3, progress=False)
    after = checkpoint.load(out / "model.pt")
    assert after["epoch"] == 2 and after["scheduler"]["T_max"] == 3 * BATCHES
    changed = [k for k, v in after["state_dict"].items() if not torch.equal(before["state_dict"][k], v)]
    assert changed, "no weight moved in the resumed epoch: it trained at a learning rate of 0"
    lr = after["optimizer"]["param_groups"][0]["lr"]
    assert lr == pytest.approx(base * (1 + math.cos(2 * math.pi / 3)) / 2, rel=1e-6)


def test_every_kind_records_the_same_versions(questions, trained_run, tmp_path):
    path = train(TrainConfig(data=str(questions), out=str(tmp_path / "run"), epochs=1, **TEXT), log=quiet, progress=False)
    image = checkpoint.load(trained_run / "model.pt")["versions"]
    assert checkpoint.load(path)["versions"].keys() == image.keys() == {"siamese_sdk", "torch"}


def test_pseudo_run_stops_at_patience(tiny_data, tmp_path):
    """With a learning rate too small to move any weight (and GroupNorm: no running statistics), validation
    never improves after epoch 1, so ``--patience 1`` stops after epoch 2, as it does for image folders."""
    config = TrainConfig(
        data=str(tiny_data), data_b=str(tiny_data), pseudo=True, out=str(tmp_path / "run"), epochs=4, patience=1,
        lr=1e-30, norm="group", p=4, k=4, batches_per_epoch=2, embedding_dim=8, width=8, val_fraction=0.34, augment=False,
    )  # fmt: skip
    lines: list[str] = []
    path = train(config, log=lines.append, progress=False)
    assert len(checkpoint.load(path)["history"]) == 2
    assert any(line.startswith("early stop: no better validation auc for 1 epochs") for line in lines)


@pytest.mark.parametrize("layout", ["text", "pairs"])
def test_csv_runs_refuse_the_learned_head(layout, tmp_path):
    """The CSV loop never trained nor saved a learned head (and crashed on pairs); refused in one line, nothing written."""
    csv = write_csv(tmp_path / f"{layout}.csv", layout, 40, intents=6)
    config = TrainConfig(data=str(csv), out=str(tmp_path / "run"), epochs=1, head="learned", **TEXT)
    with pytest.raises(InputError, match="--head learned is for image folders"):
        train(config, log=quiet, progress=False)
    assert not (tmp_path / "run").exists()


def test_pseudo_run_resumes_like_an_uninterrupted_run(tiny_data, tmp_path):
    """Two-branch runs resume through the same loop: interrupted in epoch 2, resumed, both branches equal a straight run."""

    def config(out):
        return TrainConfig(
            data=str(tiny_data), data_b=str(tiny_data), pseudo=True, size_b=32, out=str(out), epochs=2,
            p=4, k=4, batches_per_epoch=2, embedding_dim=8, width=8, val_fraction=0.34,
        )  # fmt: skip

    straight = checkpoint.load(train(config(tmp_path / "a"), log=quiet, progress=False))

    def stop_in_epoch_2(line: str) -> None:
        if line.startswith("epoch 2/2"):
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config(tmp_path / "b"), log=stop_in_epoch_2, progress=False)
    assert checkpoint.load(tmp_path / "b" / "model.pt")["epoch"] == 1
    resumed = checkpoint.load(train(TrainConfig(out=str(tmp_path / "b"), epochs=2), resume=True, log=quiet, progress=False))
    assert resumed["epoch"] == 2
    for a, b in [(straight, resumed), (straight["branches"]["b"], resumed["branches"]["b"])]:
        unequal = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
        assert not unequal, f"resumed run differs from the uninterrupted one in {unequal}"
