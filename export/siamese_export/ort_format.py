"""ORT-format copies of a bundle's graphs, for ONNX Runtime Mobile (``siamese-export --profile mobile``).

The fp32 and int8 encoders (``ORT_VARIANTS``: the CPU-provider variants) and both heads are converted the way
ONNX Runtime's converter (``onnxruntime.tools.convert_onnx_models_to_ort``) does it, in its ``Fixed``
optimisation style: the graph is optimised once, here, for the CPU provider without the x86-only NCHWc layout,
so a phone loads it with no optimisation work. The ``Runtime`` style fails on the static-QDQ int8 graphs in ONNX
Runtime 1.32 and only pays off on NNAPI/CoreML, for which the usability checker finds no partition in these
dynamic-batch graphs (only with fixed shapes: the ``coreml``/``qnn`` profiles' fixed variants). The one difference from the converter's command line: a variant's ``disabled_optimizers`` (int8's
``QDQPropagationTransformer``) stay disabled, since an optimised ``.ort`` graph cannot be un-optimised at load.
The converter's own ``create_config_from_models`` writes ``required_operators.config``, what a reduced ONNX
Runtime build is compiled with. Each ``.onnx`` file is checked with ONNX Runtime's mobile usability checker and
its verdicts are recorded in the manifest's ``ort`` entry (``siamese_sdk.format.entries.OrtFiles``), with every
file hashed.

Needs ``onnx`` (the usability checker reads the graphs), so it lives in the export, not in the SDK.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from siamese_sdk.atomic import atomic_directory
from siamese_sdk.errors import BundleError
from siamese_sdk.format.entries import OrtFiles
from siamese_sdk.format.manifest import MANIFEST, Manifest, read_manifest, write_manifest

STYLE = "Fixed"
#: the variants converted: the CPU-provider ones (the Fixed style fuses for the CPU provider; the fp16 and fixed-batch
#: variants are for CUDA, CoreML and QNN, whose providers want the unfused ``.onnx`` graphs)
ORT_VARIANTS = ("fp32", "int8")
OPERATORS = "required_operators.config"
#: the checker's summary lines: ``Model should perform well with <EP> as is: YES|NO|MAYBE`` (and ``if modified to
#: have fixed input shapes``)
_VERDICT = re.compile(r"Model should perform well with (.+?) (as is|if modified to have fixed input shapes): (\w+)")


def usability(path: Path) -> dict[str, Any]:
    """ONNX Runtime's mobile usability checker on one ``.onnx`` file: ``{"try_nnapi_or_coreml": bool,
    "<EP>": {"as_is": "YES|NO|MAYBE", "fixed_shapes": ...}}`` for NNAPI and both CoreML model types."""
    from onnxruntime.tools.mobile_helpers import usability_checker

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger(f"siamese_export.ort_format.{path.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    try:
        try_eps = usability_checker.analyze_model(path, skip_optimize=False, logger=logger)
    except Exception as e:  # the checker's own failures (e.g. a graph without shape information) are its verdict
        return {"try_nnapi_or_coreml": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
    finally:
        logger.removeHandler(handler)
    verdict: dict[str, Any] = {"try_nnapi_or_coreml": bool(try_eps)}
    for line in lines:
        m = _VERDICT.search(line)
        if m:
            key = "as_is" if m.group(2) == "as is" else "fixed_shapes"
            verdict.setdefault(m.group(1), {})[key] = m.group(3)
    return verdict


def to_ort(src: Path, dst: Path, disabled: tuple[str, ...] = ()) -> None:
    """One ``.onnx`` file to an ORT-format file, as ONNX Runtime's converter does it (its ``Fixed`` style: all
    optimisations for the CPU provider, int8 QDQ kept in the CPU kernels' form, no NCHWc layout) and without the
    ``disabled`` optimisers the SDK opens the variant without (``Variant.disabled_optimizers``), which the
    converter's command line cannot pass; a converted graph cannot be un-optimised at load."""
    import onnxruntime

    so = onnxruntime.SessionOptions()
    so.optimized_model_filepath = str(dst)
    so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.qdqisint8allowed", "0")  # the converter's setting for a non-ARM target
    so.add_session_config_entry("session.save_model_format", "ORT")
    try:
        onnxruntime.InferenceSession(
            str(src), sess_options=so, providers=["CPUExecutionProvider"], disabled_optimizers=["NchwcTransformer", *disabled]
        )
    except Exception as e:  # ONNX Runtime raises its own untyped errors
        raise BundleError(f"{src.name}: conversion to the ORT format failed ({str(e).splitlines()[0][:200]})") from None


