"""``TrainConfig`` is the one place of the training defaults: ``siamese-train``'s options take theirs from it."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner
from siamese_sdk.errors import InputError
from siamese_trainer.cli import main
from siamese_trainer.config import ARCH_DEFAULTS, DEFAULT_LR, DEFAULT_NORM, DEFAULT_SIZE, DEFAULT_WIDTH, TrainConfig


def test_every_option_defaults_to_the_config_field():
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    # no_augment: the old spelling of --augment none, an alias without a field of its own; recipe_mode: not a config field
    options = {p.name: p for p in main.params if p.name not in ("out", "resume", "quiet", "examples", "version", "no_augment", "recipe_mode")}
    assert set(options) <= set(fields), set(options) - set(fields)
    for name, option in options.items():
        default = fields[name]
        expected = str(default) if name in ("channels", "channels_b") and default is not None else default
        assert option.default == expected, name


def test_the_arch_table_and_its_views_agree():
    assert DEFAULT_SIZE == {"convnet4": 28, "koch": 105, "signet": 112, "signet-small": 96}
    assert DEFAULT_WIDTH == {"convnet4": 64, "signet": 96, "signet-small": 32}
    assert DEFAULT_NORM == {"convnet4": "batch", "signet": "lrn", "signet-small": "batch"}
    assert {a: DEFAULT_LR[a] for a in ARCH_DEFAULTS} == {"convnet4": 1e-3, "koch": 1e-3, "signet": 1e-4, "signet-small": 1e-3}


@pytest.mark.parametrize("arch, size, lr", [("convnet4", 28, 1e-3), ("koch", 105, 1e-3), ("signet", 112, 1e-4), ("signet-small", 96, 1e-3)])
def test_resolved_takes_the_arch_row(arch, size, lr):
    pytest.importorskip("torch")
    c = TrainConfig(arch=arch).resolved()
    assert (c.size, c.lr) == (size, lr)


@pytest.mark.parametrize(
    "given, size",
    [("112,92", (112, 92)), ("112x92", (112, 92)), (" 64 X 48 ", (64, 48)), ("28", 28), ("28x28", 28), (40, 40), ([112, 92], (112, 92))],
)
def test_size_takes_n_h_w_or_hxw(given, size):
    c = TrainConfig(size=given, size_b=given)
    assert c.size == size and c.size_b == size  # a square is an int, as every checkpoint stored it


@pytest.mark.parametrize("bad", ["112y92", "4", "112,92,3", "", "a,b", "28,0", 12.5, True])
def test_bad_size_is_a_one_line_error(bad):
    with pytest.raises(InputError, match=r"--size .* invalid; expected N \(square\), H,W or HxW") as e:
        TrainConfig(size=bad)
    assert "\n" not in str(e.value)


def test_cli_reports_a_bad_size_in_one_line(tmp_path):
    pytest.importorskip("torch")
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "run"), "--size-b", "112x"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: --size-b '112x' invalid; expected N (square), H,W or HxW in px (height first)")


def test_old_and_new_checkpoint_configs_load():
    """A checkpoint stores the flat config: ``size`` an int (every checkpoint so far), or (H, W) (a tuple or a list)."""
    old = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name not in ("resize", "fill")}
    assert TrainConfig(**{**old, "size": 28}).size == 28 and TrainConfig(**old).resize == "stretch"
    saved = dataclasses.asdict(TrainConfig(size="112,92", resize="letterbox", fill=255))
    assert TrainConfig(**saved).size == (112, 92) and TrainConfig(**{**saved, "size": [112, 92]}).size == (112, 92)


def test_preprocess_carries_the_size_and_the_resize_mode():
    pytest.importorskip("torch")
    c = TrainConfig(size="112x92", resize="letterbox", fill=200).resolved()
    p = c.preprocess()
    assert (p.size, p.resize, p.fill, c.hw) == ((112, 92), "letterbox", 200, (112, 92))
    assert c.preprocess((40, 30), 3).shape == (3, 40, 30) and TrainConfig(arch="koch").resolved().preprocess().size == (105, 105)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(resize="pad"), "--resize 'pad' unknown; expected one of stretch, letterbox, crop"),
        (dict(fill=10), "--fill 10 invalid; it is letterbox's pad value"),
        (dict(size="28,40", rotate_classes=True), "--rotate-classes turns images by 90 degrees, which needs a square --size"),
    ],
)
def test_resolved_refuses_impossible_resize_flags(kw, message):
    pytest.importorskip("torch")
    with pytest.raises(InputError, match=message):
        TrainConfig(**kw).resolved()


def test_a_refused_resume_names_a_non_square_size_as_typed():
    pytest.importorskip("torch")
    from siamese_trainer.checkpoint import _flag, _value

    assert _flag("size", (112, 92)) == "--size 112,92" and _value((24, 40)) == "24,40" and _flag("size", 28) == "--size 28"
