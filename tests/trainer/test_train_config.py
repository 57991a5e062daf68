"""``TrainConfig`` is the one place of the training defaults: ``siamese-train``'s options take theirs from it."""

from __future__ import annotations

import dataclasses

import pytest
from siamese_trainer.cli import main
from siamese_trainer.config import ARCH_DEFAULTS, DEFAULT_LR, DEFAULT_NORM, DEFAULT_SIZE, DEFAULT_WIDTH, TrainConfig


def test_every_option_defaults_to_the_config_field():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    # no_augment: the old spelling of --augment none, an alias without a field of its own
    options = {p.name: p for p in main.params if p.name not in ("out", "resume", "quiet", "examples", "version", "no_augment")}
    assert set(options) <= set(fields), set(options) - set(fields)
    for name, option in options.items():
        default = fields[name]
        expected = str(default) if name in ("channels", "channels_b") and default is not None else default
        assert option.default == expected, name


def test_the_arch_table_and_its_views_agree():
    assert DEFAULT_SIZE == {"convnet4": 28, "koch": 105, "signet": 112}
    assert DEFAULT_WIDTH == {"convnet4": 64, "signet": 96} and DEFAULT_NORM == {"convnet4": "batch", "signet": "lrn"}
    assert {a: DEFAULT_LR[a] for a in ARCH_DEFAULTS} == {"convnet4": 1e-3, "koch": 1e-3, "signet": 1e-4}


@pytest.mark.parametrize("arch, size, lr", [("convnet4", 28, 1e-3), ("koch", 105, 1e-3), ("signet", 112, 1e-4)])
def test_resolved_takes_the_arch_row(arch, size, lr):
    pytest.importorskip("torch")
    c = TrainConfig(arch=arch).resolved()
    assert (c.size, c.lr) == (size, lr)
