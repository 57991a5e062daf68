"""Augmentation families (``siamese_trainer.data.augment``): each step on a known image, on a fixed seed."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402
from siamese_trainer.data import augment  # noqa: E402
from siamese_trainer.data.augment import FAMILIES, Family, random_affine, random_thickness  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402


def _asymmetric(b: int = 4, c: int = 1, h: int = 6, w: int = 7) -> torch.Tensor:
    """Normalised images in [-1, 1] whose columns all differ (an exact flip test needs no symmetry)."""
    x = torch.arange(b * c * h * w, dtype=torch.float32).view(b, c, h, w)
    return x / x.max() * 2 - 1


def test_none_is_identity():
    x = _asymmetric()
    torch.manual_seed(0)
    assert augment.apply(x, "none") is x
    assert torch.equal(augment.apply(x, "none", thickness=0.6, mean=(0.2,), std=(0.3,)), x)


def test_strokes_is_the_affine_then_stroke_width_recipe():
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(3)
    got = augment.apply(x, "strokes", thickness=0.6)
    torch.manual_seed(3)
    want = random_thickness(random_affine(x, 10.0, 0.1, 0.1), 0.6)
    assert torch.equal(got, want)
    torch.manual_seed(3)
    assert torch.equal(augment.apply(x, "strokes"), (torch.manual_seed(3), random_affine(x))[1])  # --thickness 0: affine only


def test_strokes_values_unchanged_on_a_fixed_seed():
    """The strokes family of a known image, seed 0: the values the recipe gave before families existed."""
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 2:6, 3] = 1.0  # a vertical bar
    torch.manual_seed(0)
    y = augment.apply(x, "strokes", thickness=0.5)
    torch.manual_seed(0)
    angle = (torch.rand(2) * 2 - 1) * math.radians(10)
    s = 1 + (torch.rand(2) * 2 - 1) * 0.1
    t = (torch.rand(2, 2) * 2 - 1) * 0.2
    a = (torch.rand(2) * 2 - 1) * 0.5
    # the same draws by hand: rotation+scale+shift grid, then the blend with the 3x3 dilation / erosion
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    z = torch.nn.functional.grid_sample(
        x, torch.nn.functional.affine_grid(theta, [2, 1, 8, 8], align_corners=False), padding_mode="border", align_corners=False
    )
    grown, shrunk = torch.nn.functional.max_pool2d(z, 3, 1, 1), -torch.nn.functional.max_pool2d(-z, 3, 1, 1)
    a = a.view(2, 1, 1, 1)
    assert torch.allclose(y, z + a.clamp(min=0) * (grown - z) + (-a).clamp(min=0) * (shrunk - z), atol=1e-6)


def test_flip_is_exact_and_drawn_per_image():
    x = _asymmetric(b=64)
    torch.manual_seed(0)
    assert torch.equal(augment.apply(x, Family(flip=1.0)), x.flip(-1))
    assert torch.equal(augment.apply(x, Family(flip=0.0)), x)
    torch.manual_seed(0)
    y = augment.apply(x, Family(flip=0.5))
    flipped = [bool(torch.equal(y[i], x[i].flip(-1))) for i in range(64)]
    assert all(flipped[i] or torch.equal(y[i], x[i]) for i in range(64))
    assert 16 < sum(flipped) < 48
    torch.manual_seed(0)
    assert flipped == (torch.rand(64) < 0.5).tolist()  # one uniform per image


@pytest.mark.parametrize("step", ["brightness", "contrast", "gamma"])
def test_photometric_step_matches_its_formula(step):
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.5)
    pixels = torch.tensor([0.1, 0.3, 0.6, 0.9]).view(1, 1, 2, 2).expand(3, 3, 2, 2)  # [0, 1] values, 3 images
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    x = (pixels - m) / s
    torch.manual_seed(5)
    y = augment.apply(x, Family(**{step: 0.3}), mean=mean, std=std)
    torch.manual_seed(5)
    draws = {k: 1 + (torch.rand(3) * 2 - 1) * (0.3 if k == step else 0.0) for k in ("brightness", "contrast", "gamma")}
    f = draws[step].view(3, 1, 1, 1)  # the drawn factor per image
    if step == "brightness":
        want = (pixels * f).clamp(0, 1)
    elif step == "contrast":
        mu = pixels.mean(dim=(1, 2, 3), keepdim=True)
        want = ((pixels - mu) * f + mu).clamp(0, 1)
    else:
        want = pixels**f
    assert not torch.allclose(want, pixels)  # the factors moved the pixels
    assert torch.allclose(y, (want - m) / s, atol=1e-5)


def test_resized_crop_of_a_ramp_maps_coordinates():
    """On a linear ramp (value = column + 100 x row), a bilinear crop is exact: each output pixel holds the
    input coordinate its crop window maps it to."""
    h = w = 16
    ramp = (torch.arange(w, dtype=torch.float32).view(1, w) + 100 * torch.arange(h, dtype=torch.float32).view(h, 1))
    x = ramp.expand(5, 1, h, w).contiguous()
    torch.manual_seed(2)
    y = augment.apply(x, Family(crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0)))
    torch.manual_seed(2)
    torch.rand(5), torch.rand(5)  # area (fixed 0.25) and log-aspect (fixed 0) draws
    cx, cy = (torch.rand(5) * 2 - 1) * 0.5, (torch.rand(5) * 2 - 1) * 0.5  # the half-size window fits anywhere
    u = (2 * torch.arange(w, dtype=torch.float32) + 1) / w - 1  # output pixel centres, normalised
    for i in range(5):
        col = (((0.5 * u + cx[i] + 1) * w - 1) / 2).clamp(0, w - 1)  # the input column each output column samples
        row = (((0.5 * u + cy[i] + 1) * h - 1) / 2).clamp(0, h - 1)  # (border pixels repeat at the very edge)
        want = col.view(1, w) + 100 * row.view(h, 1)
        assert torch.allclose(y[i, 0], want, atol=1e-3)
    assert (y.amin() >= x.amin()) and (y.amax() <= x.amax())  # inside the image
    torch.manual_seed(2)
    assert torch.allclose(augment.apply(x, Family(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))), x, atol=1e-4)  # whole image


def test_photos_family_keeps_range_and_shape():
    x = torch.rand(16, 3, 24, 24) * 2 - 1
    torch.manual_seed(0)
    y = augment.apply(x, "photos")
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert y.amin() >= -1 - 1e-6 and y.amax() <= 1 + 1e-6  # clamped to the [0, 1] pixels of mean = std = 0.5
    assert not torch.allclose(y, x)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_each_rank_draws_what_one_process_would(name):
    x = torch.rand(8, 1, 20, 20) * 2 - 1
    torch.manual_seed(4)
    whole = augment.apply(x, name, thickness=0.4)
    parts = []
    for rank in range(2):
        torch.manual_seed(4)
        parts.append(augment.apply(x[4 * rank : 4 * rank + 4], name, thickness=0.4, offset=4 * rank, total=8))
    assert torch.allclose(torch.cat(parts), whole, atol=1e-6)


def test_config_reads_old_booleans_and_checks_names():
    assert TrainConfig(augment=True).augment == "strokes" and TrainConfig(augment=False).augment == "none"
    assert TrainConfig().augment is None and TrainConfig().resolved().augment == "strokes"
    assert TrainConfig(augment="photos").resolved().augment == "photos"
    with pytest.raises(InputError, match="--augment 'flips' unknown; expected one of"):
        TrainConfig(augment="flips").resolved()


@pytest.mark.parametrize(
    ("args", "family"),
    [([], "strokes"), (["--augment"], "strokes"), (["--augment", "photos"], "photos"), (["--no-augment"], "none"),
     (["--augment=none"], "none")],
)  # fmt: skip
def test_cli_spellings(tiny_data, tmp_path, args, family):
    from siamese_trainer.cli import main as cli

    out = tmp_path / "run"
    tiny = ["--epochs", "1", "--batches-per-epoch", "1", "--p", "4", "--k", "2", "--width", "8", "--embedding-dim", "8"]
    r = CliRunner().invoke(cli, ["--data", str(tiny_data), "--out", str(out), "--quiet", "--val-fraction", "0.34", *tiny, *args])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "metrics.json").read_text())["config"]["augment"] == family


def test_cli_refuses_both_spellings(tiny_data, tmp_path):
    from siamese_trainer.cli import main as cli

    r = CliRunner().invoke(cli, ["--data", str(tiny_data), "--out", str(tmp_path / "r"), "--augment", "photos", "--no-augment"])
    assert r.exit_code != 0 and "--augment photos and --no-augment contradict" in r.output


@pytest.mark.parametrize("old", [True, False])
def test_old_checkpoint_resumes_and_exports(tiny_data, tmp_path, old):
    """A checkpoint written before the families stores augment True / False: it resumes (as strokes / none) and exports."""
    pytest.importorskip("onnx")
    from siamese_export.pipeline import ExportOptions, export_bundle

    out = tmp_path / "run"
    base = dict(data=str(tiny_data), out=str(out), p=4, k=2, batches_per_epoch=1, embedding_dim=8, width=8, val_fraction=0.34)
    train(TrainConfig(epochs=1, augment="strokes" if old else "none", **base), log=lambda s: None, progress=False)
    ck = checkpoint.load(out / "model.pt")
    ck["config"]["augment"] = old  # as written before the families
    checkpoint.save(out / "model.pt", ck)
    train(TrainConfig(epochs=2, **base), resume=True, log=lambda s: None, progress=False, given={"epochs"})
    resumed = checkpoint.load(out / "model.pt")
    assert resumed["epoch"] == 2 and resumed["config"]["augment"] == ("strokes" if old else "none")
    checkpoint.save(out / "model.pt", {**resumed, "config": {**resumed["config"], "augment": old}})
    bundle = export_bundle(out / "model.pt", tmp_path / "bundle", ExportOptions(log=lambda s: None, calibration_images=16))
    assert (bundle / "manifest.json").is_file()
