"""``siamese doctor``: can this machine run bundles, on which providers, and is int8 worth it here?

Checks (``run_checks``), each reported, the failing ones also listed in ``problems``:

- the installed ONNX Runtime distributions and versions: none, or more than one (they overwrite each
  other's files) is a problem, reported with the exact fix;
- onnxruntime's version, build (CPU/GPU, the CUDA version a GPU build was made for) and providers;
- each requested provider (default: every available one but Azure) really initialises: a session on a
  tiny model (3x3 Conv + Relu, protobuf bytes from ``tools.onnx_writer``: no ``onnx`` package needed) must list the
  provider as active and compute the right numbers. A provider that ORT drops (missing CUDA/cuDNN
  libraries, driver too old) is a problem;
- the CPU features that decide int8 speed: AMX / AVX512-VNNI / AVX-VNNI / AVX2 on x86 (``/proc/cpuinfo``),
  NEON / dot-product / i8mm on ARM (``/proc/cpuinfo``, or ``sysctl`` on macOS); information only;
- NVIDIA GPUs (name, driver, memory) from ``nvidia-smi`` when it is on PATH;
- signed bundles (``security.trust_status``): is the ``signing`` extra installed, where trusted keys come from
  (``SIAMESE_TRUSTED_KEYS``, ``~/.config/siamese/trusted_keys/``, or nowhere) and their ids; a configured
  source that is broken (missing path, no key, keys without the extra) is a problem.

``ok`` is False when any problem was found; the CLI then exits with code 1.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import providers as _providers
from ..security.signing import trust_status
from . import onnx_writer as ow

# ---- a tiny ONNX model ----------------------------------------------------------------------------------------
_X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4) / 8.0 - 0.5
_W = np.array([[1, 2, 0], [0, -1, 0], [0, 0, 1]], dtype=np.float32).reshape(1, 1, 3, 3)  # -> [[0, 0], [0.875, 1.25]]


def tiny_model() -> bytes:
    """Serialized ONNX model ``x (1, 1, 4, 4) float32 -> Relu(Conv3x3(x)) (1, 1, 2, 2)``, opset 13, IR 8."""
    return ow.model(
        [ow.node("Conv", ["x", "w"], "c"), ow.node("Relu", ["c"], "y")],
        [ow.value_info("x", ow.FLOAT, _X.shape)],
        [ow.value_info("y", ow.FLOAT, (1, 1, 2, 2))],
        [ow.tensor("w", _W)],
        name="siamese_doctor",
    )


def tiny_model_expected() -> np.ndarray:
    """What ``tiny_model`` must output: ``(1, 1, 2, 2) float32``."""
    out = np.zeros((1, 1, 2, 2), dtype=np.float32)
    for i in range(2):
        for j in range(2):
            out[0, 0, i, j] = max(0.0, float((_X[0, 0, i : i + 3, j : j + 3] * _W[0, 0]).sum()))
    return out


# ---- checks -------------------------------------------------------------------------------------------------
def check_provider(ort: Any, provider: str) -> dict[str, Any]:
    """Open a session on ``tiny_model`` with ``provider`` (+ CPU for what it does not take) and run it once.

    Returns ``{"ok": bool, "detail": str}``; never raises.
    """
    full = _providers.ALIASES.get(provider.lower(), provider)
    if full not in ort.get_available_providers():
        return {
            "ok": False,
            "detail": f"not in this build (available: {ort.get_available_providers()}){_providers.build_hint(full)}",
        }
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    chain = [full] if full == "CPUExecutionProvider" else [full, "CPUExecutionProvider"]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # ORT prints its fallback story; keep it for the detail
            session = ort.InferenceSession(tiny_model(), sess_options=opts, providers=chain)
            y = session.run(None, {"x": _X})[0]
    except Exception as e:  # ORT raises untyped errors (missing libraries, driver, unsupported device)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return {"ok": False, "detail": f"session failed: {first[:300]}"}
    active = session.get_providers()
    if full not in active:
        said = " ".join(line.strip() for line in printed.getvalue().splitlines() if "rror" in line)[:300]
        return {"ok": False, "detail": f"initialisation failed, ORT fell back to {active}{': ' + said if said else ''}"}
    if y.shape != (1, 1, 2, 2) or not np.allclose(y, tiny_model_expected(), atol=1e-2):
        return {
            "ok": False,
            "detail": f"ran but computed {y.ravel().tolist()} instead of {tiny_model_expected().ravel().tolist()}",
        }
    return {"ok": True, "detail": f"session active on {active[0]}, output correct"}


def cpu_info() -> dict[str, Any]:
    """CPU model, architecture and the instruction-set features that decide int8 speed, with a verdict."""
    arch = platform.machine().lower()
    flags: set[str] = set()
    model = platform.processor() or arch
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        with contextlib.suppress(OSError):
            for line in cpuinfo.read_text(errors="replace").splitlines():
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("flags", "features") and not flags:
                    flags = set(value.split())
                elif key in ("model name", "hardware", "cpu model") and value.strip():
                    model = value.strip()
    elif sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string") or model
        for feat, flag in (("FEAT_DotProd", "asimddp"), ("FEAT_I8MM", "i8mm"), ("AdvSIMD", "asimd")):
            if _sysctl(f"hw.optional.arm.{feat}") == "1" or (feat == "AdvSIMD" and _sysctl("hw.optional.AdvSIMD") == "1"):
                flags.add(flag)
    x86 = arch in ("x86_64", "amd64", "i386", "i686")
    wanted = (
        {"avx2": "avx2", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "amx_int8": "amx_int8"}
        if x86
        else {"neon": "asimd", "dotprod": "asimddp", "i8mm": "i8mm", "fp16": "asimdhp"}
    )
    features = {name: flag in flags for name, flag in wanted.items()}
    if not flags:
        verdict = "unknown (no CPU feature list on this OS); the export's int8 speed gate measures it"
    elif x86 and features["amx_int8"]:
        verdict = "AMX: int8 is much faster than fp32 (large batches)"
    elif x86 and (features["avx512_vnni"] or features["avx_vnni"]):
        verdict = "VNNI: int8 is typically 2-4x faster than fp32"
    elif x86 and features["avx2"]:
        verdict = "AVX2 without VNNI: int8 gains are small; the export's speed gate may keep fp32"
    elif x86:
        verdict = "no AVX2: int8 may be slower than fp32; prefer fp32"
    elif features["i8mm"] or features["dotprod"]:
        verdict = "dot-product" + (" + i8mm" if features["i8mm"] else "") + ": int8 is typically 2-3x faster than fp32"
    else:
        verdict = "NEON without dot-product: int8 gains are modest"
    return {"model": model, "arch": arch, "features": features, "int8": verdict}


def _sysctl(name: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else None
    return None


def nvidia_gpus() -> list[dict[str, str]] | None:
    """``[{name, driver, memory}]`` from ``nvidia-smi``; None when nvidia-smi is not on PATH."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return [{"name": f"nvidia-smi failed: {e}", "driver": "", "memory": ""}]
    if out.returncode != 0:
        return [{"name": f"nvidia-smi failed: {(out.stderr or out.stdout).strip()[:200]}", "driver": "", "memory": ""}]
    gpus = []
    for line in out.stdout.strip().splitlines():
        name, driver, memory = ([p.strip() for p in line.split(",")] + ["", "", ""])[:3]
        gpus.append({"name": name, "driver": driver, "memory": memory})
    return gpus


