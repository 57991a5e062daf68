"""siamese bench: --data and --plots checked before the speed runs; FAR / FRR at the shipped thresholds in the console table."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from click.testing import CliRunner
from siamese_sdk.cli import main as siamese

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


def test_bad_data_is_refused_before_the_speed_runs(tmp_path):
    r = CliRunner().invoke(siamese, ["bench", str(GOLDEN / "bundle"), "--data", str(tmp_path / "missing")])
    assert r.exit_code != 0 and "is not a folder" in r.output
    assert "latency" not in r.output
    (tmp_path / "one" / "a").mkdir(parents=True)
    shutil.copy(GOLDEN / "images" / "a1.png", tmp_path / "one" / "a")
    r = CliRunner().invoke(siamese, ["bench", str(GOLDEN / "bundle"), "--data", str(tmp_path / "one")])
    assert r.exit_code != 0 and "class sub-folders" in r.output


def test_plots_without_matplotlib_are_refused_before_any_work(golden_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    r = CliRunner().invoke(siamese, ["bench", str(GOLDEN / "bundle"), "--data", str(golden_folder), "--plots", str(tmp_path / "p")])
    assert r.exit_code != 0 and "--plots needs matplotlib" in r.output
    assert "latency" not in r.output and not (tmp_path / "p").exists()


def test_console_table_shows_far_frr_at_the_shipped_thresholds(golden_folder):
    args = ["bench", str(GOLDEN / "bundle"), "--data", str(golden_folder), "--variant", "fp32", "--runs", "5", "--batch", "1", "--threads", "1"]
    r = CliRunner().invoke(siamese, args)
    assert r.exit_code == 0, r.output
    assert "| variant | operating point | threshold | FAR | FRR |" in r.output
    rows = [line for line in r.output.splitlines() if line.startswith("| fp32 | eer") or line.startswith("| fp32 | far_")]
    assert len(rows) == 3
