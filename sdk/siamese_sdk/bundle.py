"""The bundle format: a directory with ONNX graphs and ``manifest.json``, the one description of it.

A bundle holds:

- ``encoder.<variant>.onnx``: the encoder branch, input ``(B, C, H, W) float32`` (preprocessed as the
  manifest says), output ``(B, D) float32`` embeddings. One file per shipped variant: ``fp32``, ``int8``
  (static QDQ), ``fp16`` (float16 inside, float32 inputs/outputs), ``fp16-fixed`` and ``w8a16-fixed``
  (input batch fixed to ``Variant.batch``, for CoreML and QNN). Every variant takes and returns float32.
- ``head.pairwise.onnx``: ``(B, D), (B, D) -> (B,)`` scores; ``head.matrix.onnx``: ``(B, D), (N, D) ->
  (B, N)`` scores for 1:N search. Both compute the manifest's ``metric``.
- ``tokenizer.json`` (text and dialog bundles): the tokenizer (``siamese_sdk.tokenizer``); such encoders take
  ``tokens (B, T) int64`` and ``lengths (B,) int64`` instead of images (``siamese_sdk.inputs``).
- ``manifest.json``: format version, every file's sha256, the input spec and preprocessing, embedding
  dim, metric and score direction, per-variant thresholds and validation metrics, provenance, and
  optionally ``profiles``: which variant and providers each deployment target (cpu, cuda, ...) uses.

This module defines the format (the reader defines it); the exporter writes it through ``Manifest``.
Scores are distances for the metric heads: Euclidean distance, and cosine distance ``1 - cos`` (range
``[0, 2]``); the ``learned`` head outputs p(same) in ``[0, 1]``. ``higher_is_closer`` records the
direction: a pair matches when its score is on the close side of the threshold, inclusive. Pseudo-Siamese
bundles (``format_version`` 2) hold one encoder per branch (``siamese_sdk.branches``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleError
from .inputs import ImageInput, InputSpec, input_from_dict

FORMAT = "siamese-bundle"
#: the newest format this reader reads; a bundle is written with the lowest version its features need
#: (1 for one-encoder image bundles, 2 for text/dialog inputs or ``branches``: pseudo-Siamese), so readers of
#: version 1 keep loading what they can run.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

#: metric name -> whether a higher score means "more alike" for the head's output. ``learned``: the trained
#: |a - b| -> FC -> sigmoid head of ``siamese-train --head learned``, scores are p(same) in [0, 1].
METRICS: dict[str, bool] = {"euclidean": False, "cosine": False, "learned": True}
#: operating points every variant carries a threshold for, at validation time.
OPERATING_POINTS = ("eer", "far_1e-2", "far_1e-3")
#: encoder variants this reader knows; a bundle with another one needs a newer siamese-sdk.
VARIANTS = ("fp32", "int8", "fp16", "fp16-fixed", "w8a16-fixed")
HEADS = ("pairwise", "matrix")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Preprocess:
    """How an image file becomes one ``(C, H, W) float32`` encoder input.

    Pixels are read with Pillow, converted to grayscale (``channels=1``) or RGB (3), resized to
    ``size = (H, W)`` with ``resample`` when they differ, multiplied by ``scale`` (1/255 maps bytes to
    ``[0, 1]``), then normalised per channel: ``(x - mean) / std``.
    """

    size: tuple[int, int]
    channels: int = 1
    resample: str = "bilinear"
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    def __post_init__(self) -> None:
        if len(self.size) != 2 or min(self.size) < 1:
            raise BundleError(f"preprocess size {self.size} invalid; expected (height, width) >= 1")
        if self.channels not in (1, 3):
            raise BundleError(f"preprocess channels {self.channels} invalid; expected 1 (gray) or 3 (RGB)")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise BundleError(f"preprocess mean/std need {self.channels} value(s) each, got {len(self.mean)}/{len(self.std)}")
        if any(s <= 0 for s in self.std):
            raise BundleError(f"preprocess std {self.std} must be > 0")
        if self.resample not in ("bilinear", "bicubic", "nearest", "box", "lanczos"):
            raise BundleError(f"preprocess resample {self.resample!r} unknown; use bilinear, bicubic, nearest, box or lanczos")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one preprocessed input."""
        return (self.channels, *self.size)