def run_checks(providers: list[str] | None = None) -> dict[str, Any]:
    """Run every check; ``providers`` are friendly or ONNX Runtime names (default: all available but Azure).

    Returns the report (``ok``, ``problems``, ``onnxruntime``, ``providers``, ``cpu``, ``gpus``, ``signing``), the
    ``--json`` output of ``siamese doctor``.
    """
    problems: list[str] = []
    dists = {d: importlib.metadata.version(d) for d in _providers.installed_ort_distributions()}
    report: dict[str, Any] = {"ok": True, "problems": problems, "python": sys.version.split()[0], "platform": platform.platform()}
    runtime: dict[str, Any] = {"distributions": dists}
    report["onnxruntime"] = runtime
    if len(dists) > 1:
        problems.append(
            f"conflicting onnxruntime builds installed together ({', '.join(dists)}); fix: {_providers.fix_command(list(dists))}"
        )
    ort = None
    try:
        import onnxruntime as ort
    except ImportError as e:
        problems.append(f"onnxruntime cannot be imported ({e}); {_providers.INSTALL_HINT}")
    if ort is not None:
        info = getattr(getattr(ort, "capi", None), "build_and_package_info", None)
        runtime.update(
            version=str(ort.__version__),
            location=str(Path(ort.__file__).parent),
            device=str(ort.get_device()),
            cuda_build=getattr(info, "cuda_version", None) or None,
        )
        available = list(ort.get_available_providers())
        wanted = providers or [p for p in available if p != "AzureExecutionProvider"]
        checked = {p: check_provider(ort, p) for p in wanted}
        report["providers"] = {"available": available, "checked": checked}
        problems.extend(f"provider {p}: {r['detail']}" for p, r in checked.items() if not r["ok"])
    else:
        report["providers"] = {"available": [], "checked": {}}
    report["cpu"] = cpu_info()
    report["gpus"] = nvidia_gpus()
    report["signing"] = trust = trust_status()
    if trust["error"]:
        problems.append(f"trusted keys: {trust['error']}")
    report["ok"] = not problems
    return report


