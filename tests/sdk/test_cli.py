"""The three CLIs, in-process with click's CliRunner: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_line_error(result) -> str:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: "), result.output
    return lines[-1]


def test_info(runner, bundle):
    r = runner.invoke(siamese, ["info", str(bundle)])
    assert r.exit_code == 0, r.output
    assert "AUC" in r.output and "fp32" in r.output and "euclidean" in r.output
    r = runner.invoke(siamese, ["info", str(bundle), "--json"])
    assert json.loads(r.output)["format"] == "siamese-bundle"


def test_embed_writes_npy_and_paths(runner, bundle, tiny_data, tmp_path):
    out = tmp_path / "emb.npy"
    r = runner.invoke(siamese, ["embed", str(bundle), str(tiny_data), "-o", str(out), "--batch-size", "7"])
    assert r.exit_code == 0, r.output
    emb = np.load(out)
    paths = out.with_suffix(".paths.txt").read_text().splitlines()
    assert emb.shape[0] == len(paths) == len(list(tiny_data.rglob("*.png"))) and emb.dtype == np.float32
    import siamese_sdk

    model = siamese_sdk.load(bundle)
    np.testing.assert_allclose(emb[:3], model.embed(paths[:3]), atol=1e-5)
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_verify(runner, bundle, tiny_data):
    imgs = sorted(tiny_data.rglob("*.png"))
    r = runner.invoke(siamese, ["verify", str(bundle), str(imgs[0]), str(imgs[0])])
    assert r.exit_code == 0 and r.output.startswith("SAME"), r.output
    r = runner.invoke(siamese, ["verify", str(bundle), str(imgs[0]), str(imgs[-1]), "--json", "--operating-point", "far_1e-3"])
    res = json.loads(r.output)
    assert res["operating_point"] == "far_1e-3" and isinstance(res["same"], bool)


@pytest.mark.parametrize(
    "args, expect",
    [
        (["info", "{missing}"], "bundle not found"),
        (["verify", "{bundle}", "{missing}", "{missing}"], "image not found"),
        (["embed", "{bundle}", "{missing}", "-o", "{tmp}/x.npy"], "image not found"),
        (["embed", "{bundle}", "{tmp}", "-o", "{tmp}/x.npy"], "holds no images"),
        (["verify", "{bundle}", "{img}", "{img}", "--threshold", "-2"], "below 0"),
        (["verify", "{bundle}", "{img}", "{img}", "--provider", "warp"], "unknown"),
    ],
)
def test_bad_input_gives_one_line_error(runner, bundle, tiny_data, tmp_path, args, expect):
    img = sorted(tiny_data.rglob("*.png"))[0]
    fmt = {"missing": tmp_path / "missing", "bundle": bundle, "tmp": tmp_path, "img": img}
    r = runner.invoke(siamese, [a.format(**fmt) for a in args])
    assert expect in _one_line_error(r)


def test_bad_flag_values_are_usage_errors(runner, bundle, tiny_data, tmp_path):
    img = str(sorted(tiny_data.rglob("*.png"))[0])
    r = runner.invoke(siamese, ["verify", str(bundle), img, img, "--operating-point", "far_2"])
    assert r.exit_code == 2 and "Invalid value" in r.output
    r = runner.invoke(siamese, ["embed", str(bundle), img, "-o", str(tmp_path / "e.npy"), "--batch-size", "0"])
    assert r.exit_code == 2
