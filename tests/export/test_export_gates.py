"""The export's gates and variant table, without training: one behaviour for every model kind."""

from __future__ import annotations

import pytest
from siamese_sdk.format.manifest import Variant
from siamese_sdk.profiles import TARGETS

pytest.importorskip("torch")
pytest.importorskip("onnx")
from siamese_export import gates  # noqa: E402
from siamese_export.sources import SOURCES  # noqa: E402
from siamese_export.variants import VARIANTS  # noqa: E402


def _run(monkeypatch, tmp_path, auc: dict, speed: dict, profiles=("cpu",), encoders=(None,)):
    """``apply_gates`` with fake files and timings; returns (kept metrics, slow, notes, dropped, profiles)."""
    monkeypatch.setattr(gates, "speedup", lambda root, files, feed, variant="int8": speed[feed])
    metrics = {n: {"auc": a} for n, a in auc.items()}
    files = {enc: {n: Variant(file=f"{enc}.{n}.onnx") for n in auc} for enc in encoders}
    feeds = {enc: enc for enc in encoders}
    dropped, notes = [], []
    slow = gates.apply_gates(tmp_path, profiles, metrics, files, feeds, {"int8"}, dropped.append, notes, lambda s: None)
    return metrics, slow, notes, dropped, gates.choose_profiles(profiles, list(metrics), slow)


def test_auc_gate_drops_before_timing(monkeypatch, tmp_path):
    metrics, slow, notes, dropped, profiles = _run(monkeypatch, tmp_path, {"fp32": 0.9, "int8": 0.8}, {None: 2.0})
    assert dropped == ["int8"] and list(metrics) == ["fp32"] and gates.SPEEDUP_KEY not in metrics["fp32"]
    assert notes == ["int8 not shipped: validation AUC drop 0.1000 > 0.005"]
    assert profiles["cpu"].variant == "fp32" and profiles["cpu"].notes == "fp32: int8 not shipped, see notes"


def test_slow_int8_kept_only_for_a_target_that_wants_it(monkeypatch, tmp_path):
    auc = {"fp32": 0.9, "int8": 0.9}
    metrics, slow, notes, dropped, profiles = _run(monkeypatch, tmp_path, auc, {None: 0.5}, profiles=("openvino",))
    assert slow == {"int8"} and not dropped and metrics["int8"][gates.SPEEDUP_KEY] == 0.5
    assert notes == ["int8 not used on CPU: 0.50x the speed of fp32 at batch 64 on this CPU (slower); kept for openvino"]
    assert profiles["openvino"].variant == "int8" and profiles["cpu"].variant == "fp32" and "slower" in profiles["cpu"].notes
    metrics, slow, notes, dropped, profiles = _run(monkeypatch, tmp_path, auc, {None: 0.5})
    assert dropped == ["int8"] and notes == ["int8 not shipped: 0.50x the speed of fp32 at batch 64 on this CPU (slower)"]
    assert metrics["fp32"][gates.SPEEDUP_KEY] == 1.0


def test_two_encoders_take_the_slowest(monkeypatch, tmp_path):
    auc = {"fp32": 0.9, "int8": 0.9}
    metrics, _, notes, dropped, profiles = _run(monkeypatch, tmp_path, auc, {"a": 1.5, "b": 1.2}, encoders=("a", "b"))
    assert not dropped and metrics["int8"][gates.SPEEDUP_KEY] == 1.2 and profiles["cpu"].variant == "int8"
    _, _, notes, dropped, _ = _run(monkeypatch, tmp_path, auc, {"a": 1.5, "b": 0.5}, encoders=("a", "b"))
    assert dropped == ["int8"] and notes[0].endswith("(slower; branch a 1.50x, branch b 0.50x)")


def test_the_variant_table_covers_every_target_and_kind():
    assert {t.variant for t in TARGETS.values()} <= {r.name for r in VARIANTS.values()}
    for source in SOURCES.values():
        for name, key in source.variant_rows.items():
            assert VARIANTS[key].name == name
    assert {r.name for r in VARIANTS.values() if r.speed_gate} == {"int8"}
    assert gates.check_profiles([" CPU", "cpu", ""]) == ("cpu",)
