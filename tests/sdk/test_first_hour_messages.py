"""What a new user meets on the golden bundle (no torch): unreadable images listed in one error and left out with
``--skip-unreadable`` (gallery, embed, bench, calibrate), verify's word on an unsupported threshold, the summary of a
pairs-only text bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese
from siamese_sdk.cli.common import report
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import Manifest
from siamese_sdk.format.unreadable import SHOWN, UnreadableImagesError

GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())
BUNDLE = GOLDEN / "bundle"
IMAGES = sorted((GOLDEN / "images").glob("*.png"))


def _bad(folder: Path, n: int) -> list[Path]:
    """``n`` unreadable files in ``folder``: text, and a truncated PNG."""
    out = []
    for i in range(n):
        p = folder / f"bad{i}.png"
        p.write_bytes(b"not an image" if i % 2 == 0 else IMAGES[0].read_bytes()[:60])
        out.append(p)
    return out


@pytest.fixture
def classes_with_bad(tmp_path) -> tuple[Path, list[Path]]:
    """Three class folders of the golden images (two each) and two unreadable files in the first."""
    root = tmp_path / "labelled"
    for img in IMAGES:
        (root / img.stem[0]).mkdir(parents=True, exist_ok=True)
        shutil.copy(img, root / img.stem[0] / img.name)
    return root, _bad(root / "a", 2)


def _one_line(r) -> str:
    lines = [line for line in r.output.splitlines() if line.startswith("Error: ")]
    assert r.exit_code == 1 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


def test_every_unreadable_image_is_named_in_one_error_first_n_and_a_count(tmp_path):
    bad = _bad(tmp_path, SHOWN + 3)
    model = siamese_sdk.load(BUNDLE)
    with pytest.raises(UnreadableImagesError) as e:
        model.embed([*IMAGES, *bad])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{SHOWN + 3} of {len(IMAGES) + SHOWN + 3} images are unreadable: ")
    assert all(str(p) in msg for p in bad[:SHOWN]) and str(bad[SHOWN]) not in msg and ", and 3 more;" in msg
    assert "not an image Pillow can read" in msg and "truncated or corrupt" in msg
    assert len(e.value.failed) == SHOWN + 3  # all of them, for callers that want the full list
    with pytest.raises(InputError, match="image not found"):  # a typo is not "unreadable": it stops at once
        model.embed([IMAGES[0], tmp_path / "missing.png"])


@pytest.mark.parametrize("command", ["embed", "gallery"])
def test_streaming_commands_name_all_unreadable_images_then_skip_them(tmp_path, command):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for img in IMAGES:
        shutil.copy(img, folder / img.name)
    bad = _bad(folder, 3)
    out = tmp_path / ("e.npy" if command == "embed" else "g.npz")
    args = [command, str(BUNDLE), str(folder), "-o", str(out), "--batch-size", "2"]
    line = _one_line(CliRunner().invoke(siamese, args))
    assert "3 images are unreadable" in line and all(str(p) in line for p in bad) and "--skip-unreadable" in line
    assert not out.exists()
    r = CliRunner().invoke(siamese, [*args, "--skip-unreadable"])
    assert r.exit_code == 0, r.output
    said = [line for line in r.output.splitlines() if line.startswith("left out ")]
    assert len(said) == 1 and said[0].startswith(f"left out 3 of {len(IMAGES) + 3} images as unreadable: "), r.output
    assert all(str(p) in said[0] for p in bad)
    good = [str(folder / p.name) for p in IMAGES]
    if command == "embed":
        emb = np.load(out)
        assert emb.shape == (len(IMAGES), 8)
        assert out.with_suffix(".paths.txt").read_text().splitlines() == good
        np.testing.assert_allclose(emb, siamese_sdk.load(BUNDLE).embed(good), atol=1e-5)
    else:
        g = siamese_sdk.Gallery.load(out, model=siamese_sdk.load(BUNDLE))
        assert len(g) == len(IMAGES) and sorted(map(str, g.ids)) == good


def test_embed_skip_resumes_with_the_skipped_rows_and_restarts_without_the_flag(tmp_path):
    from siamese_sdk.tools.stream import embed_to_npy, partial_paths

    folder = tmp_path / "imgs"
    folder.mkdir()
    for img in IMAGES:
        shutil.copy(img, folder / img.name)
    bad = _bad(folder, 1)[0]
    model = siamese_sdk.load(BUNDLE)
    out = tmp_path / "e.npy"
    with pytest.raises(UnreadableImagesError):
        embed_to_npy(model, [folder], out, batch_size=2, checkpoint_seconds=0)
    logs: list[str] = []
    run = embed_to_npy(model, [folder], out, batch_size=2, checkpoint_seconds=0, skip_unreadable=True, log=logs.append)
    assert "--skip-unreadable was not given to the partial run" in logs[0]  # the earlier partial run differs
    assert run.rows == len(IMAGES) and run.skipped == ((str(bad), "not an image Pillow can read"),)
    assert not any(p.exists() for p in partial_paths(out))


def test_calibrate_and_bench_skip_unreadable(tmp_path, classes_with_bad):
    data, bad = classes_with_bad
    dest = tmp_path / "recal"
    line = _one_line(CliRunner().invoke(siamese, ["calibrate", str(BUNDLE), str(data), "-o", str(dest)]))
    assert f"2 of {len(IMAGES) + 2} images are unreadable" in line and all(str(p) in line for p in bad)
    r = CliRunner().invoke(siamese, ["calibrate", str(BUNDLE), str(data), "-o", str(dest), "--skip-unreadable"])
    assert r.exit_code == 0, r.output
    assert f"left out 2 of {len(IMAGES) + 2} images as unreadable" in r.output and all(str(p) in r.output for p in bad)
    assert json.loads((dest / "manifest.json").read_text())["validation"]["images"] == len(IMAGES)

    from siamese_sdk.tools import bench

    with pytest.raises(UnreadableImagesError, match="--skip-unreadable"):
        bench.run(BUNDLE, ["fp32"], batches=(1,), runs=2, data=data)
    said: list[str] = []
    rep, _ = bench.run(BUNDLE, ["fp32"], batches=(1,), runs=2, data=data, skip_unreadable=True, progress=said.append)
    assert rep["data_skipped"] == [str(p) for p in bad] and rep["variants"]["fp32"]["images"] == len(IMAGES)
    assert any(s.startswith(f"left out 2 of {len(IMAGES) + 2} images") for s in said)
    assert "--skip-unreadable" in CliRunner().invoke(siamese, ["bench", "--help"]).output


@pytest.fixture
def unsupported_bundle(tmp_path) -> Path:
    """The golden bundle with far_1e-3 of every variant recorded as unsupported (as export records it)."""
    b = tmp_path / "bundle"
    shutil.copytree(BUNDLE, b)
    m = json.loads((b / "manifest.json").read_text())
    for v in m["variants"].values():
        entry = {"identities": 3, "genuine_pairs": 3, "impostor_pairs": 12, "interval": [0.1, 0.9],
                 "far_interval": [0.0, 0.5], "frr_interval": [0.0, 0.5]}  # fmt: skip
        v["threshold_support"] = {
            "eer": {**entry, "supported": True, "reason": ""},
            "far_1e-3": {**entry, "supported": False, "reason": "3 identities (< 10); 12 impostor pairs (< 10000)"},
        }
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def test_verify_says_when_a_threshold_is_unsupported_and_how_to_calibrate(unsupported_bundle):
    a, b = map(str, IMAGES[:2])
    r = CliRunner().invoke(siamese, ["verify", str(unsupported_bundle), a, b, "--operating-point", "far_1e-3"])
    assert r.exit_code == 0, r.output
    warning = [line for line in r.output.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1 and "far_1e-3 is not supported" in warning[0] and "3 identities (< 10)" in warning[0]
    assert f"siamese calibrate {unsupported_bundle}" in warning[0]
    r = CliRunner().invoke(siamese, ["verify", str(unsupported_bundle), a, b, "--operating-point", "far_1e-3", "--json"])
    assert r.exit_code == 0 and "siamese calibrate" in json.loads(r.output.splitlines()[-1])["unsupported"], r.output
    for extra in (["--operating-point", "eer"], ["--threshold", "1.0"]):  # supported, or the caller's own threshold
        r = CliRunner().invoke(siamese, ["verify", str(unsupported_bundle), a, b, *extra, "--json"])
        assert json.loads(r.output)["unsupported"] is None and "warning" not in r.output, r.output
    model = siamese_sdk.load(unsupported_bundle)
    assert "siamese calibrate" in model.verify([a], [b], operating_point="far_1e-3").unsupported
    assert model.verify([a], [b], operating_point="eer").unsupported is None


def test_a_pairs_only_text_bundle_summary_says_pairs_once_and_no_unknown_identities():
    d = json.loads((GOLDEN / "text.manifest.json").read_text())
    d["validation"] = {**d["validation"], "split": "400 held-out pairs", "pairs": 400}
    for v in d["variants"].values():
        for s in v.get("threshold_support", {}).values():
            s["identities"] = None
    text = report(Manifest.from_dict(d), GOLDEN / "text")
    assert "validation  400 held-out pairs\n" in text and "400 pairs" not in text.replace("400 held-out pairs", "")
    assert "?" not in text and "bootstrap over pairs" in text
