"""The bundle format: a directory with ONNX graphs and ``manifest.json``, the one description of it.

A bundle holds:

- ``encoder.<variant>.onnx``: the encoder branch, input ``(B, C, H, W) float32`` (preprocessed as the
  manifest says), output ``(B, D) float32`` embeddings. One file per shipped variant: ``fp32``, ``int8``
  (static QDQ), ``fp16`` (float16 inside, float32 inputs/outputs), ``fp16-fixed`` and ``w8a16-fixed``
  (input batch fixed to ``Variant.batch``, for CoreML and QNN). Every variant takes and returns float32.
- ``head.pairwise.onnx``: ``(B, D), (B, D) -> (B,)`` scores; ``head.matrix.onnx``: ``(B, D), (N, D) ->
  (B, N)`` scores for 1:N search. Both compute the manifest's ``metric``.
- ``tokenizer.json`` (text and dialog bundles): the tokenizer (``siamese_sdk.tokenizer``); such encoders take
  ``tokens (B, T) int64`` and ``lengths (B,) int64`` instead of images (``siamese_sdk.format.inputs``).
- ``encoder.<variant>.ort``, ``head.<name>.ort``, ``required_operators.config`` (optional, manifest ``ort``):
  ONNX Runtime's ORT-format copies of the graphs and the operators a reduced ONNX Runtime build needs, for
  phones (``siamese-export --profile mobile``); they compute what the ``.onnx`` files compute.
- ``manifest.json``: format version, every file's sha256, the input spec and preprocessing, embedding
  dim, metric and score direction, per-variant thresholds and validation metrics, provenance, and
  optionally ``profiles``: which variant and providers each deployment target (cpu, cuda, ...) uses.

This module defines the format (the reader defines it); the exporter writes it through ``Manifest`` and
``write_manifest``, so a change to the manifest is made here only. Each part owns its dict form
(``Manifest``, ``Variant``, ``Profile``, ``Branch`` here; the input spec and ``Preprocess`` in
``siamese_sdk.format.inputs``), and ``Manifest.from_dict(d).to_dict() == d`` for every bundle written.
Scores are distances for the metric heads: Euclidean distance, and cosine distance ``1 - cos`` (range
``[0, 2]``); the ``learned`` head outputs p(same) in ``[0, 1]``. ``higher_is_closer`` records the
direction (``siamese_sdk.metric``): a pair matches when its score is on the close side of the threshold,
inclusive.

Pseudo-Siamese bundles (``format_version`` 2) hold two encoder branches with unshared weights, e.g. photos
(branch ``a``) and sketches (``b``) mapped into one embedding space that the heads score. The top-level
``input`` is replaced by ``"branches": {"a": {"input": {...}, "variants": {"fp32": {"file":
"encoder.a.fp32.onnx", ...}}}, "b": {...}}``; top-level ``variants.<name>`` keep ``file: ""`` and hold the
thresholds and metrics measured on cross-branch pairs with both branches running that variant. Every
top-level variant exists in every branch; branch names are ``a`` and ``b``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import metric as _metric
from ..errors import BundleError, InputError
from ..metric import Metric
from . import strict
from .compatibility import Compatibility
from .entries import BRANCHES, Branch, OrtFiles, Profile, Variant, sha256_file
from .fields import FIELDS
from .inputs import ImageInput, InputSpec, Preprocess, input_from_dict

FORMAT = "siamese-bundle"
#: the newest format this reader reads; a bundle is written with the lowest version its features need
#: (1 for one-encoder image bundles, 2 for text/dialog inputs or ``branches``: pseudo-Siamese), so readers of
#: version 1 keep loading what they can run.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

#: operating points every variant carries a threshold for, at validation time.
OPERATING_POINTS = ("eer", "far_1e-2", "far_1e-3")
#: encoder variants this reader knows; a bundle with another one needs a newer siamese-sdk.
VARIANTS = ("fp32", "int8", "fp16", "fp16-fixed", "w8a16-fixed")
#: head name -> the file every exporter writes it to (iterating gives the names, as the old tuple did).
HEADS: dict[str, str] = {"pairwise": "head.pairwise.onnx", "matrix": "head.matrix.onnx"}
#: the graph formats a bundle can hold: ONNX (always) and ONNX Runtime's ORT format (manifest ``ort``, optional).
MODEL_FORMATS = ("onnx", "ort")


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
    #: the encoder input (``siamese_sdk.format.inputs``); default: an image input from ``input_name`` + ``preprocess``.
    #: None for a pseudo-Siamese bundle, whose branches each carry one.
    input_spec: InputSpec | None = None
    #: pseudo-Siamese: one encoder per branch (``BRANCHES``); then ``input_name``/``preprocess`` are unused
    #: (each branch has its own) and top-level variants carry the cross-branch thresholds only.
    branches: dict[str, Branch] = field(default_factory=dict)
    #: optional ORT-format copies of the encoders and heads (``siamese-export --profile mobile``); None: ONNX only.
    ort: OrtFiles | None = None
    #: earlier calibrations replaced by ``siamese calibrate``, oldest first (``calibration_history``, optional)
    calibration_history: tuple[dict[str, Any], ...] = ()
    #: the older encoder whose galleries this bundle reads or converts (``format.compatibility``); None: none
    compatibility: Compatibility | None = None

    def __post_init__(self) -> None:
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
        self._check_branches()
        if self.metric not in _metric.METRICS:
            raise BundleError(f"metric {self.metric!r} unknown; expected one of {sorted(_metric.METRICS)}")
        if isinstance(self.embedding_dim, bool) or not isinstance(self.embedding_dim, int) or self.embedding_dim < 1:
            raise BundleError(f"embedding_dim {self.embedding_dim} must be >= 1")
        if not self.variants:
            raise BundleError("manifest lists no encoder variants; re-export the bundle")
        for name in self.variants:
            if name not in VARIANTS:
                raise BundleError(
                    f"variant {name!r} unknown to this siamese-sdk (it reads {list(VARIANTS)}); upgrade: pip install -U siamese-sdk"
                )
        score = self.score
        for name, v in self.variants.items():
            for op, t in v.thresholds.items():
                if not (isinstance(t, (int, float)) and score.lo <= t <= score.hi):
                    raise BundleError(
                        f"variant {name!r} threshold {op} = {t!r} is outside the {self.metric} score range [{score.lo}, {score.hi}]; re-export"
                    )
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
        referenced |= self._check_ort()
        if self.compatibility is not None and self.compatibility.map is not None:
            referenced.add(self.compatibility.map.file)
        missing = sorted(referenced - set(self.files))
        if missing:
            raise BundleError(f"manifest has no sha256 for {missing}; re-export the bundle")

    def _check_branches(self) -> None:
        """Refuse inconsistent branches: a version below 2, other names than ``BRANCHES``, missing variants."""
        if not self.branches:
            return
        if self.format_version < 2:
            raise BundleError(f"manifest has branches but format_version {self.format_version}; branches need version 2, re-export")
        if tuple(sorted(self.branches)) != BRANCHES:
            raise BundleError(f"manifest branches {sorted(self.branches)} must be exactly {list(BRANCHES)}; re-export")
        for name, b in self.branches.items():
            missing = sorted(set(self.variants) - set(b.variants))
            if missing:
                raise BundleError(f"branch {name!r} lacks variant(s) {missing} that the bundle lists; re-export")

    def _check_ort(self) -> set[str]:
        """The files of the ``ort`` entry (empty without one); refuses one that names unknown variants or heads."""
        if self.ort is None:
            return set()
        if self.branches:
            raise BundleError("manifest has ORT-format files for a pseudo-Siamese bundle, which they do not support; re-export")
        unknown = sorted(set(self.ort.variants) - set(self.variants))
        if unknown:
            raise BundleError(f"manifest ort lists variant(s) {unknown} that the bundle does not ship; re-export")
        if set(self.ort.heads) != set(HEADS):
            raise BundleError(f"manifest ort heads {sorted(self.ort.heads)} must be exactly {list(HEADS)}; re-export")
        return self.ort.files()

    def graph_file(self, variant: str | None, model_format: str = "onnx", head: str = "") -> str:
        """The file of ``variant``'s encoder (or of ``head``'s head) in ``model_format``: ``onnx`` or ``ort``
        (the ORT-format copy); ``BundleError`` when the bundle has no such copy."""
        if model_format not in MODEL_FORMATS:
            raise InputError(f"model_format {model_format!r} unknown; expected one of {list(MODEL_FORMATS)}")
        if model_format == "onnx":
            return self.heads[head] if head else self.variants[str(variant)].file
        files = {} if self.ort is None else self.ort.heads if head else self.ort.variants
        if (head or variant) not in files:
            has = sorted(self.ort.variants) if self.ort else []
            raise BundleError(
                f"this bundle has no ORT-format file for {head or variant!r} (ORT-format variants: {has}); "
                "export with --profile mobile or use model_format='onnx'"
            )
        return files[head or variant]

    @property
    def score(self) -> Metric:
        """The heads' score kind (``siamese_sdk.metric``): direction, range and what a match is."""
        return _metric.get(self.metric)

    @property
    def higher_is_closer(self) -> bool:
        """Score direction of the heads: False for distances (the default metrics)."""
        return self.score.higher_is_closer

    def encoders(self, variant: str) -> dict[str, tuple[InputSpec, Variant]]:
        """Each encoder of ``variant``: ``{branch: (input spec, variant entry with its file)}``, branches in name
        order; ``{"": (...)}`` for the one shared encoder of a one-encoder bundle."""
        if self.branches:
            return {name: (b.input_spec, b.variants[variant]) for name, b in sorted(self.branches.items())}
        return {"": (self.input_spec, self.variants[variant])}

    @property
    def input_kind(self) -> str:
        """``image``, ``text`` or ``dialog`` (``siamese_sdk.format.inputs``); a pseudo-Siamese bundle's kinds are per branch."""
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

    def fingerprint(self, variant: str, branch: str = "") -> str:
        """Short id of ``variant``'s encoder (its sha256 prefix; of all branch encoders together for a
        pseudo-Siamese bundle, of one with ``branch``): embeddings from equal ids are comparable."""
        if branch:
            return self.files[self.branches[branch].variants[variant].file][:16]
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
            **({"ort": self.ort.to_dict()} if self.ort else {}),
            **({"calibration_history": list(self.calibration_history)} if self.calibration_history else {}),
            **({"compatibility": self.compatibility.to_dict()} if self.compatibility is not None else {}),
        }

    def to_json(self) -> str:
        """``to_dict`` as the text of ``manifest.json`` (indented, no NaN, a final newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """Parse and validate a manifest dict; raises ``BundleError`` in one line on anything off: every field's
        type, range and finiteness is checked (``FIELDS`` and the parts' ``from_dict``), a string where a
        boolean belongs or a NaN threshold included."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise BundleError(f"not a {FORMAT} manifest (missing 'format': '{FORMAT}'); is this a bundle directory?")
        version = d.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise BundleError("manifest has no integer format_version; re-export the bundle")
        if version > FORMAT_VERSION:
            raise BundleError(
                f"bundle format version {version} is newer than this siamese-sdk reads ({FORMAT_VERSION}); "
                "upgrade: pip install -U siamese-sdk"
            )
        try:
            f = {key: read(d, key, key) for key, read in FIELDS.items()}
            branches, spec = f["branches"], None
            if not branches:
                spec = input_from_dict(strict.mapping(d, "input", "input"))
            score = f["score"]
            if score is not None and "higher_is_closer" in score:
                strict.boolean(score, "higher_is_closer", "score.higher_is_closer")
            return cls(
                format_version=version,
                embedding_dim=f["embedding_dim"],
                metric=f["metric"],
                normalized=f["normalized"],
                input_name=spec.names[0] if spec else "",
                preprocess=spec.preprocess if isinstance(spec, ImageInput) else None,
                input_spec=spec,
                variants=f["variants"],
                heads=f["heads"],
                files=f["files"],
                default_variant=f["default_variant"],
                default_operating_point=f["default_operating_point"],
                validation=f["validation"],
                provenance=f["provenance"],
                notes=tuple(strict.check_text(n, f"notes[{i}]") for i, n in enumerate(f["notes"])),
                profiles=f["profiles"],
                branches=branches,
                ort=None if f["ort"] is None else OrtFiles.from_dict(f["ort"]),
                calibration_history=tuple(strict.check_mapping(h, f"calibration_history[{i}]") for i, h in enumerate(f["calibration_history"])),
                compatibility=None if f["compatibility"] is None else Compatibility.from_dict(f["compatibility"]),
            )
        except strict.FieldError as e:
            raise BundleError(f"manifest is malformed: {e}; re-export the bundle") from None
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"manifest is malformed ({type(e).__name__}: {e}); re-export the bundle") from None


