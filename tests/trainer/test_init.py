"""``--init``: a new run from an earlier run's encoder weights, its architecture, size and preprocessing
inherited, contradicting flags refused, head and optimizer state fresh. Real training on tiny Omniglot folders."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_sdk.errors import InputError  # noqa: E402
from siamese_trainer import checkpoint, pretrained  # noqa: E402
from siamese_trainer.cli import main as train_cli  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402

FEATURES = "backbone.features."


@pytest.fixture(scope="module")
def earlier(tiny_data, tmp_path_factory) -> Path:
    """An earlier run: 24 px letterboxed, width 16, 12-d, triplet loss, two epochs."""
    out = tmp_path_factory.mktemp("init") / "earlier"
    config = TrainConfig(data=str(tiny_data), out=str(out), size=24, width=16, embedding_dim=12, resize="letterbox", fill=255,
                         loss="triplet", epochs=2, p=4, k=2, batches_per_epoch=3, val_fraction=0.34)  # fmt: skip
    train(config, log=lambda s: None, progress=False)
    return out


def _new(data: Path, out: Path, init: Path | str, **kw) -> TrainConfig:
    base = dict(loss="ntxent", epochs=1, p=4, k=2, batches_per_epoch=2, val_fraction=0.34, seed=3)
    return TrainConfig(data=str(data), out=str(out), init=str(init), **{**base, **kw})


def test_init_inherits_the_encoder_and_starts_fresh(tiny_data, earlier, tmp_path):
    lines: list[str] = []
    out = tmp_path / "new"
    train(_new(tiny_data, out, earlier, freeze_epochs=1), log=lines.append, progress=False)
    ck, old = checkpoint.load(out / "model.pt"), checkpoint.load(earlier / "best.pt")
    cfg = ck["config"]
    assert cfg["init"] == str(earlier / "best.pt")  # a run folder gives its best.pt, recorded
    assert (cfg["size"], cfg["width"], cfg["embedding_dim"], cfg["resize"], cfg["fill"]) == (24, 16, 12, "letterbox", 255)
    assert ck["model"] == {**old["model"], "normalize": True}  # ntxent normalises; the rest is the earlier encoder
    assert ck["preprocess"] == old["preprocess"]
    assert cfg["loss"] == "ntxent" and cfg["seed"] == 3  # the new run's own choices
    assert ck["epoch"] == 1 and len(ck["history"]) == 1  # its own run, not a resume of the earlier one
    assert ck["optimizer"]["state"] != old["optimizer"]["state"]
    body = [k for k in old["state_dict"] if k.startswith(FEATURES)]
    assert body and all(torch.equal(ck["state_dict"][k], old["state_dict"][k]) for k in body)  # frozen: exactly as loaded
    assert any(s.startswith("init: encoder weights from") for s in lines)


def test_init_weights_differ_from_a_fresh_start(tiny_data, earlier, tmp_path):
    kw = dict(size=24, width=16, embedding_dim=12, resize="letterbox", fill=255, freeze_epochs=1)
    train(_new(tiny_data, tmp_path / "a", earlier / "model.pt", **kw), log=lambda s: None, progress=False)
    train(TrainConfig(**{**vars(_new(tiny_data, tmp_path / "b", "", **kw)), "init": None}), log=lambda s: None, progress=False)
    a, b = (checkpoint.load(tmp_path / r / "model.pt")["state_dict"] for r in "ab")
    assert checkpoint.load(tmp_path / "a" / "model.pt")["config"]["init"] == str(earlier / "model.pt")
    assert not torch.equal(a[FEATURES + "0.0.weight"], b[FEATURES + "0.0.weight"])


@pytest.mark.parametrize(
    "flag, value, shown",
    [("--size", "32", "--size 32"), ("--embedding-dim", "64", "--embedding-dim 64"), ("--channels", "3", "--channels 3")],
)
def test_cli_refuses_a_contradicting_flag(tiny_data, earlier, tmp_path, flag, value, shown):
    args = ["--data", str(tiny_data), "--out", str(tmp_path / "run"), "--init", str(earlier), flag, value, "--quiet"]
    r = CliRunner().invoke(train_cli, args)
    assert r.exit_code != 0
    msg = r.output.strip()
    assert len(msg.splitlines()) == 1 and shown in msg and "contradicts --init" in msg and "its encoder has" in msg
    assert not (tmp_path / "run" / "model.pt").exists()


def test_cli_init_with_the_recipe_keeps_the_encoder(tiny_data, earlier, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(tiny_data), "--out", str(out), "--init", str(earlier), "--size", "24", "--epochs", "1",
            "--batches-per-epoch", "2", "--val-fraction", "0.34", "--quiet"]  # fmt: skip
    r = CliRunner().invoke(train_cli, args)
    assert r.exit_code == 0, r.output
    cfg = checkpoint.load(out / "model.pt")["config"]
    assert (cfg["size"], cfg["width"], cfg["embedding_dim"], cfg["resize"]) == (24, 16, 12, "letterbox")  # not the recipe's
    assert cfg["recipe"] and "size" not in cfg["recipe"] and cfg["loss"] == "ntxent"  # the recipe picked the rest
    r = CliRunner().invoke(train_cli, args[:-3] + ["--epochs", "2", "--resume", "--quiet"])  # resuming an initialised run
    assert r.exit_code == 0, r.output
    assert checkpoint.load(out / "model.pt")["epoch"] == 2


def test_init_refuses_what_it_cannot_start_from(tiny_data, earlier, tmp_path):
    with pytest.raises(InputError, match="not found"):
        pretrained.checkpoint_path(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no best.pt or model.pt"):
        pretrained.checkpoint_path(tmp_path / "empty")
    with pytest.raises(InputError, match="contradicts --init"):  # from Python: a non-default value counts as typed
        train(_new(tiny_data, tmp_path / "r", earlier, arch="koch"), log=lambda s: None, progress=False)
    csv = tmp_path / "pairs.csv"
    csv.write_text("a,b,label\nx,y,1\n")
    with pytest.raises(InputError, match="CSV table"):
        pretrained.inherit({"init": str(earlier), "data": str(csv)})
