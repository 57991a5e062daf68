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
    def from_dict(cls, d: dict[str, Any]) -> Variant:
        """One ``variants.<name>`` entry."""
        return cls(
            file=str(d["file"]),
            quantization=d.get("quantization"),
            thresholds={str(a): float(b) for a, b in d.get("thresholds", {}).items()},
            metrics={str(a): float(b) for a, b in d.get("metrics", {}).items()},
            batch=None if d.get("batch") is None else int(d["batch"]),
            support={str(a): _support_entry(b) for a, b in (d.get("threshold_support") or {}).items()},
        )


def _support_entry(d: dict[str, Any]) -> dict[str, Any]:
    """One ``threshold_support.<op>`` entry with its typed keys checked (``TypeError``/``ValueError`` when off,
    which the manifest reader reports in one line): intervals are two numbers, counts integers (or null)."""
    out = dict(d)
    for key in ("interval", "far_interval", "frr_interval"):
        if key in out:
            lo, hi = out[key]
            out[key] = [float(lo), float(hi)]
    for key in ("identities", "genuine_pairs", "impostor_pairs"):
        if out.get(key) is not None:
            out[key] = int(out[key])
    if "supported" in out and not isinstance(out["supported"], bool):
        raise TypeError(f"threshold_support supported must be true or false, got {out['supported']!r}")
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
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        return cls(variant=str(d["variant"]), providers=tuple(str(x) for x in d.get("providers", ())), notes=str(d.get("notes", "")))


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
    def from_dict(cls, d: dict[str, Any]) -> OrtFiles:
        return cls(
            variants={str(k): str(v) for k, v in d["variants"].items()},
            heads={str(k): str(v) for k, v in d["heads"].items()},
            operators=str(d["operators"]),
            style=str(d.get("style", "Fixed")),
            onnxruntime=str(d.get("onnxruntime", "")),
            usability={str(k): dict(v) for k, v in d.get("usability", {}).items()},
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
    def from_dict(cls, d: dict[str, Any]) -> Branch:
        return cls(input_spec=input_from_dict(d["input"]), variants={str(k): Variant.from_dict(v) for k, v in d["variants"].items()})
