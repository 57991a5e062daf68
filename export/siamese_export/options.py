"""``ExportOptions``: the knobs of an export, shared by the pipeline and every source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


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
    #: test-time augmentation baked into the encoder graph (``wrappers.tta.SHIFTS``: none, shift5, shift9)
    tta: str = "none"
    #: further checkpoints joined with the first into one ensemble encoder (``wrappers.ensemble``)
    members: tuple[Path, ...] = ()
    #: sign the manifest with this Ed25519 private key (``siamese keygen``) before the bundle is moved into place
    sign: Path | None = None
    sign_passphrase: str | None = None
    #: a validation set too small for an operating point (``siamese_sdk.eval.support``): "warn" (record the
    #: threshold marked ``supported: false``) or "refuse" (fail the export)
    threshold_support: str = "warn"
    #: static int8 weights: 7 bits (the default: the same integers on x86 CPUs without VNNI, ARM and
    #: onnxruntime-web), or 8 (exact only where the CPU has VNNI; docs/export.md)
    int8_weight_bits: int = 7
