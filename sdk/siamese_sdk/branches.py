"""Pseudo-Siamese bundles (``format_version`` 2): two encoder branches with unshared weights.

A branch is one encoder with its own input spec and variant files, e.g. photos (branch ``a``) and
sketches (branch ``b``), mapping both domains into one embedding space that the bundle's heads score.
In ``manifest.json`` the top-level ``input`` is replaced by::

    "branches": {
      "a": {"input": {...as the top-level input of a one-encoder bundle...},
            "variants": {"fp32": {"file": "encoder.a.fp32.onnx", "quantization": null, "metrics": {...}}, "int8": {...}}},
      "b": {...}
    }

and top-level ``variants.<name>`` keep ``file: ""`` and hold the thresholds and metrics measured on
cross-branch pairs (a query of branch a against a reference of branch b) with *both* branches running
that variant. Every top-level variant exists in every branch. A branch's ``input`` has the shape of
the top-level one, so other input kinds slot in per branch. Branch names are ``a`` and ``b``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .bundle import Preprocess, Variant, parse_variant
from .errors import BundleError
from .inputs import ImageInput, InputSpec, input_from_dict

if TYPE_CHECKING:
    from .bundle import Manifest

BRANCHES = ("a", "b")


@dataclass(frozen=True)
class Branch:
    """One encoder branch: its input spec (any kind: ``siamese_sdk.inputs``) and its variants (``file``,
    ``quantization``, per-branch ``metrics``)."""

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
        return cls(input_spec=input_from_dict(d["input"]), variants={str(k): parse_variant(v) for k, v in d["variants"].items()})


def check_branches(m: Manifest) -> None:
    """Refuse a manifest whose branches are inconsistent (called from ``Manifest.__post_init__``)."""
    if not m.branches:
        return
    if m.format_version < 2:
        raise BundleError(f"manifest has branches but format_version {m.format_version}; branches need version 2, re-export")
    if tuple(sorted(m.branches)) != BRANCHES:
        raise BundleError(f"manifest branches {sorted(m.branches)} must be exactly {list(BRANCHES)}; re-export")
    for name, b in m.branches.items():
        missing = sorted(set(m.variants) - set(b.variants))
        if missing:
            raise BundleError(f"branch {name!r} lacks variant(s) {missing} that the bundle lists; re-export")


def branch_view(m: Manifest, name: str) -> Manifest:
    """The one-encoder manifest of branch ``name``: its input and files, the bundle's heads and thresholds."""
    import dataclasses

    b = m.branches[name]
    variants = {
        k: dataclasses.replace(v, file=b.variants[k].file, quantization=b.variants[k].quantization, batch=b.variants[k].batch)
        for k, v in m.variants.items()
    }
    return dataclasses.replace(
        m, input_name=b.input_name, preprocess=b.preprocess, input_spec=b.input_spec, variants=variants, branches={}, format_version=2
    )