def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of ``run_checks``'s report."""
    rt = report["onnxruntime"]
    dists = ", ".join(f"{d} {v}" for d, v in rt["distributions"].items()) or "none"
    lines = [
        f"python        {report['python']} on {report['platform']}",
        f"installed     {dists}",
    ]
    if "version" in rt:
        build = f"GPU build for CUDA {rt['cuda_build']}" if rt.get("cuda_build") else f"{rt['device']} build"
        lines.append(f"onnxruntime   {rt['version']} ({build}) at {rt['location']}")
    prov = report["providers"]
    lines.append(f"providers     {', '.join(prov['available']) or 'none'}")
    for name, r in prov["checked"].items():
        lines.append(f"  {'ok  ' if r['ok'] else 'FAIL'} {name}: {r['detail']}")
    cpu = report["cpu"]
    feats = " ".join(f"{k}{'+' if v else '-'}" for k, v in cpu["features"].items())
    lines += [f"cpu           {cpu['model']} ({cpu['arch']}): {feats}", f"int8          {cpu['int8']}"]
    gpus = report["gpus"]
    if gpus is None:
        lines.append("gpu           no nvidia-smi on PATH")
    for g in gpus or []:
        lines.append(f"gpu           {g['name']}, driver {g['driver']}, {g['memory']}")
    lines += _signing_lines(report.get("signing"))
    if report["problems"]:
        lines.append(f"PROBLEMS ({len(report['problems'])}):")
        lines += [f"  - {p}" for p in report["problems"]]
    else:
        lines.append("all checks passed")
    return "\n".join(lines)


def _signing_lines(trust: dict[str, Any] | None) -> list[str]:
    """The ``signing`` lines of the report: the extra, where trusted keys come from, each key."""
    if trust is None:
        return []
    extra = "cryptography installed" if trust["extra"] else "cryptography not installed (pip install 'siamese-sdk[signing]')"
    if trust["source"] is None:
        return [f"signing       {extra}; no trusted keys configured: bundles load without a signature check"]
    lines = [f"signing       {extra}; trusted keys from {trust['source']}"]
    lines += [f"  key {k['key_id'] or '?'}: {k['path']}" for k in trust["keys"]]
    return lines
