"""siamese-export --threshold-support: a validation set too small for an operating point is warned about or refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
CKPT = Path("tests/data/golden/image/model.pt")  # 6 validation classes: fewer than 10 identities


@pytest.mark.slow
def test_refuse_fails_in_one_line_naming_the_fix(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from click.testing import CliRunner
    from siamese_export.cli import main

    monkeypatch.chdir(ROOT)
    out = tmp_path / "b"
    result = CliRunner().invoke(main, [str(CKPT), "-o", str(out), "--no-int8", "--threshold-support", "refuse"])
    assert result.exit_code != 0
    error = [line for line in result.output.splitlines() if "validation set too small" in line]
    assert len(error) == 1 and "--validation DIR" in error[0] and "6 identities < 10" in error[0]
    assert not out.exists()


@pytest.mark.slow
def test_warn_records_supported_false_and_info_shows_it(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from click.testing import CliRunner
    from siamese_export.cli import main
    from siamese_sdk.cli import main as siamese

    monkeypatch.chdir(ROOT)
    out = tmp_path / "b"
    result = CliRunner().invoke(main, [str(CKPT), "-o", str(out), "--no-int8"])
    assert result.exit_code == 0, result.output
    assert "warning: thresholds recorded as supported: false" in result.output
    sup = json.loads((out / "manifest.json").read_text())["variants"]["fp32"]["threshold_support"]
    for op in ("eer", "far_1e-2", "far_1e-3", "max_accuracy"):
        s = sup[op]
        assert s["identities"] == 6 and s["supported"] is False and "identities" in s["reason"]
        assert s["genuine_pairs"] == 1140 and s["impostor_pairs"] == 6000
        assert s["interval"][0] <= s["interval"][1] and len(s["far_interval"]) == 2
    assert "10000 (10/FAR)" in sup["far_1e-3"]["reason"] and "10/FAR" not in sup["far_1e-2"]["reason"]
    info = CliRunner().invoke(siamese, ["info", str(out)])
    assert sum(line.startswith("support") for line in info.output.splitlines()) == 4
