"""One ONNX file -> one ONNX Runtime session with the project's options, and the errors it opens with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BundleError, InputError, ProviderError

if TYPE_CHECKING:
    import onnxruntime as ort

#: a resolved provider list: ``[(ONNX Runtime name, options), ...]`` in priority order
Providers = list[tuple[str, dict[str, Any]]]


def session_options(ort_module: Any, threads: int | None) -> ort.SessionOptions:
    """All graph optimisations, warnings off, and ``threads`` intra-op threads (None: ONNX Runtime's default).

    Raises ``InputError`` for ``threads`` that is not a positive int or None.
    """
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InputError(f"threads={threads!r} invalid; pass a positive int or None for all cores")
    opts = ort_module.SessionOptions()
    opts.graph_optimization_level = ort_module.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return opts


def open_session(
    ort_module: Any, root: Path, name: str, opts: Any, providers: Providers, disabled: Sequence[str] = ()
) -> ort.InferenceSession:
    """A session for the bundle file ``root/name`` on ``providers``, without the ``disabled`` graph optimisers.

    Raises ``ProviderError`` when an accelerator cannot open a graph that loads on the CPU (the provider or its
    options are at fault), else ``BundleError`` (the graph is).
    """
    path = root / name
    try:
        return ort_module.InferenceSession(str(path), sess_options=opts, providers=providers, disabled_optimizers=list(disabled))
    except Exception as e:  # ORT raises its own untyped errors for invalid graphs
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        accelerators = [p for p, _ in providers if p != "CPUExecutionProvider"]
        if accelerators and _loads_on_cpu(ort_module, path, opts):  # the graph is fine: the provider (or its options) is not
            raise ProviderError(
                f"{', '.join(accelerators)} could not open {name} ({first[:200]}); check the provider options and run siamese doctor"
            ) from None
        raise BundleError(f"{name} is not a loadable ONNX model ({first[:200]}); re-export the bundle") from None


def _loads_on_cpu(ort_module: Any, path: Path, opts: Any) -> bool:
    try:
        ort_module.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception:  # any failure means the graph itself is at fault
        return False
    return True
