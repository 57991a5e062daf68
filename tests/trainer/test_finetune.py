"""Fine-tuning a pretrained backbone: lr groups, frozen epochs (and resume), frozen BatchNorm, channels, mean/std.

Real training of ``tests/tiny_backbone.py``'s TinyResNet (a saved ``state_dict`` stands in for pretrained
weights) on tiny generated RGB class folders, a few batches per epoch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint, finetune  # noqa: E402
from siamese_trainer.models.encoders import Encoder  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402
from tiny_backbone import IMAGENET_MEAN, IMAGENET_STD, TinyResNet  # noqa: E402

RGB = "tiny_backbone:tiny_resnet_rgb"
BODY = "backbone.body."


@pytest.fixture(scope="module")
def rgb_data(tmp_path_factory) -> Path:
    """6 classes x 6 images, 32 px RGB: a class colour plus per-image noise and a random bright square."""
    root = tmp_path_factory.mktemp("rgb") / "data"
    rng = np.random.default_rng(0)
    for c in range(6):
        colour = rng.integers(40, 215, size=3)
        (root / f"class{c}").mkdir(parents=True)
        for i in range(6):
            img = np.clip(colour + rng.normal(0, 25, (32, 32, 3)), 0, 255)
            y, x = rng.integers(0, 24, 2)
            img[y : y + 8, x : x + 8] = 255
            Image.fromarray(img.astype(np.uint8)).save(root / f"class{c}" / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A 'pretrained' TinyResNet (RGB): its state_dict saved to a file, BN statistics not at their init values."""
    torch.manual_seed(7)
    net = TinyResNet(in_channels=3)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("w") / "pretrained.pt"
    torch.save(net.state_dict(), path)
    return path


def _config(data: Path, out: Path, weights: Path, **kw) -> TrainConfig:
    base = dict(arch=RGB, weights=str(weights), channels=3, size=32, epochs=1, p=4, k=2, batches_per_epoch=3,
                embedding_dim=8, val_fraction=0.34, augment="photos", lr=1e-2)  # fmt: skip
    return TrainConfig(data=str(data), out=str(out), **{**base, **kw})


def _body(state: dict) -> dict:
    """The backbone's weights and buffers of a checkpoint ``state_dict``, keyed as in the factory's module."""
    return {k[len(BODY) :]: v for k, v in state.items() if k.startswith(BODY)}


def _changed(before: dict, after: dict, keys: list[str]) -> list[str]:
    return [k for k in keys if not torch.equal(before[k], after[k])]


