"""``--time-budget``: a probe of the training speed, the budget turned into a schedule, recorded and reproducible."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_trainer import budget, checkpoint, recipe  # noqa: E402
from siamese_trainer.cli import main  # noqa: E402
from test_recipe import make_folder  # noqa: E402

SLOW = budget.Probe(seconds=0.5, batches=5, batch=32, threads=1, device="cpu")


def test_plan_fills_a_budget_or_caps_the_need():
    total, why = budget.plan(10, SLOW, need=400, val_images=64, val_batches=8, epochs=10, fill=True)
    val_s = budget.FORWARD_SHARE * 0.5 * (64 / 32 + 8)
    assert total == int((600 - 10 * val_s) / 0.5) and "the budget, 10 min" in why and "0.500 s/batch" in why
    assert budget.plan(10, SLOW, 400, 64, 8, 10, fill=False)[0] == 400  # the data needs less than the cap
    assert budget.plan(1, SLOW, 400, 64, 8, 10, fill=False)[0] == int((60 - 10 * val_s) / 0.5)  # the cap binds
    fast = budget.Probe(0.05, 5, 32, 1, "cuda")
    assert budget.plan(10, fast, 400, 64, 8, 10, True)[0] >= 10 * budget.plan(10, SLOW, 400, 64, 8, 10, True)[0]  # 10x the speed: 10x the batches
    assert budget.plan(0.001, SLOW, 400, 64, 8, 10, True)[0] == 10  # at least a batch per epoch


def test_probe_times_the_runs_training_step_and_keeps_the_rng():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    speed = budget.probe(dict(size=(24, 32), loss="ntxent", augment="photos", p=4, k=2, embedding_dim=8, threads=1))
    assert speed.seconds > 0 and speed.batch == 8 and speed.batches == budget.PROBE_BATCHES and speed.threads == 1
    assert torch.equal(torch.get_rng_state(), before)


def _train(args: list[str]) -> tuple[object, dict]:
    r = CliRunner().invoke(main, [*args, "--embedding-dim", "8", "--quiet", "--threads", "1"])
    return r, (checkpoint.load(Path(args[args.index("--out") + 1]) / "model.pt")["config"] if r.exit_code == 0 else {})


def test_cli_sizes_the_schedule_to_the_budget_and_records_it(tmp_path):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    r, config = _train(["--data", str(root), "--out", str(tmp_path / "run"), "--time-budget", "0.02", "--epochs", "2"])
    assert r.exit_code == 0, r.output
    why = config["recipe"]["batches_per_epoch"]
    assert config["time_budget"] == 0.02 and config["epochs"] == 2 and "the budget, 0.02 min" in why
    total = int(re.match(r"\d+ \((\d+) batches", why).group(1))
    assert config["batches_per_epoch"] == max(1, total // 2)  # reproducible: --epochs 2 --batches-per-epoch B
    assert "s/batch of 24" in why and "--batches-per-epoch" in r.output


def test_default_schedule_is_the_need_within_the_cap(tmp_path):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    profile, chosen, reasons = recipe.choose(root, given=set())
    fields = {**chosen, "threads": 1, "val_fraction": 0.2}
    chosen, reasons, extra = recipe.schedule(fields, chosen, reasons, set(), profile, log=lambda s: None)
    need = recipe.need_batches(profile, 6, chosen["p"] * chosen["k"])[1]
    total = int(re.match(r"(\d+) batches", reasons["batches_per_epoch"]).group(1))
    assert total <= need and chosen["batches_per_epoch"] == total // chosen["epochs"] and not extra
    assert f"the {need} the data needs, within {budget.DEFAULT_MINUTES:g} min" in reasons["batches_per_epoch"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "2", "--batches-per-epoch", "3"], "--time-budget sizes the schedule that --epochs and --batches-per-epoch fix"),
        (["--recipe", "off"], "--recipe off has its own"),
    ],
)
def test_budget_with_a_fixed_schedule_is_refused(tmp_path, extra, message):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    r, _ = _train(["--data", str(root), "--out", str(tmp_path / "run"), "--time-budget", "1", *extra])
    assert r.exit_code != 0 and message in r.output and len(r.output.strip().splitlines()) == 1
