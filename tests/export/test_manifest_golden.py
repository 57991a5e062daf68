"""The manifest-diff test: each golden checkpoint, exported by this code, gives the golden manifest.

``tests/data/golden/<kind>/model.pt`` (image, pseudo, text) are tiny runs of ``siamese-train``; the golden
manifests are what ``siamese-export`` wrote for them (``scripts/make_golden.py``, ``tests/data/golden/README.md``).
A bundle exported now must have the same keys everywhere and the same values (floats within ``REL_TOL`` /
``ABS_TOL``), except the fields in ``MASKED`` (file hashes, the export date, library versions, measured
speed ratios): those must be present, their values are not compared.

The int8 speed gate (int8 is the CPU choice only if at least ``INT8_MIN_SPEEDUP`` x fp32's speed, measured on
this CPU at export) makes part of a manifest timing-bound: the default variant, the ``cpu`` profile, the
speed note and, for the pseudo and text kinds (which build the cpu profile only), whether int8 ships at all.
So there are two golden manifests per kind, ``<kind>.manifest.json`` (int8 passed the speed gate) and
``<kind>.int8-slow.manifest.json`` (it did not); the export is compared with the one of its own gate outcome,
and the outcome must agree with the speed the export recorded.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())
GOLDEN = ROOT / "tests" / "data" / "golden"
#: per kind: extra siamese-export flags (the image bundle also targets openvino, so int8 ships whatever its speed)
KINDS = {"image": ["--profile", "cpu,openvino"], "pseudo": [], "text": []}
#: the documented speed gate (``siamese-export --help``): int8 is the CPU choice at >= 0.97 x fp32's speed
INT8_MIN_SPEEDUP = 0.97
#: floats: thresholds and metrics are computed by ONNX Runtime on the same inputs; allow last-digit noise only
REL_TOL, ABS_TOL = 1e-5, 1e-7
#: paths whose values are not compared ("*" matches any one key, "**" any number of keys)
MASKED = (
    ("files", "*"),  # sha256 of the ONNX files: bytes (producer version, node order) are not behaviour
    ("provenance", "created_utc"),  # the export date
    ("provenance", "siamese_sdk"),  # library versions
    ("provenance", "torch"),
    ("provenance", "onnx"),
    ("provenance", "onnxruntime"),
    ("**", "speedup_vs_fp32_b64"),  # measured fp32 / int8 time ratio (the golden ones are pinned, see README)
)
#: speed ratios printed in notes ("0.91x the speed of fp32", "a 0.88x, b 0.93x"): measured, so masked
RATIO = re.compile(r"\d+\.\d+x")


def _masked(path: tuple[str, ...]) -> bool:
    def match(pattern: tuple[str, ...], p: tuple[str, ...]) -> bool:
        if not pattern:
            return not p
        if pattern[0] == "**":
            return any(match(pattern[1:], p[i:]) for i in range(len(p) + 1))
        return bool(p) and pattern[0] in ("*", p[0]) and match(pattern[1:], p[1:])

    return any(match(pattern, path) for pattern in MASKED)


def compare(golden: Any, got: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Differences of ``got`` from ``golden`` (JSON values) outside ``MASKED``, one line each (empty: equal)."""
    where = ".".join(path) or "<root>"
    if _masked(path):
        return []
    if isinstance(golden, dict) and isinstance(got, dict):
        diffs = [f"{where}: key {k!r} missing" for k in golden if k not in got]
        diffs += [f"{where}: key {k!r} not in the golden manifest" for k in got if k not in golden]
        for k in golden:
            if k in got:
                diffs += compare(golden[k], got[k], (*path, k))
        return diffs
    if isinstance(golden, list) and isinstance(got, list):
        if len(golden) != len(got):
            return [f"{where}: {len(got)} items, golden {len(golden)}: {got!r} vs {golden!r}"]
        return [d for i, (g, v) in enumerate(zip(golden, got, strict=True)) for d in compare(g, v, (*path, str(i)))]
    numbers = (int, float)
    if isinstance(golden, numbers) and isinstance(got, numbers) and not isinstance(golden, bool) and not isinstance(got, bool):
        if math.isclose(golden, got, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return []
        return [f"{where}: {got!r}, golden {golden!r}"]
    if isinstance(golden, str) and isinstance(got, str):
        golden, got = RATIO.sub("<ratio>x", golden), RATIO.sub("<ratio>x", got)
    if type(golden) is not type(got) or golden != got:
        return [f"{where}: {got!r}, golden {golden!r}"]
    return []


def gate_outcome(manifest: dict) -> str:
    """``""`` when int8 is the CPU choice (passed the speed gate), else ``".int8-slow"``; checks the recorded speed agrees."""
    chosen = manifest["profiles"]["cpu"]["variant"]
    if "int8" in manifest["variants"]:
        speed = manifest["variants"]["int8"]["metrics"]["speedup_vs_fp32_b64"]
        assert (chosen == "int8") == (speed >= INT8_MIN_SPEEDUP), f"cpu profile {chosen!r} but int8 measured {speed:.3f}x fp32"
    else:  # int8 dropped: for its speed (a note gives the measured ratios) or its AUC
        slow = [n for n in manifest["notes"] if "int8 not shipped" in n and "slower" in n]
        for note in slow:
            assert min(float(r[:-1]) for r in RATIO.findall(note)) <= INT8_MIN_SPEEDUP, note
    return "" if chosen == "int8" else ".int8-slow"


def golden_manifest(kind: str, outcome: str) -> dict:
    return json.loads((GOLDEN / f"{kind}{outcome}.manifest.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KINDS))
def test_export_of_the_golden_checkpoint_gives_the_golden_manifest(kind, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from click.testing import CliRunner
    from siamese_export.cli import main

    # the checkpoints record their data (branch b's folder, the text CSV) relative to the repository root
    monkeypatch.chdir(ROOT)
    out = tmp_path / kind
    ckpt = (GOLDEN / kind / "model.pt").relative_to(ROOT)
    result = CliRunner().invoke(main, [str(ckpt), "-o", str(out), *KINDS[kind]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads((out / "manifest.json").read_text())
    outcome = gate_outcome(got)
    diffs = compare(golden_manifest(kind, outcome), got)
    assert not diffs, f"{kind} manifest (vs {kind}{outcome}.manifest.json) differs:\n  " + "\n  ".join(diffs)


@pytest.mark.parametrize("kind", list(KINDS))
def test_both_gate_outcomes_are_golden(kind):
    """The two golden manifests of a kind differ only where the speed gate decides."""
    fast, slow = golden_manifest(kind, ""), golden_manifest(kind, ".int8-slow")
    assert gate_outcome(fast) == "" and gate_outcome(slow) == ".int8-slow"
    assert fast["default_variant"] == "int8" and slow["default_variant"] == "fp32"
    if kind == "image":  # openvino keeps int8: the variants are the same, only the cpu choice differs
        assert set(fast["variants"]) == set(slow["variants"]) == {"fp32", "int8"}
        assert not compare(fast["variants"], slow["variants"])
    else:
        assert set(fast["variants"]) == {"fp32", "int8"} and set(slow["variants"]) == {"fp32"}
        assert not compare(fast["variants"]["fp32"], slow["variants"]["fp32"])


def test_compare_catches_a_renamed_key_and_a_moved_threshold():
    golden = golden_manifest("image", "")
    assert compare(golden, copy.deepcopy(golden)) == []

    moved = copy.deepcopy(golden)
    moved["variants"]["int8"]["thresholds"]["eer"] *= 1.001
    assert [d.split(":")[0] for d in compare(golden, moved)] == ["variants.int8.thresholds.eer"]

    renamed = copy.deepcopy(golden)
    renamed["validation"]["pair_count"] = renamed["validation"].pop("pairs")
    assert len(compare(golden, renamed)) == 2

    timing = copy.deepcopy(golden)  # masked: measured, dated or versioned values
    timing["variants"]["int8"]["metrics"]["speedup_vs_fp32_b64"] = 0.42
    timing["provenance"]["created_utc"] = "2000-01-01T00:00:00+00:00"
    timing["files"]["encoder.fp32.onnx"] = "0" * 64
    assert compare(golden, timing) == []
    del timing["provenance"]["created_utc"]  # masked values must still be there
    assert compare(golden, timing) == ["provenance: key 'created_utc' missing"]
