"""What a user would run instead of the bundle, timed beside it (``cpu_limit.py``), each in its own process.

- torch (``python -m siamese_trainer.bench_torch`` through ``siamese_sdk.tools.bench.torch_throughput``, the
  train extra): ``torch_eager``, ``torch_compile`` (inductor) and ``torch_x86_int8`` (PT2E with
  ``X86InductorQuantizer``, needs torchao) of the checkpoint;
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
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import siamese_sdk
from siamese_sdk.tools.bench import last_json, last_line

#: report key -> ``bench_torch --mode``
TORCH_MODES = {"torch_eager": "eager", "torch_compile": "compile", "torch_x86_int8": "x86-int8"}


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
    package = Path(siamese_sdk.__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / package.name).symlink_to(package, target_is_directory=True)
        env = {**os.environ, "PYTHONPATH": tmp, "PYTHONNOUSERSITE": "1"}
        cmd = [str(python), "-c", _OPENVINO, str(bundle), json.dumps(variants), json.dumps(threads), str(batch), str(runs)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"skipped": f"OpenVINO run failed: {last_line(p.stderr, f'exit {p.returncode}')}"}
    return last_json(p.stdout) or {"skipped": f"the OpenVINO run printed no report (last output: {last_line(p.stdout, 'nothing')})"}
