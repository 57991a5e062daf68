"""``ExportOptions``: the knobs of an export, shared by the pipeline and every source, with their defaults and
their one validation (``ExportOptions.check``; the CLI and ``onnx.quantize`` use the same values)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from siamese_sdk.errors import InputError
from siamese_sdk.eval import support

#: static int8 weight bits an export accepts (``--int8-weight-bits``); 7 is the default: the same integers on
#: x86 CPUs without VNNI, ARM and onnxruntime-web; 8 is exact only where the CPU has VNNI (docs/export.md)
INT8_WEIGHT_BITS = (8, 7)
DEFAULT_INT8_WEIGHT_BITS = 7


def check_int8_weight_bits(bits: object) -> int:
    """``bits`` when it is one of ``INT8_WEIGHT_BITS``; else ``InputError`` naming the flag."""
    if bits not in INT8_WEIGHT_BITS:
        raise InputError(f"int8 weight bits {bits!r} invalid; pass --int8-weight-bits 8 or 7")
    return int(bits)  # type: ignore[call-overload]


@dataclass
class ExportOptions:
    """Knobs of ``export_bundle``; defaults are what ``siamese-export`` uses."""

    calibration: Path | None = None
    validation: Path | None = None
    int8: bool = True
    calibration_images: int = 256
    max_validation_images: int = 2000
    seed: int = 0
    log: Callable[[str], None] = field(default=print)
    #: deployment targets (``siamese_sdk.profiles.TARGETS``) whose variants to build and record
    profiles: tuple[str, ...] = ("cpu",)
    #: batch size of the static-shape variants (coreml, qnn)
    fixed_batch: int = 1
    #: test-time augmentation baked into the encoder graph (``wrappers.tta.MODES``: auto (the validation gate
    #: picks; one-encoder image checkpoints, else none), none, shift5, shift9)
    tta: str = "auto"
    #: further checkpoints joined with the first into one ensemble encoder (``wrappers.ensemble``)
    members: tuple[Path, ...] = ()
    #: sign the manifest with this Ed25519 private key (``siamese keygen``) before the bundle is moved into place
    sign: Path | None = None
    sign_passphrase: str | None = None
    #: a validation set too small for an operating point (``siamese_sdk.eval.support``): "warn" (record the
    #: threshold marked ``supported: false``) or "refuse" (fail the export)
    threshold_support: str = "warn"
    #: static int8 weights: 7 or 8 bits (``INT8_WEIGHT_BITS``)
    int8_weight_bits: int = DEFAULT_INT8_WEIGHT_BITS
    #: the old bundle a ``--compatible-with`` / ``--map-from`` run is measured against (None: the one the run
    #: names, or ``bundle/`` beside its old checkpoint; ``compatibility``)
    compatible_with: Path | None = None

    def check(self) -> None:
        """``InputError`` naming the flag for a value out of range (profiles: ``gates.check_profiles``)."""
        from .wrappers.tta import MODES  # (torch)

        if not isinstance(self.fixed_batch, int) or self.fixed_batch < 1:
            raise InputError(f"fixed batch {self.fixed_batch!r} invalid; pass --fixed-batch >= 1")
        check_int8_weight_bits(self.int8_weight_bits)
        if self.tta not in MODES:
            raise InputError(f"test-time augmentation {self.tta!r} unknown; pass --tta {' or '.join(MODES)}")
        support.check_mode(self.threshold_support)