def add_ort_files(root: Path, manifest: Manifest, log: Callable[[str], None] = print) -> Manifest:
    """Write the ORT-format copies and the operator list into ``root`` and rewrite its manifest with an ``ort`` entry.

    ``manifest`` is the bundle's manifest (its ``.onnx`` files final); returns the new one.
    Raises ``BundleError`` for a pseudo-Siamese bundle (not supported) or a graph the conversion refuses.
    """
    import onnxruntime
    from onnxruntime.tools.ort_format_model import create_config_from_models

    if manifest.branches:
        raise BundleError("ORT-format files are made for one-encoder bundles; this bundle has branches a and b")
    variants = {n: v for n, v in manifest.variants.items() if n in ORT_VARIANTS}
    graphs = {v.file: tuple(v.disabled_optimizers) for v in variants.values()} | {f: () for f in manifest.heads.values()}
    ort_name = {onnx: str(Path(onnx).with_suffix(".ort")) for onnx in graphs}
    log(f"      ORT format ({STYLE}): converting {len(graphs)} graphs with onnxruntime {onnxruntime.__version__}")
    for onnx, disabled in graphs.items():
        to_ort(root / onnx, root / ort_name[onnx], disabled)
    quiet = logging.getLogger("ort_format_model.utils")  # it logs where it wrote the config
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        create_config_from_models([root / f for f in sorted(ort_name.values())], root / OPERATORS, enable_type_reduction=False)
    finally:
        quiet.setLevel(level)
    # the model list in its comment lines names absolute paths: keep bare names (the file is hashed)
    config = root / OPERATORS
    config.write_text(config.read_text().replace(f"{root.resolve()}/", "").replace(f"{root}/", ""))
    checks = {}
    for onnx in graphs:
        checks[onnx] = usability(root / onnx)
        log(f"      {onnx} -> {ort_name[onnx]}: NNAPI/CoreML worth trying: {checks[onnx]['try_nnapi_or_coreml']}")
    ort = OrtFiles(
        variants={name: ort_name[v.file] for name, v in variants.items()},
        heads={h: ort_name[f] for h, f in manifest.heads.items()},
        operators=OPERATORS,
        style=STYLE,
        onnxruntime=onnxruntime.__version__,
        usability=checks,
    )
    files = dict(manifest.files) | {f: "" for f in ort.files()}
    write_manifest(root, replace(manifest, ort=ort, files=files))
    return read_manifest(root)


def convert_bundle(bundle_dir: str | Path, log: Callable[[str], None] = print) -> Manifest:
    """Add the ORT-format files to an existing bundle in place (what ``--profile mobile`` does at export).

    Refuses a signed bundle (re-sign after converting) and one that already has them. The bundle is converted in
    a copy that replaces it only when complete, so a failure leaves it as it was.
    """
    root = Path(bundle_dir)
    manifest = read_manifest(root)
    from siamese_sdk.security.signing import SIGNATURE

    if (root / SIGNATURE).exists():
        raise BundleError(f"{root} is signed; adding files changes {MANIFEST}: convert an unsigned copy, then siamese sign it")
    if manifest.ort is not None:
        raise BundleError(f"{root} already has ORT-format files ({sorted(manifest.ort.files())})")
    with atomic_directory(root) as tmp:
        shutil.copytree(root, tmp, dirs_exist_ok=True)
        manifest = add_ort_files(tmp, manifest, log)
    return manifest
