"""``loop.fit`` with a toy task: how a kind of run plugs in, and what the loop does for every kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint, loop  # noqa: E402
from siamese_trainer.config import TrainConfig  # noqa: E402

STEPS = 2


class ToyTask(loop.Task):
    """One linear layer; validation AUC read from ``aucs`` (one per epoch), so improvement is scripted."""

    def __init__(self, config: TrainConfig, aucs: list[float]):
        self.config, self.out, self.aucs, self.epoch = config, Path(config.out), aucs, 0

    def build(self) -> None:
        self.net = torch.nn.Linear(2, 2)

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.net.parameters())

    def batches_per_epoch(self) -> int:
        return STEPS

    def load_state(self, state: Any) -> None:
        self.net.load_state_dict(state["state_dict"])

    def describe(self) -> str:
        return "training a toy"

    def train_mode(self) -> None:
        self.net.train()

    def batches(self, epoch: int) -> list[torch.Tensor]:
        self.epoch = epoch
        return [torch.ones(4, 2)] * STEPS

    def batch_loss(self, batch: torch.Tensor) -> torch.Tensor:
        return self.net(batch).pow(2).mean()

    def validate(self) -> dict[str, float]:
        return {"auc": self.aucs[self.epoch], "eer": 0.5}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.net.state_dict()

    def checkpoint_parts(self) -> dict[str, Any]:
        return {"model": {"arch": "toy"}, "data": {"root": "toy"}}


def _fit(tmp_path: Path, aucs: list[float], resume: bool = False, **kw: Any) -> tuple[Path, list[str]]:
    config = TrainConfig(out=str(tmp_path / "run"), lr=0.1, **kw)
    config, state = checkpoint.start_run(config, tmp_path / "run" / "model.pt", resume)
    lines: list[str] = []
    path = loop.fit(ToyTask(config, aucs), state, lines.append, progress=False)
    assert lines[0].startswith("threads: ")  # every run names its thread count first
    return path, lines[1:]


def test_best_checkpoint_patience_and_metrics(tmp_path):
    path, lines = _fit(tmp_path, [0.6, 0.8, 0.7, 0.75, 0.9], epochs=5, patience=2)
    ckpt = checkpoint.load(path)
    assert ckpt["epoch"] == 4 and [r["auc"] for r in ckpt["history"]] == [0.6, 0.8, 0.7, 0.75]  # stopped 2 after the best
    assert checkpoint.load(path.parent / "best.pt")["epoch"] == 2
    assert lines[0] == "training a toy" and lines[-1].startswith("early stop: no better validation auc for 2 epochs")
    assert lines[2].startswith("epoch 2/5  loss ") and lines[2].endswith("*best") and "val AUC 0.8000" in lines[2]
    metrics = json.loads((path.parent / "metrics.json").read_text())
    assert metrics["config"] == ckpt["config"] and metrics["history"] == ckpt["history"]
    assert ckpt["versions"] == checkpoint.versions() and ckpt["model"] == {"arch": "toy"}


def test_more_epochs_on_resume_replan_the_cosine(tmp_path):
    _fit(tmp_path, [0.5] * 4, epochs=2)
    assert checkpoint.load(tmp_path / "run" / "model.pt")["optimizer"]["param_groups"][0]["lr"] == 0.0
    config, state = checkpoint.start_run(TrainConfig(out=str(tmp_path / "run"), epochs=4), tmp_path / "run" / "model.pt", True)
    task = ToyTask(config, [0.5] * 4)
    task.build()
    optimizer = torch.optim.AdamW(task.parameters(), lr=config.lr)
    scheduler = loop.cosine_schedule(optimizer, config.epochs * STEPS, state)
    # step 4 of 8: half-way down the re-planned cosine
    assert scheduler.T_max == 8 and optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5)


def test_a_new_run_never_overwrites_and_a_finished_one_is_kept(tmp_path):
    path, _ = _fit(tmp_path, [0.5], epochs=1)
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists; pass --resume"):
        _fit(tmp_path, [0.5], epochs=1)
    _, lines = _fit(tmp_path, [0.5], resume=True, epochs=1)
    assert lines == [f"{path} already completed 1 epoch(s); pass a larger --epochs to train on"] and path.read_bytes() == before
