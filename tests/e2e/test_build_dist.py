"""scripts/build_dist.py: lean runtime wheels, one per ONNX Runtime build, and the siamese-sdk-train wheel."""

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
DATA = "siamese_trainer/datasets/omniglot_mini/images.zip"


@pytest.mark.parametrize("target", sorted(build_dist.TARGETS))
def test_pyproject_of_each_flavour_names_exactly_its_build(target):
    distribution = build_dist.TARGETS[target]
    text = build_dist.pyproject_for(distribution, (ROOT / "pyproject.toml").read_text())
    assert f'name = "{distribution}"' in text
    builds = re.findall(r'"(onnxruntime[a-z-]*)>=', text)
    assert builds == [build_dist.FLAVOURS[distribution]]
    project = pytest.importorskip("tomllib").loads(text)  # Python >= 3.11
    assert project["project"]["scripts"] == {"siamese": "siamese_sdk.cli:main"}
    assert project["project"]["optional-dependencies"]["train"] == [f"siamese-sdk-train=={build_dist.__version__}"]
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["sdk"]
    assert "package-data" not in project["tool"]["setuptools"]


def test_train_pyproject_holds_trainer_exporter_and_data_but_no_onnxruntime():
    project = pytest.importorskip("tomllib").loads(build_dist.train_pyproject((ROOT / "pyproject.toml").read_text()))
    meta = project["project"]
    assert meta["name"] == "siamese-sdk-train" and meta["version"] == build_dist.__version__
    deps = {re.split(r"[><=!~ ]", d)[0] for d in meta["dependencies"]}
    assert {"torch", "onnx", "onnxscript", "numpy", "click", "Pillow"} <= deps and not any(d.startswith("onnxruntime") for d in deps)
    assert set(meta["scripts"]) == {"siamese-train", "siamese-export"}
    assert project["tool"]["setuptools"]["packages"]["find"]["where"] == ["trainer", "export"]
    assert "datasets/omniglot_mini/images.zip" in project["tool"]["setuptools"]["package-data"]["siamese_trainer"]


def _wheel(path: Path) -> tuple[str, str, set[str]]:
    """``(METADATA, entry_points.txt, top-level names)`` of the wheel at ``path``."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    return meta, entry, set(names)


@pytest.mark.slow
@pytest.mark.venv
def test_runtime_wheels_hold_only_the_sdk_and_the_train_wheel_the_rest(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_dist.py"), "cpu", "gpu", "train", "-o", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    cpu, gpu, train = (Path(line) for line in out.stdout.strip().splitlines()[-3:])
    for wheel, name, build in ((cpu, "siamese-sdk", "onnxruntime"), (gpu, "siamese-sdk-gpu", "onnxruntime-gpu")):
        meta, entry, names = _wheel(wheel)
        assert re.search(rf"^Name: {name}$", meta, re.M) and ORT_REQ.findall(meta) == [build]
        assert "siamese_sdk/runtime/model.py" in names and "siamese_sdk/providers/__init__.py" in names
        assert {n.split("/")[0] for n in names} == {"siamese_sdk", f"{name.replace('-', '_')}-{build_dist.__version__}.dist-info"}
        assert "siamese =" in entry and "siamese-train" not in entry and "siamese-export" not in entry
        assert f'Requires-Dist: siamese-sdk-train=={build_dist.__version__}; extra == "train"' in meta
        assert not re.search(r"^Requires-Dist: (torch|onnx|onnxscript)[ ><=]", meta, re.M)
    meta, entry, names = _wheel(train)
    assert re.search(r"^Name: siamese-sdk-train$", meta, re.M) and ORT_REQ.findall(meta) == []
    assert {n.split("/")[0] for n in names} == {"siamese_trainer", "siamese_export", f"siamese_sdk_train-{build_dist.__version__}.dist-info"}
    assert DATA in names and "siamese_trainer/cli.py" in names and "siamese_export/cli.py" in names
    assert "siamese-train =" in entry and "siamese-export =" in entry and "siamese =" not in entry
    assert re.search(r"^Requires-Dist: torch>=", meta, re.M) and re.search(r"^Requires-Dist: onnxscript>=", meta, re.M)