def read_manifest(bundle_dir: str | Path, verify: bool = True, trusted_keys: Sequence[str | Path] | None = None) -> Manifest:
    """Read ``bundle_dir/manifest.json``; with ``verify``, check every file against its sha256.

    ``trusted_keys`` (``.pub`` files or directories of them; None: no signature check, ``[]``: refuse
    everything): ``manifest.sig`` must be a valid signature by one of them over the exact manifest bytes that
    are then parsed (``siamese_sdk.security.signing``; needs the ``signing`` extra). Always, with or without
    ``verify``: every path field and every external-data location of the ONNX files must stay inside the
    bundle and be hashed (``siamese_sdk.security.onnx_refs``), so nothing outside it is opened later.

    Raises ``BundleError`` for a path that is not a directory, a missing/unparseable manifest, an
    unsupported format version, a missing, changed or unlisted file, a refused signature or path;
    ``InputError`` for ``trusted_keys`` with ``verify=False`` (a signature pins the hashes it is not checking).
    """
    root = Path(bundle_dir)
    if trusted_keys is not None and not verify:
        raise InputError(
            "verify=False cannot be combined with trusted keys (given, or configured by SIAMESE_TRUSTED_KEYS or "
            "~/.config/siamese/trusted_keys): the signature covers the file hashes that verify=False skips"
        )
    if not root.exists():
        raise BundleError(f"bundle not found: {root}; pass the directory siamese-export wrote")
    if not root.is_dir():
        raise BundleError(f"bundle path {root} is a file; pass the bundle directory that holds {MANIFEST}")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}; it is not a bundle (make one with siamese-export)")
    raw = mpath.read_bytes()  # read once: the bytes checked are the bytes parsed
    from .. import security  # (stdlib only; cryptography is imported only when keys are checked)

    if trusted_keys is not None:
        spath = root / security.SIGNATURE
        sig = spath.read_bytes() if spath.is_file() else None
        security.verify_manifest_bytes(raw, sig, trusted_keys, where=f"bundle {root}")
    data = strict.load_json(raw, str(mpath), "re-export the bundle")
    manifest = Manifest.from_dict(data)
    if verify:
        verify_files(root, manifest)
    security.check_bundle_files(data, root)  # before any ONNX Runtime session opens a file
    return manifest


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Hash the files ``manifest`` lists (in ``root``) into its ``files`` and write ``root/manifest.json`` atomically.

    The one writer of the format: every exporter calls it once its files are final.
    """
    from ..atomic import write_text_atomic  # export-side only: kept off the runtime's import path (cold start)

    hashed = replace(manifest, files={name: sha256_file(root / name) for name in manifest.files})
    write_text_atomic(root / MANIFEST, hashed.to_json())


def verify_files(root: Path, manifest: Manifest) -> None:
    """Refuse a bundle whose files differ from the manifest: missing, changed, or not listed (``manifest.json``
    and its detached signature ``manifest.sig`` are the two files not listed in it)."""
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
    from ..security.signing import SIGNATURE  # (lazy: off the import path of ``import siamese_sdk``)

    listed = set(manifest.files) | {MANIFEST, SIGNATURE}
    extra = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and str(p.relative_to(root)) not in listed)
    if extra:
        raise BundleError(f"bundle {root} holds files the manifest does not list: {extra}; remove them or re-export")
