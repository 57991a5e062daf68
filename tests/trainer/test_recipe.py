"""The data recipe of siamese-train: what it reads from a folder, what it picks, and that flags win."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from siamese_trainer import checkpoint, recipe
from siamese_trainer.cli import main


def make_folder(root: Path, kind: str, classes: int = 6, per_class: int = 5, size: tuple[int, int] = (40, 30)) -> Path:
    """``classes`` folders of ``per_class`` PNGs, ``size = (width, height)``: ``strokes`` (black lines on white),
    ``photos`` (smooth grey gradients with noise) or ``colour`` (smooth RGB)."""
    rng = np.random.default_rng(0)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    for c in range(classes):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            if kind == "strokes":
                a = np.full((h, w), 255, np.uint8)
                a[h // 3 + (i + c) % 5, 2 : w - 2] = 0
                a[2 : h - 2, w // 4 + c] = 0
                img = Image.fromarray(a, "L")
            else:
                base = 60 + 120 * (np.sin(3 * xx + c) * np.cos(2 * yy + i) * 0.5 + 0.5) + rng.normal(0, 5, (h, w))
                a = np.clip(base, 0, 255).astype(np.uint8)
                img = Image.fromarray(a, "L") if kind == "photos" else Image.fromarray(np.stack([a, 255 - a, a // 2], -1), "RGB")
            img.save(d / f"{i}.png")
    return root


def test_inspect_tells_strokes_from_photos_and_grey_from_colour(tmp_path):
    strokes = recipe.inspect(make_folder(tmp_path / "s", "strokes", size=(120, 40)))
    photos = recipe.inspect(make_folder(tmp_path / "p", "photos", size=(30, 40)))
    colour = recipe.inspect(make_folder(tmp_path / "c", "colour"))
    assert (strokes.classes, strokes.images, strokes.per_class) == (6, 30, 5)
    assert (strokes.width, strokes.height, strokes.aspect) == (120, 40, 3.0)
    assert strokes.strokes and strokes.grey and strokes.ink_share > recipe.STROKE_SHARE
    assert not photos.strokes and photos.grey and photos.aspect == pytest.approx(0.75)
    assert not colour.strokes and not colour.grey


def profile(**kw) -> recipe.DataProfile:
    base = dict(classes=40, images=400, per_class=10, height=112, width=92, grey=True, strokes=False, ink_share=0.3)
    merged = {**base, **kw}
    return recipe.DataProfile(**{"usable": merged["classes"], **merged})  # every class usable unless said


def test_picks_follow_the_data():
    faces = recipe.pick(profile())
    assert faces["size"][0] == (64, 56) and faces["resize"][0] == "letterbox"  # tall: 112 x 92 keeps its aspect
    assert faces["augment"][0] == "photos" and faces["loss"][0] == "ntxent" and "thickness" not in faces
    assert faces["p"][0] == 16 and faces["k"][0] == 4 and faces["channels"][0] == 1
    assert faces["select"][0] == "last"  # 8 validation classes cannot pick an epoch
    omniglot = recipe.pick(profile(height=105, width=105, strokes=True, classes=964, images=19280, per_class=20))
    assert omniglot["size"][0] == 28 and omniglot["resize"][0] == "stretch" and omniglot["augment"][0] == "strokes"
    assert omniglot["p"][0] == 32 and omniglot["thickness"][0] == 0.6 and "select" not in omniglot
    signatures = recipe.pick(profile(height=200, width=600, strokes=True))
    assert signatures["size"][0] == (48, 144) and signatures["resize"][0] == "letterbox"
    few = recipe.pick(profile(classes=5, images=15, per_class=3, grey=False))
    assert few["p"][0] == 3 and few["k"][0] == 2 and few["channels"][0] == 3
    total = few["epochs"][0] * few["batches_per_epoch"][0]
    assert recipe.MIN_BATCHES <= total <= recipe.MAX_BATCHES


def test_given_flags_win_and_an_arch_keeps_its_size(tmp_path):
    root = make_folder(tmp_path / "p", "photos")
    _, chosen, reasons = recipe.choose(root, given={"loss", "augment"}, arch_given=True)
    assert "loss" not in chosen and "augment" not in chosen and "size" not in chosen and "lr" not in chosen
    assert chosen.keys() == reasons.keys() and "p" in chosen
    _, chosen, _ = recipe.choose(root, given={"margin"})  # a margin means a margin loss: the recipe keeps it
    assert "loss" not in chosen and "embedding_dim" not in chosen and "augment" in chosen


def train_cli(args: list[str]) -> tuple[str, dict]:
    result = CliRunner().invoke(main, [*args, "--epochs", "1", "--batches-per-epoch", "1", "--embedding-dim", "8", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    return result.output, checkpoint.load(out / "model.pt")["config"]


def test_cli_prints_and_records_the_recipe(tmp_path):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    output, config = train_cli(["--data", str(root), "--out", str(tmp_path / "run"), "--loss", "triplet"])
    assert "recipe: 8 classes, 40 images" in output and "--augment photos" in output and "--loss ntxent" not in output
    assert config["loss"] == "triplet" and config["resize"] == "letterbox" and tuple(config["size"]) == (48, 64)
    assert config["recipe"]["augment"].startswith("photos (") and "loss" not in config["recipe"]
    assert config["select"] == "last"  # 2 validation classes: best.pt is the last epoch
    assert checkpoint.load(tmp_path / "run" / "best.pt")["epoch"] == 1


def test_recipe_off_keeps_the_fixed_defaults(tmp_path):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    output, config = train_cli(["--data", str(root), "--out", str(tmp_path / "run"), "--recipe", "off"])
    assert "recipe:" not in output
    assert config["recipe"] is None and config["loss"] == "contrastive" and config["size"] == 28


def make_writing(root: Path, kind: str, classes: int = 6, per_class: int = 4) -> Path:
    """``signatures``: thin (2 px) wavy lines across a wide 320 x 120 px page whose paper level differs per image
    (grey 236-246 or white 253, as scanners do); ``characters``: thick (5 px) strokes on a white 64 px square."""
    from PIL import ImageDraw

    rng = np.random.default_rng(1)
    for c in range(classes):
        d = root / f"w{c}"
        d.mkdir(parents=True)
        for i in range(per_class):
            if kind == "signatures":
                paper = int(rng.choice([236, 241, 246, 253]))
                img = Image.new("L", (320, 120), paper)
                x = np.linspace(30, 290, 60)
                y = 60 + 25 * np.sin(x / (12 + 3 * c) + i * 0.1) + rng.normal(0, 1, x.size)
                ImageDraw.Draw(img).line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=30, width=2)
            else:
                img = Image.new("L", (64, 64), 255)
                ImageDraw.Draw(img).line([(12, 12 + 6 * c), (52, 40 - i), (20, 52)], fill=0, width=5)
            img.save(d / f"{i}.png")
    return root


def test_wide_detailed_strokes_get_a_larger_aspect_kept_ink_input(tmp_path):
    sig = recipe.inspect(make_writing(tmp_path / "sig", "signatures"))
    chars = recipe.inspect(make_writing(tmp_path / "chr", "characters"))
    assert sig.strokes and chars.strokes  # grey paper is still paper
    assert sig.detail >= recipe.DETAILED > chars.detail and 1.5 <= sig.stroke_width <= 3.5 <= chars.stroke_width
    assert sig.ink_width > 2 * sig.ink_height  # the ink box, not the page
    picks = recipe.pick(sig)
    (h, w), fixed = picks["size"][0], recipe.INK_SHORT
    assert fixed[0] <= h <= fixed[1] and w > 2 * h and w <= recipe.INK_LONG and picks["resize"][0] == "letterbox"
    assert picks["ink"][0] == "normalize-crop" and picks["fill"][0] == 255 and picks["arch"][0] == "signet-small"
    assert picks["p"][0] <= 16 and picks["augment"][0] == "strokes"
    small = recipe.pick(chars)  # single characters keep today's small, fast input
    assert small["size"][0] == recipe.STROKE_SIDE and small["resize"][0] == "stretch"
    assert not {"ink", "fill", "arch"} & small.keys() and small["p"][0] == 6 - 2  # all training classes, as before


def test_flags_the_ink_picks_depend_on_win(tmp_path):
    root = make_writing(tmp_path / "sig", "signatures")
    _, chosen, _ = recipe.choose(root, given={"resize", "channels", "width"})
    assert not {"fill", "ink", "arch", "resize"} & chosen.keys() and "size" in chosen
    _, chosen, _ = recipe.choose(root, given={"arch"}, arch_given=True)
    assert "arch" not in chosen and "size" not in chosen and chosen["ink"] == "normalize-crop"
    assert "fill" not in chosen  # its letterbox is the arch's to choose: a pad value alone is an error
