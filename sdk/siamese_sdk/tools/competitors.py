"""What a user would run instead of the bundle, timed in the same ``siamese bench`` run, each in its own process.

- torch (``python -m siamese_trainer.bench_torch``, the train extra): ``torch_eager``, ``torch_compile``
  (inductor) and ``torch_x86_int8`` (PT2E with ``X86InductorQuantizer``, needs torchao) of the checkpoint;
- ONNX Runtime with the OpenVINO execution provider (the ``siamese-sdk-openvino`` flavour): ``onnxruntime-openvino``
  installs the same ``onnxruntime`` module as the CPU build, so it runs under another interpreter (a venv
  holding it), which imports this very SDK through a folder that links to it and nothing else.

A competitor that cannot run here (no torchao, no compiler, no such interpreter, OpenVINO failing) is
``{"skipped": "<one-line reason>"}``; the SDK never imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from ..errors import InputError

#: report key -> ``bench_torch --mode``
TORCH_MODES = {"torch_eager": "eager", "torch_compile": "compile", "torch_x86_int8": "x86-int8"}

#: exit status of ``bench_torch`` for a mode that cannot run here (``siamese_trainer.bench_torch.SKIPPED``)
_TORCH_SKIPPED = 3


def _last_line(text: str, fallback: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else fallback


def torch_mode(checkpoint: Path, mode: str, batch: int, runs: int, threads: int | None) -> dict[str, Any]:
    """Throughput of the checkpoint's encoder under torch ``mode`` (``eager``, ``compile``, ``x86-int8``).

    Returns ``bench_torch``'s JSON (``throughput_b{batch}_per_s``, ``prepare_s``, ...), or ``{"skipped": reason}``
    when the mode cannot run here. Raises ``InputError`` when torch itself is missing (the train extra).
    """
    cmd = [sys.executable, "-m", "siamese_trainer.bench_torch", str(checkpoint), "--batch", str(batch), "--runs", str(runs)]
    cmd += ["--mode", mode] + (["--threads", str(threads)] if threads else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode == _TORCH_SKIPPED:
        return {"skipped": _last_line(p.stderr, f"{mode} cannot run here")}
    if p.returncode != 0:
        raise InputError(
            f"--torch needs the train extra (pip install 'siamese-sdk[train]'): {_last_line(p.stderr, f'exit {p.returncode}')}"
        )
    report = _last_json(p.stdout)
    if report is None:
        raise InputError(f"torch {mode} run printed no report (last output: {_last_line(p.stdout, 'nothing')}); run it by hand: {' '.join(cmd)}")
    return report


def _last_json(stdout: str) -> dict[str, Any] | None:
    """The JSON object on the last line a measuring process printed, or None when there is none."""
    lines = stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def torch_eager(checkpoint: Path, batch: int, runs: int, threads: int | None) -> dict[str, float]:
    """Throughput of the checkpoint's encoder in torch eager mode, measured in a separate process."""
    return torch_mode(checkpoint, "eager", batch, runs, threads)


_OPENVINO = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import onnxruntime as ort
    import siamese_sdk
    bundle, variants, threads, batch, runs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    if "OpenVINOExecutionProvider" not in ort.get_available_providers():
        print(json.dumps({"skipped": f"this onnxruntime {ort.__version__} has no OpenVINOExecutionProvider"}))
        sys.exit(0)
    out = {"onnxruntime": ort.__version__, "variants": {}}
    opts = {"device_type": "CPU", **({"num_of_threads": threads} if threads else {})}
    for v in variants:
        m = siamese_sdk.load(bundle, variant=v, providers=[("openvino", opts)], threads=threads)
        x = np.random.default_rng(0).standard_normal((batch, *m.manifest.preprocess.shape), dtype=np.float32)
        for _ in range(3):
            m.embed(x, batch_size=batch)
        t = []
        for _ in range(runs):
            t0 = time.perf_counter()
            m.embed(x, batch_size=batch)
            t.append(time.perf_counter() - t0)
        out["variants"][v] = {f"throughput_b{batch}_per_s": batch / float(np.median(t))}
    print(json.dumps(out))
    """
)


def openvino(bundle: Path, variants: list[str], python: Path, batch: int, runs: int, threads: int | None) -> dict[str, Any]:
    """Throughput of ``variants`` on ONNX Runtime's OpenVINO provider (CPU), run by the interpreter ``python``.

    Returns ``{"onnxruntime", "variants": {variant: {"throughput_b{batch}_per_s"}}}`` or ``{"skipped": reason}``.
    """
    if not Path(python).is_file():
        return {"skipped": f"{python} is not a Python interpreter (a venv with onnxruntime-openvino: its bin/python)"}
    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / package.name).symlink_to(package, target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": tmp, "PYTHONNOUSERSITE": "1"}
        cmd = [str(python), "-c", _OPENVINO, str(bundle), json.dumps(variants), json.dumps(threads), str(batch), str(runs)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"skipped": f"OpenVINO run failed: {_last_line(p.stderr, f'exit {p.returncode}')}"}
    return _last_json(p.stdout) or {"skipped": f"the OpenVINO run printed no report (last output: {_last_line(p.stdout, 'nothing')})"}
