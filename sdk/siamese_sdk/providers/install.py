"""A broken ONNX Runtime install: several builds, and which build has which provider.

``onnxruntime``, ``onnxruntime-gpu`` (and the other ORT builds) all install the same Python module
``onnxruntime``; with two of them installed, whichever was installed last silently wins, file by file.
``check_install`` refuses that mix with the one-line fix. An extra can add a package but never remove a
base dependency, so siamese-sdk comes as one distribution per build, the same code (``FLAVOURS``, built by
``scripts/build_dist.py``, as fastembed / fastembed-gpu do): ``siamese-sdk`` needs ``onnxruntime``,
``siamese-sdk-gpu`` needs ``onnxruntime-gpu``, and so on. Install exactly one of them.

Imported by ``import siamese_sdk`` (the import-time check): nothing heavy at module level.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import ExtraMissingError, ProviderError

#: PyPI distributions that each ship the ``onnxruntime`` module.
ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-openvino",
    "onnxruntime-directml",
    "onnxruntime-qnn",
    "onnxruntime-silicon",
    "onnxruntime-rocm",
    "onnxruntime-training",
)

#: ONNX Runtime provider -> the one PyPI build that has it (CoreML ships in the standard macOS wheel).
BUILD_OF_PROVIDER = {
    "CUDAExecutionProvider": "onnxruntime-gpu",
    "TensorrtExecutionProvider": "onnxruntime-gpu",
    "OpenVINOExecutionProvider": "onnxruntime-openvino",
    "QNNExecutionProvider": "onnxruntime-qnn",
    "DmlExecutionProvider": "onnxruntime-directml",
    "CoreMLExecutionProvider": "onnxruntime",
}

#: siamese-sdk distribution -> the one ONNX Runtime build it depends on (same code; docs/deploy.md, GPU and edge).
FLAVOURS = {
    "siamese-sdk": "onnxruntime",
    "siamese-sdk-gpu": "onnxruntime-gpu",
    "siamese-sdk-openvino": "onnxruntime-openvino",
    "siamese-sdk-qnn": "onnxruntime-qnn",
    "siamese-sdk-directml": "onnxruntime-directml",
}

INSTALL_HINT = (
    "install exactly one siamese-sdk distribution, which brings its ONNX Runtime build: pip install siamese-sdk "
    "(CPU; CoreML on macOS), siamese-sdk-gpu (CUDA, TensorRT), siamese-sdk-openvino, siamese-sdk-qnn or siamese-sdk-directml"
)


def import_onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, after ``check_install``; ``ExtraMissingError`` naming the extras when absent."""
    check_install()
    try:
        import onnxruntime
    except ImportError as e:
        raise ExtraMissingError(f"onnxruntime cannot be imported ({e}); {INSTALL_HINT}") from None
    return onnxruntime


def _installed(names: Sequence[str]) -> list[str]:
    import importlib.metadata

    found = []
    for name in names:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def installed_ort_distributions() -> list[str]:
    """Names of the installed distributions that provide the ``onnxruntime`` module."""
    return _installed(ORT_DISTRIBUTIONS)


def installed_flavours() -> list[str]:
    """Names of the installed siamese-sdk distributions (``FLAVOURS``)."""
    return _installed(list(FLAVOURS))


def _metadata_names(names: Sequence[str]) -> set[str]:
    """Which of ``names`` have a ``*.dist-info`` / ``*.egg-info`` / ``*.egg`` entry in a ``sys.path`` folder.

    A directory listing, no metadata parsing: it sees every distribution ``importlib.metadata`` finds in
    those folders (an upper bound), so the import-time check need not import ``importlib.metadata`` (and
    its ``email``/``zipfile`` dependencies, 20-50 ms) when at most one ONNX Runtime build can be installed.
    """
    wanted = {_normalize(n) for n in names}
    found: set[str] = set()
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:  # a zip or a missing folder: no native onnxruntime build lives there
            continue
        for entry in entries:
            meta = _METADATA_ENTRY.match(entry)
            if meta and _normalize(meta["name"]) in wanted:
                found.add(_normalize(meta["name"]))
    return found


#: ``<name>[-<version>...].dist-info`` / ``.egg-info`` / ``.egg``: a distribution's metadata in a sys.path folder
_METADATA_ENTRY = re.compile(r"^(?P<name>.+?)(-\d.*)?\.(dist-info|egg-info|egg)$", re.IGNORECASE)


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares it (``onnxruntime-gpu`` == ``onnxruntime_gpu``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def install_problem() -> str | None:
    """The one-line description and fix of a broken ONNX Runtime install (several builds), or None."""
    if len(_metadata_names(ORT_DISTRIBUTIONS)) < 2:
        return None  # at most one build's metadata on sys.path: nothing can clash
    dists = installed_ort_distributions()
    if len(dists) > 1:
        return (
            f"conflicting onnxruntime builds installed together: {', '.join(dists)}; they overwrite each other's files. "
            f"Fix: {fix_command(dists)} (keep one build: each includes the CPU provider)"
        )
    return None


def check_install() -> None:
    """Raise ``ProviderError`` when more than one onnxruntime build is installed (they clobber each other)."""
    problem = install_problem()
    if problem:
        raise ProviderError(problem)


def swap_command(build: str) -> str:
    """The command that leaves ``build`` as the only intact ONNX Runtime build, with its siamese-sdk flavour.

    Every installed build is uninstalled first (uninstalling one breaks the shared module of the others);
    a siamese-sdk flavour that depends on another build is swapped for ``build``'s, so that a later
    ``pip install -U`` cannot bring the other build back.
    """
    flavour = {b: f for f, b in FLAVOURS.items()}.get(build)
    stale = [f for f in installed_flavours() if FLAVOURS[f] != build]
    remove = stale + [d for d in installed_ort_distributions() if d not in stale]
    install = flavour if stale and flavour else build
    return f"{'pip uninstall -y ' + ' '.join(remove) + ' && ' if remove else ''}pip install {install}"


def fix_command(dists: Sequence[str]) -> str:
    """The exact command that leaves one intact build out of ``dists`` (the accelerator build, if any)."""
    return swap_command(next((d for d in dists if d != "onnxruntime"), dists[0]))


def build_hint(provider: str) -> str:
    """`` (install ...)`` naming the build that has ``provider`` and how to swap to it; empty when unknown."""
    build = BUILD_OF_PROVIDER.get(provider)
    if build is None:
        return ""
    if provider == "CoreMLExecutionProvider":
        return " (CoreML is in the standard onnxruntime wheel on macOS only)"
    if build in installed_ort_distributions():
        return ""
    return f" (it is in the {build} build; switch to it: {swap_command(build)})"
