"""The per-encoder parts of a manifest: ``Variant`` (one encoder file), ``Profile`` (one deployment target),
``OrtFiles`` (the ORT-format copies), ``Branch`` (one encoder of a pseudo-Siamese bundle), each owning its dict form.

Defined apart from ``Manifest`` to keep each module small; import them from ``siamese_sdk.format.manifest``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError
from . import strict
from .inputs import ImageInput, InputSpec, Preprocess, input_from_dict

#: the branch names of a pseudo-Siamese bundle.
BRANCHES = ("a", "b")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Variant:
    """One shipped encoder: its file, how it was made, and its validation results."""

    file: str
    quantization: dict[str, Any] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: the fixed input batch size of a static-shape variant (``*-fixed``); None for a dynamic batch axis.
    batch: int | None = None
    #: per operating point, what its threshold rests on (``siamese_sdk.eval.support``): identities, pairs,
    #: bootstrap intervals, supported, reason; manifest key ``threshold_support``, absent in older bundles.
    support: dict[str, dict[str, Any]] = field(default_factory=dict)

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
        support = d.pop("support")
        if support:
            d["threshold_support"] = support
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "variant") -> Variant:
        """One ``variants.<name>`` entry, every field typed (``strict.FieldError`` naming ``path`` when off)."""
        batch = strict.check_mapping(d, path).get("batch")
        return cls(
            file=strict.text(d, "file", f"{path}.file"),
            quantization=strict.mapping(d, "quantization", f"{path}.quantization", default=None),
            thresholds=strict.each(d, "thresholds", f"{path}.thresholds", strict.check_number, default={}),
            metrics=strict.each(d, "metrics", f"{path}.metrics", strict.check_number, default={}),
            batch=None if batch is None else strict.check_int(batch, f"{path}.batch", lo=1, hi=1 << 20),
            support=strict.each(d, "threshold_support", f"{path}.threshold_support", _support_entry, default={}),
        )


def _support_entry(d: Any, path: str = "threshold_support") -> dict[str, Any]:
    """One ``threshold_support.<op>`` entry with its typed keys checked (``strict.FieldError`` when off, which the
    manifest reader reports in one line): intervals are two finite numbers, counts integers (or null)."""
    out = dict(strict.check_mapping(d, path))
    for key in ("interval", "far_interval", "frr_interval"):
        if key in out:
            pair = strict.sequence(out, key, f"{path}.{key}")
            if len(pair) != 2:
                raise strict.FieldError(f"{path}.{key} must be two numbers [low, high], got {len(pair)}")
            out[key] = [strict.check_number(v, f"{path}.{key}") for v in pair]
    for key in ("identities", "genuine_pairs", "impostor_pairs"):
        if out.get(key) is not None:
            out[key] = strict.integer(out, key, f"{path}.{key}")
    if "supported" in out:
        strict.boolean(out, "supported", f"{path}.supported")
    return out



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

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "profile") -> Profile:
        providers = strict.sequence(d, "providers", f"{path}.providers", default=[])
        return cls(
            variant=strict.text(d, "variant", f"{path}.variant"),
            providers=tuple(strict.check_text(x, f"{path}.providers[{i}]") for i, x in enumerate(providers)),
            notes=strict.text(d, "notes", f"{path}.notes", default=""),
        )


@dataclass(frozen=True)
class OrtFiles:
    """The ORT-format copies of a bundle's graphs (manifest ``ort``), for ONNX Runtime Mobile and reduced builds.

    ``variants``: variant name -> ``.ort`` file of its encoder; ``heads``: head name -> ``.ort`` file; ``operators``:
    the operator configuration file a reduced ONNX Runtime build is compiled with; ``style``: the converter's
    optimisation style (``Fixed``); ``usability``: ``.onnx`` file -> the mobile usability checker's verdict;
    ``onnxruntime``: the version that converted them (an ``.ort`` file loads in that version or newer).
    """

    variants: dict[str, str]
    heads: dict[str, str]
    operators: str
    style: str = "Fixed"
    onnxruntime: str = ""
    usability: dict[str, dict[str, Any]] = field(default_factory=dict)

    def files(self) -> set[str]:
        """Every file this entry names (each must be hashed in the manifest's ``files``)."""
        return {*self.variants.values(), *self.heads.values(), self.operators}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "ort") -> OrtFiles:
        return cls(
            variants=strict.each(d, "variants", f"{path}.variants", strict.check_text),
            heads=strict.each(d, "heads", f"{path}.heads", strict.check_text),
            operators=strict.text(d, "operators", f"{path}.operators"),
            style=strict.text(d, "style", f"{path}.style", default="Fixed"),
            onnxruntime=strict.text(d, "onnxruntime", f"{path}.onnxruntime", default=""),
            usability=strict.each(d, "usability", f"{path}.usability", strict.check_mapping, default={}),
        )


@dataclass(frozen=True)
class Branch:
    """One encoder branch of a pseudo-Siamese bundle: its input spec (any kind: ``siamese_sdk.format.inputs``)
    and its variants (``file``, ``quantization``, per-branch ``metrics``)."""

    input_spec: InputSpec
    variants: dict[str, Variant] = field(default_factory=dict)

    @property
    def input_name(self) -> str:
        return self.input_spec.names[0]

    @property
    def preprocess(self) -> Preprocess | None:
        """The image preprocessing of an image branch, else None."""
        return self.input_spec.preprocess if isinstance(self.input_spec, ImageInput) else None

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input_spec.to_dict(), "variants": {k: v.to_dict() for k, v in self.variants.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: str = "branch") -> Branch:
        return cls(
            input_spec=input_from_dict(strict.mapping(d, "input", f"{path}.input"), f"{path}.input"),
            variants=strict.each(d, "variants", f"{path}.variants", Variant.from_dict),
        )
