"""The manifest's ``compatibility`` entry: the older encoder whose embeddings this bundle's embeddings meet.

Written by ``siamese-export`` for a run trained with ``siamese-train --compatible-with OLD`` (backward-compatible
training) or ``--map-from OLD`` (a learned old -> new map); absent otherwise. The JSON form::

    "compatibility": {
      "old": {"fingerprint": "<16 hex>", "fingerprints": {"fp32": "...", "int8": "..."},
              "embedding_dim": 64, "metric": "euclidean", "normalized": false, "bundle": "runs/old/bundle"},
      "compatible": true,
      "validation": {"old_old": {"auc": 0.95, "eer": 0.11}, "new_old": {...}, "new_new": {...},
                     "mapped_new": {...}},
      "map": {"file": "map.old_to_new.onnx", "input_name": "old", "output_name": "new"}
    }

- ``old``: the old bundle's encoder ids (``Manifest.fingerprint`` of each of its variants; ``fingerprint`` is
  its default variant's), embedding size, metric and normalisation;
- ``compatible``: the export's gate passed: a new query against an old template (``new_old``) is at least as
  accurate as old against old (``old_old``) in validation AUC and EER, so a gallery enrolled by any of ``old``'s
  encoders is searched by this bundle as it is (``Gallery.load(path, model=new)``);
- ``validation``: AUC and EER on the validation pairs for each (query encoder, template encoder) combination;
  ``mapped_new``: a new query against old templates passed through ``map``;
- ``map`` (optional): an ONNX graph ``old (N, D_old) float32 -> new (N, D) float32`` that converts old templates
  once (``siamese gallery upgrade GALLERY --to NEW --map``), listed and hashed in ``files`` like every graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import BundleError

#: the (query, template) combinations ``validation`` may hold, and the figures each holds
PAIRINGS = ("old_old", "new_old", "new_new", "mapped_new")
FIGURES = ("auc", "eer")
#: the file name the export gives the map graph
MAP_FILE = "map.old_to_new.onnx"


def _bad(what: str) -> BundleError:
    return BundleError(f"manifest compatibility: {what}; re-export the bundle")


def _str(d: dict[str, Any], key: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise _bad(f"{where}.{key} must be a non-empty string, got {v!r}")
    return v


@dataclass(frozen=True)
class OldModel:
    """The older encoder: its fingerprints per variant (``fingerprint``: the default variant's), size, metric."""

    fingerprint: str
    fingerprints: dict[str, str]
    embedding_dim: int
    metric: str
    normalized: bool
    bundle: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "fingerprints": dict(self.fingerprints),
            "embedding_dim": self.embedding_dim,
            "metric": self.metric,
            "normalized": self.normalized,
            **({"bundle": self.bundle} if self.bundle else {}),
        }

    @classmethod
    def from_dict(cls, d: Any) -> OldModel:
        if not isinstance(d, dict):
            raise _bad(f"old must be an object, got {type(d).__name__}")
        fps = d.get("fingerprints", {})
        if not isinstance(fps, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in fps.items()):
            raise _bad("old.fingerprints must map variant names to fingerprint strings")
        dim = d.get("embedding_dim")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise _bad(f"old.embedding_dim must be an int >= 1, got {dim!r}")
        if not isinstance(d.get("normalized"), bool):
            raise _bad(f"old.normalized must be true or false, got {d.get('normalized')!r}")
        bundle = d.get("bundle", "")
        if not isinstance(bundle, str):
            raise _bad(f"old.bundle must be a string, got {bundle!r}")
        return cls(_str(d, "fingerprint", "old"), dict(fps), dim, _str(d, "metric", "old"), d["normalized"], bundle)


@dataclass(frozen=True)
class MapGraph:
    """The old -> new map graph: its file in the bundle and its input / output names."""

    file: str = MAP_FILE
    input_name: str = "old"
    output_name: str = "new"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "input_name": self.input_name, "output_name": self.output_name}

    @classmethod
    def from_dict(cls, d: Any) -> MapGraph:
        if not isinstance(d, dict):
            raise _bad(f"map must be an object, got {type(d).__name__}")
        return cls(_str(d, "file", "map"), _str(d, "input_name", "map"), _str(d, "output_name", "map"))


@dataclass(frozen=True)
class Compatibility:
    """The ``compatibility`` entry (see the module docstring)."""

    old: OldModel
    compatible: bool
    validation: dict[str, dict[str, float]] = field(default_factory=dict)
    map: MapGraph | None = None

    def accepts(self, fingerprint: str) -> bool:
        """Whether a gallery made by encoder ``fingerprint`` is searched by this bundle as it is."""
        return self.compatible and self.is_old(fingerprint)

    def is_old(self, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is one of the old bundle's encoders."""
        return fingerprint == self.old.fingerprint or fingerprint in self.old.fingerprints.values()

    def figures(self) -> str:
        """``old/old AUC 0.9500 EER 0.1100, new/old ...``: the validation figures in one line."""
        return ", ".join(
            f"{name.replace('_', '/')} AUC {v['auc']:.4f} EER {v['eer']:.4f}" for name, v in self.validation.items()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.to_dict(),
            "compatible": self.compatible,
            "validation": {k: dict(v) for k, v in self.validation.items()},
            **({"map": self.map.to_dict()} if self.map is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: Any) -> Compatibility:
        """Parse and validate (types, finite figures in [0, 1]); ``BundleError`` in one line otherwise."""
        if not isinstance(d, dict):
            raise _bad(f"must be an object, got {type(d).__name__}")
        if not isinstance(d.get("compatible"), bool):
            raise _bad(f"compatible must be true or false, got {d.get('compatible')!r}")
        val = d.get("validation", {})
        if not isinstance(val, dict):
            raise _bad("validation must be an object")
        out: dict[str, dict[str, float]] = {}
        for name, figs in val.items():
            if name not in PAIRINGS or not isinstance(figs, dict) or set(figs) != set(FIGURES):
                raise _bad(f"validation.{name} must be one of {list(PAIRINGS)} holding exactly {list(FIGURES)}")
            for k, v in figs.items():
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not 0 <= v <= 1:
                    raise _bad(f"validation.{name}.{k} must be a finite number in [0, 1], got {v!r}")
            out[name] = {k: float(figs[k]) for k in FIGURES}
        graph = MapGraph.from_dict(d["map"]) if "map" in d else None
        return cls(OldModel.from_dict(d.get("old")), d["compatible"], out, graph)
