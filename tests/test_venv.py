"""`pip install siamese-sdk` (no extras) into a fresh venv: no torch, and it loads and verifies our bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.venv
@pytest.mark.slow
def test_fresh_venv_without_torch_runs_the_bundle(bundle, tiny_data, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)], capture_output=True, text=True, env=env
    )
    assert install.returncode == 0, install.stderr[-2000:]

    imgs = sorted(tiny_data.rglob("*.png"))
    script = textwrap.dedent(
        f"""
        import importlib.util, json
        assert importlib.util.find_spec("torch") is None, "torch is installed"
        assert importlib.util.find_spec("onnx") is None, "onnx is installed"
        import siamese_sdk
        m = siamese_sdk.load({str(bundle)!r})
        r = m.verify([{str(imgs[0])!r}, {str(imgs[0])!r}], [{str(imgs[0])!r}, {str(imgs[-1])!r}])
        print(json.dumps({{"variant": m.variant, "same": r.same.tolist(), "scores": r.scores.tolist()}}))
        """
    )
    run = subprocess.run([str(py), "-c", script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout)
    assert res["same"][0] is True and res["scores"][0] < 1e-3

    # the torch-free CLI works, and the training CLI names the extra to install
    bin_dir = env_dir / "bin"
    cli = subprocess.run(
        [str(bin_dir / "siamese"), "verify", str(bundle), str(imgs[0]), str(imgs[1])], capture_output=True, text=True, env=env
    )
    assert cli.returncode == 0 and ("SAME" in cli.stdout or "DIFFERENT" in cli.stdout), cli.stderr
    train = subprocess.run(
        [str(bin_dir / "siamese-train"), "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env
    )
    assert train.returncode == 1 and "pip install 'siamese-sdk[train]'" in train.stderr and "Traceback" not in train.stderr
    export = subprocess.run([str(bin_dir / "siamese-export"), "x.pt"], capture_output=True, text=True, env=env)
    assert export.returncode == 1 and "siamese-sdk[train]" in export.stderr

    size = sum(f.stat().st_size for f in env_dir.rglob("*") if f.is_file())
    print(f"\nSDK venv size: {size / 2**20:.0f} MiB")
    sys.stdout.flush()
