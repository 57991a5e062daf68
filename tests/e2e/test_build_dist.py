"""scripts/build_dist.py: one wheel per ONNX Runtime build, and never two builds in one distribution's requirements."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_dist  # noqa: E402

ORT_REQ = re.compile(r"^Requires-Dist: (onnxruntime[a-z-]*)[ ><=!~;(]", re.M)


@pytest.mark.parametrize("target", sorted(build_dist.TARGETS))
def test_pyproject_of_each_flavour_names_exactly_its_build(target):
    distribution = build_dist.TARGETS[target]
    text = build_dist.pyproject_for(distribution, (ROOT / "pyproject.toml").read_text())
    assert f'name = "{distribution}"' in text
    builds = re.findall(r'"(onnxruntime[a-z-]*)>=', text)
    assert builds == [build_dist.FLAVOURS[distribution]]


@pytest.mark.slow
@pytest.mark.venv
def test_gpu_wheel_requires_onnxruntime_gpu_only(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "gpu", "-o", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = Path(out.stdout.strip().splitlines()[-1])
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        names = z.namelist()
    assert re.search(r"^Name: siamese-sdk-gpu$", metadata, re.M)
    assert ORT_REQ.findall(metadata) == ["onnxruntime-gpu"]
    assert "siamese_sdk/runtime/model.py" in names and "siamese_sdk/providers/__init__.py" in names
