"""``--search``: Optuna trials over the recipe's picks, cross-validated over identities, recorded in the recipe."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("optuna")

from click.testing import CliRunner  # noqa: E402
from siamese_trainer import checkpoint, search  # noqa: E402
from siamese_trainer.cli import main  # noqa: E402
from test_recipe import make_folder  # noqa: E402


def test_trial_fields_scale_the_size_and_keep_the_aspect():
    assert search.trial_fields({"size": (48, 64), "lr": 1e-3}, {"size_factor": 0.75, "lr": 2e-3}) == {"size": (40, 48), "lr": 2e-3}
    assert search.trial_fields({"size": 28}, {"size_factor": 1.25})["size"] == 32


def test_cli_search_records_trials_and_trains_the_winner(tmp_path):
    root = make_folder(tmp_path / "data", "photos", classes=8)
    out = tmp_path / "run"
    args = ["--data", str(root), "--out", str(out), "--search", "2", "--time-budget", "0.5", "--size", "24,32",
            "--epochs", "1", "--embedding-dim", "8", "--quiet", "--threads", "1"]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    config = checkpoint.load(out / "model.pt")["config"]
    record = json.loads(config["recipe"]["search"])
    assert record["folds"] == search.FOLDS  # 2 validation classes (< 10): cross-validated over identities
    assert len(record["trials"]) == 2 and "size_factor" not in record["winner"]  # --size was typed: not searched
    winner = record["winner"]
    assert config["lr"] == pytest.approx(winner["lr"]) and config["width"] == winner["width"] and config["temperature"] == winner["temperature"]
    assert "search: trial 1/2" in r.output and "search: winner" in r.output and config["search"] == 2
    assert tuple(config["size"]) == (24, 32)
