"""The top-level keys of ``manifest.json``: how each is read and checked, as a table (``FIELDS``).

``Manifest.from_dict`` reads every key of the table (``format``, ``format_version`` and ``input`` it reads itself),
so a new key is one more row: ``"name": lambda d, key, path: strict.<getter>(d, key, path, ...)``, or ``_each``
of a part's ``from_dict`` for a name -> object table. Values are typed, ranged and finite (``siamese_sdk.format.strict``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import strict
from .entries import Branch, Profile, Variant


def _sha256(v: Any, path: str) -> str:
    """A ``files`` value: a sha256 in hex, or ``""`` (not hashed yet: ``write_manifest`` fills it, ``verify`` refuses it)."""
    if not isinstance(v, str) or not (v == "" or _SHA256.fullmatch(v)):
        raise strict.FieldError(f"{path} must be a sha256 (64 lowercase hex digits), got {str(v)[:80]!r}")
    return v


_SHA256 = re.compile("[0-9a-f]{64}")
#: the largest embedding dimension a manifest may declare
MAX_EMBEDDING_DIM = 1 << 20
_Read = Callable[[dict[str, Any], str, str], Any]


def _each(read: Callable[[Any, str], Any], default: Any = strict.MISSING) -> _Read:
    return lambda d, key, path: strict.each(d, key, path, read, default=default)


#: every top-level manifest key this reader knows -> how it is read and checked (``(d, key, path) -> value``);
#: ``format``, ``format_version`` and ``input`` are read first (``from_dict``). A key not listed is ignored: an
#: optional key a newer exporter adds; a change older readers must not ignore bumps ``format_version``.
FIELDS: dict[str, _Read] = {
    "embedding_dim": lambda d, k, p: strict.integer(d, k, p, lo=1, hi=MAX_EMBEDDING_DIM),
    "metric": lambda d, k, p: strict.text(d, k, p, max_len=64),
    "normalized": lambda d, k, p: strict.boolean(d, k, p),
    "score": lambda d, k, p: strict.mapping(d, k, p, default=None),
    "variants": _each(Variant.from_dict),
    "heads": _each(strict.check_text),
    "files": _each(_sha256),
    "default_variant": lambda d, k, p: strict.text(d, k, p, default="fp32", max_len=64),
    "default_operating_point": lambda d, k, p: strict.text(d, k, p, default="eer", max_len=64),
    "validation": lambda d, k, p: strict.mapping(d, k, p, default={}),
    "provenance": lambda d, k, p: strict.mapping(d, k, p, default={}),
    "notes": lambda d, k, p: strict.sequence(d, k, p, default=[]),
    "profiles": _each(Profile.from_dict, default={}),
    "branches": _each(Branch.from_dict, default={}),
    "ort": lambda d, k, p: strict.mapping(d, k, p, default=None),
    "calibration_history": lambda d, k, p: strict.sequence(d, k, p, default=[]),
    # (its parts are checked by ``format.compatibility.Compatibility.from_dict``)
    "compatibility": lambda d, k, p: strict.mapping(d, k, p, default=None),
}
