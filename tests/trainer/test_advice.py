"""The few-classes warnings of siamese-train: one line each, with the fix."""

from __future__ import annotations

from siamese_trainer.advice import MIN_TRAIN_CLASSES, MIN_VAL_CLASSES, class_warnings
from siamese_trainer.config import TrainConfig
from siamese_trainer.train import train


def test_no_warning_with_enough_classes():
    assert class_warnings(MIN_TRAIN_CLASSES, MIN_VAL_CLASSES, 16, 16) == []


def test_each_warning_names_its_fix():
    few, capped, tiny = class_warnings(3, 2, 16, 3)
    assert "3 training classes" in few and "rule of thumb" in few
    assert "--p 16 capped to 3" in capped and "pass --p 3" in capped
    assert "2 validation classes" in tiny and "--validation DIR" in tiny and "siamese calibrate" in tiny


def test_a_tiny_run_warns(tiny_data, tmp_path):
    lines: list[str] = []
    config = TrainConfig(data=str(tiny_data), out=str(tmp_path / "run"), epochs=1, p=16, k=4, batches_per_epoch=1, embedding_dim=8, val_fraction=0.34)
    train(config, log=lines.append, progress=False)
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert any("training classes" in w for w in warnings)
    assert any("--p 16 capped to" in w for w in warnings)
    assert any("validation classes" in w for w in warnings)
