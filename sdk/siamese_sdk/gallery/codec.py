"""Gallery storage encodings: how one embedding row is held, per vector of dimension D.

- ``"float32"`` (default): ``4·D`` bytes; exact.
- ``"float16"``: ``2·D`` bytes; values beyond +-65504 are refused.
- ``"int8"``: ``D + 4`` bytes; **per-vector symmetric** quantisation: ``scale = max|x| / 127``,
  ``code = round(x / scale)`` in ``[-127, 127]``, stored with its float32 ``scale``. Per-vector (not
  per-dimension) so that each ``add`` is quantised on its own: a per-dimension scale would depend on the
  data already stored and would need re-quantising the gallery as it grows.

Scores are computed from the stored (dequantised) vectors, so a compact gallery ranks by an approximation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

STORAGES = ("float32", "float16", "int8")
#: as the bundle's cosine head: x / max(||x||, 1e-12)
EPS = np.float32(1e-12)
F16_MAX = float(np.finfo(np.float16).max)


def unit(x: np.ndarray) -> np.ndarray:
    """``(N, D)`` rows scaled to unit length (``x / max(||x||, 1e-12)``), as the cosine head does."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), EPS)


def quantize(e: np.ndarray, storage: str) -> tuple[np.ndarray, np.ndarray | None]:
    """``(N, D) float32`` rows to their stored form: ``(codes (N, D) storage dtype, scales (N,) float32 or None)``.

    Raises ``InputError`` for float16 values beyond its range.
    """
    if storage == "float32":
        return e, None
    if storage == "float16":
        if np.abs(e).max(initial=0.0) > F16_MAX:
            raise InputError(f"embedding values exceed the float16 range (+-{F16_MAX:g}); use storage='float32' or 'int8'")
        return e.astype(np.float16), None
    amax = np.abs(e).max(axis=1)
    scale = (amax / np.float32(127.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0))
    codes = np.clip(np.rint(e / safe[:, None]), -127, 127).astype(np.int8)
    return codes, scale


def dequantize(vec: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Stored rows ``(N, D)`` (and their int8 ``scale (N,)``) back to ``(N, D) float32``."""
    out = vec.astype(np.float32)
    if scale is not None:
        out *= scale[:, None]
    return out


def squared_norms(deq: np.ndarray) -> np.ndarray:
    """``(N,) float32`` ``||g||²`` of dequantised rows ``(N, D)``."""
    return np.einsum("ij,ij->i", deq, deq).astype(np.float32)


def cosine_factors(deq: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """``(N,) float32`` ``scale / ||g||`` (``1 / ||g||`` without int8 scales): turns ``q·codes`` into ``q·g/||g||``."""
    mul = np.ones(deq.shape[0], np.float32) if scale is None else scale.astype(np.float32)
    return (mul / np.maximum(np.sqrt(np.einsum("ij,ij->i", deq, deq)), EPS)).astype(np.float32)


def check_ids(ids: Sequence[str], n: int) -> list[str]:
    """``ids`` of ``n`` rows to add as a list of non-empty strings; ``InputError`` otherwise."""
    if isinstance(ids, str):
        raise InputError("ids must be a sequence of strings, one per row, not one string; wrap it: [id]")
    out = list(ids.tolist() if isinstance(ids, np.ndarray) else ids)
    if len(out) != n:
        raise InputError(f"got {n} embeddings but {len(out)} ids; pass one id per row")
    for i in out:
        check_id(i)
    return out


#: the longest id (characters)
MAX_ID_CHARS = 1024
#: NUL and the other control characters (C0, DEL, C1): numpy drops trailing NULs, so such an id would not round-trip
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_id(i: object) -> str:
    """One id: a non-empty ``str`` of at most ``MAX_ID_CHARS`` characters without NUL or control characters,
    so that it is stored, searched and removed exactly as given; ``InputError`` otherwise."""
    if not isinstance(i, str) or not i:
        raise InputError(f"id {i!r} invalid; ids must be non-empty strings")
    if _CONTROL.search(i):
        raise InputError(f"id {i[:80]!r} holds a NUL or control character, which would not round-trip; use printable ids")
    if len(i) > MAX_ID_CHARS:
        raise InputError(f"id {i[:40]!r}... is {len(i):,} characters, over {MAX_ID_CHARS}; use shorter ids")
    return i