def test_param_groups_split_backbone_and_head():
    enc = Encoder(RGB, 3, 8, (32, 32), True)
    body = finetune.body(enc)
    assert body is enc.backbone.body
    params = list(enc.parameters())
    assert finetune.param_groups(params, [body], 1e-3, 1.0) is params  # one group: as before the flag
    head, back = finetune.param_groups(params, [body], 1e-3, 0.1)
    assert head["lr"] == 1e-3 and back["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in back["params"]} == {id(p) for p in body.parameters()}
    assert {id(p) for p in head["params"]} == {id(p) for p in enc.backbone.proj.parameters()}
    assert finetune.body(Encoder("convnet4", 1, 8, (28, 28), True)) is not None  # built-ins: their features


def test_backbone_lr_mult_trains_two_groups(rgb_data, weights, tmp_path):
    out = tmp_path / "run"
    train(_config(rgb_data, out, weights, backbone_lr_mult=0.1), log=lambda s: None, progress=False)
    ck = checkpoint.load(out / "model.pt")
    groups = ck["optimizer"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == [1e-2, pytest.approx(1e-3)]
    assert ck["scheduler"]["base_lrs"] == [1e-2, pytest.approx(1e-3)]  # the cosine schedule runs both from there
    n_body = len(list(TinyResNet(in_channels=3).parameters())) - 2  # its fc (weight, bias) is removed
    assert [len(g["params"]) for g in groups] == [2, n_body]  # head: the projection's weight and bias
    assert ck["config"]["backbone_lr_mult"] == 0.1


def test_frozen_epochs_leave_the_backbone_then_resume_unfreezes(rgb_data, weights, tmp_path):
    out = tmp_path / "run"
    lines: list[str] = []
    loaded = torch.load(weights, weights_only=True)
    train(_config(rgb_data, out, weights, freeze_epochs=1), log=lines.append, progress=False)
    first = checkpoint.load(out / "model.pt")["state_dict"]
    body = _body(first)
    assert set(body) <= set(loaded) and len(body) == len(loaded) - 2  # every key but fc's
    assert not _changed(loaded, body, list(body))  # weights and BN statistics exactly as loaded
    assert any("backbone frozen for the first 1 epoch" in s for s in lines)
    lines.clear()
    train(_config(rgb_data, out, weights, freeze_epochs=1, epochs=2), resume=True, log=lines.append, progress=False, given={"epochs"})
    second = checkpoint.load(out / "model.pt")["state_dict"]
    convs = [k for k in body if k.endswith("weight") and body[k].ndim == 4]
    assert _changed(body, _body(second), convs) == convs  # every conv trained once unfrozen
    assert any("backbone unfrozen" in s for s in lines)
    assert not torch.equal(first["backbone.proj.weight"], second["backbone.proj.weight"])


def test_head_trains_while_the_backbone_is_frozen(rgb_data, weights, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train(_config(rgb_data, a, weights, freeze_epochs=1, lr=1e-30), log=lambda s: None, progress=False)
    train(_config(rgb_data, b, weights, freeze_epochs=1), log=lambda s: None, progress=False)
    sa, sb = checkpoint.load(a / "model.pt")["state_dict"], checkpoint.load(b / "model.pt")["state_dict"]
    assert not torch.equal(sa["backbone.proj.weight"], sb["backbone.proj.weight"])  # lr 1e-2 moved the head


def test_freeze_bn_keeps_running_statistics(rgb_data, weights, tmp_path):
    loaded = torch.load(weights, weights_only=True)
    stats = [k for k in loaded if k.endswith(("running_mean", "running_var")) and not k.startswith("fc")]
    out, free = tmp_path / "frozen", tmp_path / "free"
    train(_config(rgb_data, out, weights, freeze_bn=True), log=lambda s: None, progress=False)
    train(_config(rgb_data, free, weights), log=lambda s: None, progress=False)
    body, free_body = _body(checkpoint.load(out / "model.pt")["state_dict"]), _body(checkpoint.load(free / "model.pt")["state_dict"])
    assert not _changed(loaded, body, stats)  # statistics as loaded
    assert _changed(loaded, free_body, stats) == stats  # (without the flag they move)
    affine = [k for k in body if k.startswith(("stem.1", "layer1.0.bn1")) and k.endswith(("weight", "bias"))]
    assert _changed(loaded, body, affine) == affine  # BN weights and biases still train
    assert int(body["stem.1.num_batches_tracked"]) == int(loaded["stem.1.num_batches_tracked"])


def test_channel_mismatch_is_one_line_with_the_fix(tiny_data, weights, tmp_path):
    from siamese_trainer.cli import main as cli

    with pytest.raises(InputError, match=r"--channels 1 but tiny_backbone:tiny_resnet_rgb declares a 3-channel mean/std; pass --channels 3"):
        TrainConfig(data=str(tiny_data), arch=RGB).resolved()
    args = ["--data", str(tiny_data), "--out", str(tmp_path / "r"), "--arch", RGB, "--weights", str(weights), "--size", "32"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and len(r.output.strip().splitlines()) == 1, r.output
    assert "pass --channels 3 (grey images are converted to RGB by repeating the channel)" in r.output
    with pytest.raises(InputError, match=r"first layer \(stem.0: Conv2d\) takes 3 channel\(s\); pass --channels 3"):
        Encoder(RGB, 1, 8, (32, 32), True)  # the factory's own first layer, declared normalisation or not


def test_fine_tune_flags_refused_without_an_image_backbone():
    cfg = TrainConfig(freeze_bn=True).resolved()
    with pytest.raises(InputError, match="--freeze-bn fine-tune an image encoder's backbone; this run has none"):
        finetune.check(cfg, [], distributed=False)
    with pytest.raises(InputError, match="--freeze-epochs does not run under torchrun"):
        finetune.check(TrainConfig(freeze_epochs=1).resolved(), [torch.nn.Conv2d(1, 1, 1)], distributed=True)


def test_declared_normalisation_reaches_the_manifest_and_the_sdk_pixels(rgb_data, weights, tmp_path):
    pytest.importorskip("onnx")
    import siamese_sdk
    from siamese_export.pipeline import ExportOptions, export_bundle

    out = tmp_path / "run"
    train(_config(rgb_data, out, weights, freeze_bn=True), log=lambda s: None, progress=False)
    ck = checkpoint.load(out / "model.pt")
    assert ck["preprocess"]["mean"] == list(IMAGENET_MEAN) and ck["preprocess"]["std"] == list(IMAGENET_STD)
    bundle = export_bundle(out / "model.pt", tmp_path / "bundle", ExportOptions(log=lambda s: None, calibration_images=16))
    pre = json.loads((bundle / "manifest.json").read_text())["input"]["preprocess"]
    assert pre["mean"] == list(IMAGENET_MEAN) and pre["std"] == list(IMAGENET_STD) and pre["channels"] == 3
    png = sorted(rgb_data.rglob("*.png"))[0]
    model = siamese_sdk.load(bundle)
    want = (np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(model.preprocess([png])[0], want.transpose(2, 0, 1), atol=1e-6)
    assert model.embed([png]).shape == (1, 8)


def test_mean_std_flags_override(tiny_data, tmp_path):
    from siamese_trainer.cli import main as cli

    out = tmp_path / "run"
    tiny = ["--epochs", "1", "--batches-per-epoch", "1", "--p", "4", "--k", "2", "--width", "8", "--embedding-dim", "8"]
    r = CliRunner().invoke(cli, ["--data", str(tiny_data), "--out", str(out), "--quiet", "--val-fraction", "0.34", *tiny,
                                 "--mean", "0.9", "--std", "0.25"])  # fmt: skip
    assert r.exit_code == 0, r.output
    pre = checkpoint.load(out / "model.pt")["preprocess"]
    assert pre["mean"] == [0.9] and pre["std"] == [0.25]
    bad = CliRunner().invoke(cli, ["--data", str(tiny_data), "--out", str(tmp_path / "b"), "--mean", "0.1,0.2"])
    assert bad.exit_code != 0 and "--mean has 2 value(s); --channels 1 needs 1" in bad.output
    bad = CliRunner().invoke(cli, ["--data", str(tiny_data), "--out", str(tmp_path / "c"), "--mean", "a,b"])
    assert bad.exit_code != 0 and "not a comma list of numbers" in bad.output
