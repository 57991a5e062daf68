"""The encoder variants a bundle can ship, as one table, and stage 2 of the export that builds them.

Each row: the manifest's variant name, how it is built from the fp32 ONNX, whether it needs calibration
images, whether its batch axis is fixed (``--fixed-batch``), whether the speed gate (``gates``) applies,
whether the checker runs on it, and the option that turns it off. Which targets run a variant is
``siamese_sdk.profiles.TARGETS`` (``gates.targets_of``); which rows a model kind builds is its source's
``variant_rows`` (text encoders take dynamic int8, CNNs static QDQ).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import Variant
from siamese_sdk.profiles import variants_for

from .gates import targets_of
from .onnx.dynamic import quantize_dynamic_encoder
from .onnx.fp16 import convert_fp16
from .onnx.graphs import INPUT_NAME, fix_batch
from .onnx.quantize import quantize_encoder, quantize_w8a16
from .options import ExportOptions


@dataclass(frozen=True)
class Build:
    """What a builder gets: the fp32 ONNX, the file to write, a scratch folder, calibration on demand, the fixed batch,
    the static int8's weight bits (``--int8-weight-bits``)."""

    fp32: Path
    dst: Path
    work: Path
    calibration: Callable[[], np.ndarray]
    batch: int
    weight_bits: int


def _static_int8(b: Build) -> dict:
    return quantize_encoder(b.fp32, b.dst, INPUT_NAME, b.calibration(), weight_bits=b.weight_bits)


def _dynamic_int8(b: Build) -> dict:
    return quantize_dynamic_encoder(b.fp32, b.dst)


def _fp16(b: Build) -> dict:
    return convert_fp16(b.fp32, b.dst)


def _fp16_fixed(b: Build) -> dict:
    fix_batch(b.fp32, b.work / "fixed.onnx", b.batch)
    return convert_fp16(b.work / "fixed.onnx", b.dst)


def _w8a16_fixed(b: Build) -> dict:
    fix_batch(b.fp32, b.work / "fixed.onnx", b.batch)
    return quantize_w8a16(b.work / "fixed.onnx", b.dst, INPUT_NAME, b.calibration(), b.batch)


@dataclass(frozen=True)
class VariantRow:
    """One way to build a variant."""

    #: the row's key (``Source.variant_rows`` names it); ``name``: the manifest's variant name
    key: str
    name: str
    #: writes the variant, returns the manifest's ``quantization`` description
    build: Callable[[Build], dict]
    #: the stage-2 log line (may use ``{batch}``)
    log: str
    #: needs calibration images (the encoder's training images or ``--calibration``)
    calibration: bool = False
    #: batch axis fixed to ``--fixed-batch`` (the manifest records ``batch``)
    fixed_batch: bool = False
    #: timed against fp32 on this CPU (``gates.apply_gates``)
    speed_gate: bool = False
    #: run the full ONNX checker on the result
    check: bool = True
    #: ``ExportOptions`` flag that turns the row off (``--no-<switch>``)
    switch: str | None = None

    @property
    def failure(self) -> str:
        """What failed when ``build`` raises, for the note."""
        return "quantisation" if self.calibration or self.speed_gate else "conversion"

    @property
    def targets(self) -> str:
        """The targets whose profile runs this variant (``siamese_sdk.profiles.TARGETS``)."""
        return targets_of(self.name)


VARIANTS: dict[str, VariantRow] = {
    r.key: r
    for r in (
        VariantRow("int8", "int8", _static_int8, "int8: static QDQ, per-channel, calibrating on training images",
                   calibration=True, speed_gate=True, check=False, switch="int8"),
        VariantRow("int8-dynamic", "int8", _dynamic_int8, "int8: dynamic, int8 weights, activations quantised per batch at run time",
                   speed_gate=True, check=False, switch="int8"),
        VariantRow("fp16", "fp16", _fp16, "fp16: float16 inside, float32 inputs/outputs"),
        VariantRow("fp16-fixed", "fp16-fixed", _fp16_fixed, "fp16-fixed: fp16 with the batch fixed to {batch} (CoreML)",
                   fixed_batch=True),
        VariantRow("w8a16-fixed", "w8a16-fixed", _w8a16_fixed,
                   "w8a16-fixed: uint16 activations, int8 weights, batch fixed to {batch} (QNN)", calibration=True, fixed_batch=True),
    )
}  # fmt: skip


def build_variants(
    rows: dict[str, str],
    encoders: dict[str | None, Path],
    calibration: dict[str | None, Callable[[], np.ndarray]],
    root: Path,
    opts: ExportOptions,
    profiles: tuple[str, ...],
    notes: list[str],
) -> dict[str, dict[str | None, Variant]]:
    """Stage 2: the variants ``profiles`` need, for every encoder, written beside its fp32 file in ``root``.

    ``rows``: variant name -> ``VARIANTS`` key this kind builds it with; ``encoders``: encoder (None, or the
    branch) -> its ``encoder[.<branch>].fp32.onnx``; ``calibration``: encoder -> its calibration images
    ``(N, ...) float32`` on demand (cached by the caller). A variant that fails to build for any encoder is not shipped (a note
    says why). Returns variant -> encoder -> ``Variant`` (fp32 first).
    """
    log = opts.log
    built = {"fp32": {enc: Variant(file=p.name) for enc, p in encoders.items()}}
    wanted = [n for n in variants_for(profiles) if n in rows]
    log(f"[2/5] building the variants of profile(s) {', '.join(profiles)}: {', '.join(['fp32', *wanted])}")
    work = root / ".work"  # intermediate graphs; removed before the bundle is measured
    work.mkdir()
    for name in wanted:
        row = VARIANTS[rows[name]]
        if row.switch and not getattr(opts, row.switch):
            notes.append(f"{name} not built (--no-{row.switch})")
            continue
        if row.calibration:  # first, as a missing calibration folder is the user's to fix (InputError)
            for enc in encoders:
                calibration[enc]()
        log(f"      {row.log.format(batch=opts.fixed_batch)}")
        files = {enc: fp32.with_name(fp32.name.replace(".fp32.onnx", f".{name}.onnx")) for enc, fp32 in encoders.items()}
        try:
            built[name] = {}
            for enc, fp32 in encoders.items():
                b = Build(fp32, files[enc], work, calibration[enc], opts.fixed_batch, opts.int8_weight_bits)
                info = row.build(b)
                if row.check:
                    onnx.checker.check_model(str(files[enc]), full_check=True)
                built[name][enc] = Variant(
                    file=files[enc].name, quantization=info, batch=opts.fixed_batch if row.fixed_batch else None
                )
        except InputError:
            raise  # missing calibration data: the fix is the user's (--calibration DIR)
        except Exception as e:  # converters and quantisers raise untyped errors on graphs they cannot handle
            for f in files.values():
                f.unlink(missing_ok=True)
            built.pop(name)
            notes.append(f"{name} not shipped: {row.failure} failed ({type(e).__name__}: {str(e)[:120]})")
            log(f"      {notes[-1]}")
    shutil.rmtree(work)
    return built
