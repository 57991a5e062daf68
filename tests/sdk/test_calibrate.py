"""``siamese calibrate``: thresholds recomputed on a user's labelled folder, written atomically, history kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import read_manifest
from siamese_sdk.tools.calibrate import calibrate_bundle

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"


@pytest.fixture
def bundle(tmp_path) -> Path:
    return Path(shutil.copytree(GOLDEN / "bundle", tmp_path / "bundle"))


def test_calibrate_in_place_recomputes_thresholds_and_keeps_history(bundle, golden_folder):
    before = read_manifest(bundle)
    lines: list[str] = []
    calibrate_bundle(bundle, golden_folder, log=lines.append)
    after = read_manifest(bundle)  # re-hashed: verifies
    assert after.validation["classes"] == 3 and after.validation["pairs"] == 15
    for name, v in after.variants.items():
        assert v.thresholds != before.variants[name].thresholds
        assert v.metrics["pairs_genuine"] == 3.0 and v.metrics["pairs_impostor"] == 12.0
        assert v.support["eer"]["identities"] == 3 and v.support["eer"]["supported"] is False
    (old,) = after.calibration_history
    assert old["what"] == "thresholds" and old["identities"] == before.validation["classes"]
    assert old["thresholds"] == {n: v.thresholds for n, v in before.variants.items()}
    assert any(line.startswith("warning: thresholds recorded as supported: false") for line in lines)
    calibrate_bundle(bundle, golden_folder, log=lambda _: None)
    assert len(read_manifest(bundle).calibration_history) == 2


def test_calibrate_to_out_leaves_the_bundle(bundle, golden_folder, tmp_path):
    raw = (bundle / "manifest.json").read_bytes()
    result = CliRunner().invoke(main, ["calibrate", str(bundle), str(golden_folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (bundle / "manifest.json").read_bytes() == raw
    assert read_manifest(tmp_path / "out").calibration_history
    info = CliRunner().invoke(main, ["info", str(tmp_path / "out")])
    assert info.exit_code == 0, info.output
    support = [line for line in info.output.splitlines() if line.startswith("support")]
    assert len(support) == 4 and all("NOT SUPPORTED" in line and "3 identities" in line for line in support)
    data = json.loads(CliRunner().invoke(main, ["info", str(tmp_path / "out"), "--json"]).output)
    assert set(data["variants"]["fp32"]["threshold_support"]) == {"eer", "far_1e-2", "far_1e-3", "max_accuracy"}


def test_refuse_names_the_fix(bundle, golden_folder):
    raw = (bundle / "manifest.json").read_bytes()
    with pytest.raises(InputError, match="label more identities"):
        calibrate_bundle(bundle, golden_folder, threshold_support="refuse", log=lambda _: None)
    assert (bundle / "manifest.json").read_bytes() == raw


def test_a_signed_bundle_needs_drop_signature(bundle, golden_folder):
    (bundle / "manifest.sig").write_bytes(b"x" * 64)  # any signature: a new manifest would not match it
    result = CliRunner().invoke(main, ["calibrate", str(bundle), str(golden_folder)])
    assert result.exit_code != 0 and "--drop-signature" in result.output and "siamese sign" in result.output
    result = CliRunner().invoke(main, ["calibrate", str(bundle), str(golden_folder), "--drop-signature"])
    assert result.exit_code == 0, result.output
    assert not (bundle / "manifest.sig").exists() and "re-sign" in result.output


def test_a_folder_without_pairs_is_refused(bundle, tmp_path):
    (tmp_path / "one" / "a").mkdir(parents=True)
    shutil.copy(GOLDEN / "images" / "a1.png", tmp_path / "one" / "a")
    with pytest.raises(InputError, match="class sub-folders"):
        calibrate_bundle(bundle, tmp_path / "one", log=lambda _: None)


def test_old_bundles_load_without_the_new_keys():
    from siamese_sdk.format.manifest import Manifest

    d = json.loads((GOLDEN / "bundle" / "manifest.json").read_text())
    d.pop("calibration_history", None)  # a manifest as written before these keys (whatever bundle/ holds now)
    for v in d["variants"].values():
        v.pop("threshold_support", None)
    m = Manifest.from_dict(d)
    assert m.calibration_history == () and all(v.support == {} for v in m.variants.values())
    assert "threshold_support" not in m.to_dict()["variants"]["fp32"] and "calibration_history" not in m.to_dict()
