"""``siamese doctor``: report contents, provider initialisation, broken installs and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from siamese_sdk.cli import main
from siamese_sdk.tools import doctor

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
SDK_ROOT = str(Path(doctor.__file__).resolve().parents[2])  # sdk/siamese_sdk/tools/doctor.py -> sdk/


def fake_second_build(root: Path) -> Path:
    """A dist-info that makes onnxruntime-gpu look installed next to the real onnxruntime."""
    dist = root / "onnxruntime_gpu-1.99.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.99.0\n")
    return root


def run_cli(*args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*([str(pythonpath)] if pythonpath else []), SDK_ROOT])}
    code = "import sys; from siamese_sdk.cli import main; main(sys.argv[1:], prog_name='siamese')"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


def test_tiny_model_is_valid_onnx_and_runs():
    raw = doctor.tiny_model()
    onnx = pytest.importorskip("onnx")
    onnx.checker.check_model(onnx.load_from_string(raw), full_check=True)
    y = ort.InferenceSession(raw, providers=["CPUExecutionProvider"]).run(None, {"x": doctor._X})[0]
    np.testing.assert_allclose(y, doctor.tiny_model_expected())
    assert (y == 0).any() and (y > 0).any()  # Relu is exercised


def test_report_on_this_machine_is_ok():
    r = doctor.run_checks()
    assert r["ok"] and r["problems"] == []
    assert r["onnxruntime"]["distributions"] == {"onnxruntime": ort.__version__}
    assert r["onnxruntime"]["version"] == ort.__version__
    assert "AzureExecutionProvider" not in r["providers"]["checked"]
    assert r["providers"]["checked"]["CPUExecutionProvider"]["ok"]
    cpu = r["cpu"]
    assert cpu["arch"] and cpu["int8"]
    if cpu["arch"] in ("x86_64", "amd64"):
        assert set(cpu["features"]) == {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"}
    text = doctor.format_report(r)
    assert "all checks passed" in text and "int8" in text and "CPUExecutionProvider" in text


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is present")
def test_missing_provider_is_a_problem_with_the_install_fix():
    r = doctor.run_checks(["cpu", "cuda"])
    assert not r["ok"] and r["providers"]["checked"]["cpu"]["ok"]
    (problem,) = r["problems"]
    assert problem.startswith("provider cuda: not in this build") and "pip install siamese-sdk-gpu" in problem


@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu with a CUDA device")
def test_cuda_initialises_and_computes():
    r = doctor.run_checks(["cuda"])
    assert r["providers"]["checked"]["cuda"]["ok"], r["problems"]


def test_fake_nvidia_smi_is_parsed(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert doctor.nvidia_gpus() == [{"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "memory": "81559 MiB"}]
    smi.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\nexit 9\n"
    )
    assert doctor.nvidia_gpus()[0]["name"].startswith("nvidia-smi failed: NVIDIA-SMI has failed")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert doctor.nvidia_gpus() is None


def test_broken_mix_in_process(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(fake_second_build(tmp_path)), *sys.path])
    r = doctor.run_checks(["cpu"])
    assert not r["ok"] and r["onnxruntime"]["distributions"] == {"onnxruntime": ort.__version__, "onnxruntime-gpu": "1.99.0"}
    assert any(
        "pip uninstall -y siamese-sdk onnxruntime onnxruntime-gpu && pip install siamese-sdk-gpu" in p for p in r["problems"]
    )


def test_cli_exit_codes_and_json():
    r = CliRunner().invoke(main, ["doctor", "--json", "--provider", "cpu"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["ok"] and list(report["providers"]["checked"]) == ["cpu"]
    r = CliRunner().invoke(main, ["doctor", "--provider", "warp-drive"])
    assert r.exit_code == 1 and "FAIL warp-drive" in r.output and "PROBLEMS (1)" in r.output


def test_cli_broken_mix_subprocess(tmp_path):
    """The broken mix seen by a fresh process through PYTHONPATH, as a user's shell would run it."""
    fake = fake_second_build(tmp_path / "site")
    out = run_cli("doctor", "--json", "--provider", "cpu", pythonpath=fake)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert not report["ok"]
    assert any(
        "fix: pip uninstall -y siamese-sdk onnxruntime onnxruntime-gpu && pip install siamese-sdk-gpu" in p
        for p in report["problems"]
    )
    text = run_cli("doctor", pythonpath=fake)
    assert text.returncode == 1 and "conflicting onnxruntime builds" in text.stdout and "Traceback" not in text.stderr
    ok = run_cli("doctor", "--provider", "cpu")
    assert ok.returncode == 0 and "all checks passed" in ok.stdout


def test_cli_without_onnxruntime_exits_1_with_the_extras(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'onnxruntime': raise ImportError('No module named onnxruntime')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    out = run_cli("doctor", pythonpath=blocker)
    assert out.returncode == 1 and "onnxruntime cannot be imported" in out.stdout and "pip install siamese-sdk " in out.stdout