@dataclass(frozen=True)
class Variant:
    """One shipped encoder: its file, how it was made, and its validation results."""

    file: str
    quantization: dict[str, Any] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: the fixed input batch size of a static-shape variant (``*-fixed``); None for a dynamic batch axis.
    batch: int | None = None

    @property
    def disabled_optimizers(self) -> list[str]:
        """ONNX Runtime graph optimisers to open this encoder without (``quantization.session``), as measured at export."""
        session = (self.quantization or {}).get("session") or {}
        names = session.get("disabled_optimizers", []) if isinstance(session, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BundleError(f"{self.file}: quantization.session.disabled_optimizers must be a list of names; re-export")
        return names

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``batch`` only when fixed, so dynamic variants read as before."""
        d = asdict(self)
        if self.batch is None:
            d.pop("batch")
        return d


@dataclass(frozen=True)
class Profile:
    """One deployment target of a bundle (manifest ``profiles.<name>``): the variant to run and how.

    ``providers`` are friendly provider names in priority order, as ``siamese_sdk.load`` takes them.
    """

    variant: str
    providers: tuple[str, ...] = ()
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "providers": list(self.providers), "notes": self.notes}


@dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json``; see the module docstring for the format."""

    embedding_dim: int
    metric: str
    normalized: bool
    input_name: str
    preprocess: Preprocess | None
    variants: dict[str, Variant]
    heads: dict[str, str]
    files: dict[str, str]
    default_variant: str = "fp32"
    default_operating_point: str = "eer"
    validation: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    #: 0 = the lowest version that holds this manifest's features (1; 2 for text/dialog inputs or branches)
    format_version: int = 0
    profiles: dict[str, Profile] = field(default_factory=dict)
    #: the encoder input (``siamese_sdk.inputs``); default: an image input from ``input_name`` + ``preprocess``.
    #: None for a pseudo-Siamese bundle, whose branches each carry one.
    input_spec: InputSpec | None = None
    #: pseudo-Siamese: one encoder per branch (``siamese_sdk.branches``); then ``input_name``/``preprocess``
    #: are unused (each branch has its own) and top-level variants carry the cross-branch thresholds only.
    branches: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .branches import check_branches

        if self.input_spec is None and not self.branches:
            if self.preprocess is None:
                raise BundleError("manifest input has neither an input spec nor image preprocessing; re-export the bundle")
            object.__setattr__(self, "input_spec", ImageInput(self.input_name, self.preprocess))
        needed = 2 if self.branches else self.input_spec.format_version
        object.__setattr__(self, "format_version", self.format_version or needed)
        if self.format_version < needed and not self.branches:  # (branches: check_branches says it)
            raise BundleError(
                f"{self.input_kind} input needs bundle format_version >= {needed}, manifest says {self.format_version}; re-export"
            )
        check_branches(self)
        if self.metric not in METRICS:
            raise BundleError(f"metric {self.metric!r} unknown; expected one of {sorted(METRICS)}")
        if self.embedding_dim < 1:
            raise BundleError(f"embedding_dim {self.embedding_dim} must be >= 1")
        if not self.variants:
            raise BundleError("manifest lists no encoder variants; re-export the bundle")
        for name in self.variants:
            if name not in VARIANTS:
                raise BundleError(
                    f"variant {name!r} unknown to this siamese-sdk (it reads {list(VARIANTS)}); upgrade: pip install -U siamese-sdk"
                )
        for name, v in self.variants.items():
            if v.batch is not None and (not isinstance(v.batch, int) or v.batch < 1):
                raise BundleError(f"variant {name!r} has fixed batch {v.batch!r}; expected an int >= 1 or none; re-export")
        for name, prof in self.profiles.items():
            if prof.variant not in self.variants:
                raise BundleError(
                    f"profile {name!r} uses variant {prof.variant!r}, which the bundle does not ship ({sorted(self.variants)}); re-export"
                )
        if self.default_variant not in self.variants:
            raise BundleError(f"default_variant {self.default_variant!r} is not among {sorted(self.variants)}")
        if set(self.heads) != set(HEADS):
            raise BundleError(f"manifest heads {sorted(self.heads)} must be exactly {list(HEADS)}")
        if self.default_operating_point not in OPERATING_POINTS:
            raise BundleError(
                f"default_operating_point {self.default_operating_point!r} unknown; expected one of {list(OPERATING_POINTS)}"
            )
        referenced = {v.file for v in self.variants.values() if v.file} | set(self.heads.values())
        specs = [b.input_spec for b in self.branches.values()] or [self.input_spec]
        referenced |= {f for spec in specs for f in spec.files()}
        referenced |= {v.file for b in self.branches.values() for v in b.variants.values()}
        missing = sorted(referenced - set(self.files))
        if missing:
            raise BundleError(f"manifest has no sha256 for {missing}; re-export the bundle")

    @property
    def higher_is_closer(self) -> bool:
        """Score direction of the heads: False for distances (the default metrics)."""
        return METRICS[self.metric]

    @property
    def input_kind(self) -> str:
        """``image``, ``text`` or ``dialog`` (``siamese_sdk.inputs``); a pseudo-Siamese bundle's kinds are per branch."""
        if self.input_spec is None:
            kinds = "/".join(b.input_spec.kind for _, b in sorted(self.branches.items()))
            return f"pseudo-siamese ({kinds})"
        return self.input_spec.kind

    @property
    def input_shape(self) -> tuple[int | None, int, int, int]:
        """``(None, C, H, W)``: the image encoder input, batch axis dynamic."""
        if self.branches:
            raise BundleError(f"this bundle has branches {sorted(self.branches)}, each with its own input; use branches[name]")
        if self.preprocess is None:
            raise BundleError(f"a {self.input_kind} bundle has no image input shape")
        return (None, *self.preprocess.shape)

    def fingerprint(self, variant: str) -> str:
        """Short id of ``variant``'s encoder (its sha256 prefix; of all branch encoders together for a
        pseudo-Siamese bundle): embeddings from equal ids are comparable."""
        if self.branches:
            joined = "".join(self.files[b.variants[variant].file] for _, b in sorted(self.branches.items()))
            return hashlib.sha256(joined.encode()).hexdigest()[:16]
        return self.files[self.variants[variant].file][:16]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form written as ``manifest.json``."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "embedding_dim": self.embedding_dim,
            "metric": self.metric,
            "score": {"higher_is_closer": self.higher_is_closer},
            "normalized": self.normalized,
            **(
                {"branches": {k: b.to_dict() for k, b in self.branches.items()}}
                if self.branches
                else {"input": self.input_spec.to_dict()}
            ),
            "default_variant": self.default_variant,
            "default_operating_point": self.default_operating_point,
            "variants": {k: v.to_dict() for k, v in self.variants.items()},
            "heads": dict(self.heads),
            "files": dict(self.files),
            "validation": self.validation,
            "provenance": self.provenance,
            "notes": list(self.notes),
            **({"profiles": {k: p.to_dict() for k, p in self.profiles.items()}} if self.profiles else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """Parse and validate a manifest dict; raises ``BundleError`` on anything off."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise BundleError(f"not a {FORMAT} manifest (missing 'format': '{FORMAT}'); is this a bundle directory?")
        version = d.get("format_version")
        if not isinstance(version, int):
            raise BundleError("manifest has no integer format_version; re-export the bundle")
        if version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format version {version} is newer than this siamese-sdk reads ({FORMAT_VERSION}); "
                "upgrade: pip install -U siamese-sdk"
            )
        try:
            from .branches import Branch

            branches = {str(k): Branch.from_dict(v) for k, v in d.get("branches", {}).items()}
            spec = None if branches else input_from_dict(d["input"])
            variants = {str(k): parse_variant(v) for k, v in d["variants"].items()}
            # optional (absent from older bundles): deployment targets -> variant and providers
            profiles = {
                str(k): Profile(
                    variant=str(p["variant"]),
                    providers=tuple(str(x) for x in p.get("providers", ())),
                    notes=str(p.get("notes", "")),
                )
                for k, p in d.get("profiles", {}).items()
            }
            return cls(
                format_version=version,
                embedding_dim=int(d["embedding_dim"]),
                metric=str(d["metric"]),
                normalized=bool(d["normalized"]),
                input_name=spec.names[0] if spec else "",
                preprocess=spec.preprocess if isinstance(spec, ImageInput) else None,
                input_spec=spec,
                variants=variants,
                heads={str(k): str(v) for k, v in d["heads"].items()},
                files={str(k): str(v) for k, v in d["files"].items()},
                default_variant=str(d.get("default_variant", "fp32")),
                default_operating_point=str(d.get("default_operating_point", "eer")),
                validation=dict(d.get("validation", {})),
                provenance=dict(d.get("provenance", {})),
                notes=tuple(str(n) for n in d.get("notes", ())),
                profiles=profiles,
                branches=branches,
            )
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"manifest is malformed ({type(e).__name__}: {e}); re-export the bundle") from None


def parse_variant(v: dict[str, Any]) -> Variant:
    """One ``variants.<name>`` entry."""
    return Variant(
        file=str(v["file"]),
        quantization=v.get("quantization"),
        thresholds={str(a): float(b) for a, b in v.get("thresholds", {}).items()},
        metrics={str(a): float(b) for a, b in v.get("metrics", {}).items()},
        batch=None if v.get("batch") is None else int(v["batch"]),
    )


def read_manifest(bundle_dir: str | Path, verify: bool = True) -> Manifest:
    """Read ``bundle_dir/manifest.json`` and, with ``verify``, check every file against its sha256.

    Raises ``BundleError`` for a path that is not a directory, a missing/unparseable manifest, an
    unsupported format version, a missing, changed or unlisted file.
    """
    root = Path(bundle_dir)
    if not root.exists():
        raise BundleError(f"bundle not found: {root}; pass the directory siamese-export wrote")
    if not root.is_dir():
        raise BundleError(f"bundle path {root} is a file; pass the bundle directory that holds {MANIFEST}")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}; it is not a bundle (make one with siamese-export)")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{mpath} is not valid JSON ({e}); re-export the bundle") from None
    manifest = Manifest.from_dict(data)
    if verify:
        verify_files(root, manifest)
    return manifest


def verify_files(root: Path, manifest: Manifest) -> None:
    """Refuse a bundle whose files differ from the manifest: missing, changed, or not listed."""
    for name, digest in manifest.files.items():
        path = root / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise BundleError(f"manifest lists unsafe path {name!r}; the bundle was tampered with")
        if not path.is_file():
            raise BundleError(f"bundle file {name} is missing from {root}; re-export the bundle")
        if sha256_file(path) != digest:
            raise BundleError(
                f"bundle file {name} does not match its sha256 in the manifest (changed or tampered); re-export the bundle"
            )
    listed = set(manifest.files) | {MANIFEST}
    extra = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and str(p.relative_to(root)) not in listed)
    if extra:
        raise BundleError(f"bundle {root} holds files the manifest does not list: {extra}; remove them or re-export")
