"""Strict reading of untrusted JSON and its fields: sizes and nesting capped before parsing, every value typed.

``load_json`` parses text that came from a file (a manifest, a gallery's ``meta``) with its size checked first,
its bracket nesting counted before the parser recurses, ``NaN``/``Infinity`` and overflowing floats refused and
integer literals capped in digits, so a hostile file gets a one-line error instead of a ``RecursionError``,
an ``OverflowError`` or minutes of big-integer arithmetic. The field getters (``integer``, ``number``,
``boolean``, ``text``, ``mapping``, ``sequence``) check one field's type, range and finiteness and name its path
in the message. Readers describe their fields in tables of these getters, so a new key is one more row.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from ..errors import BundleError, SiameseError

#: the largest JSON text read (bytes); a real manifest is a few KiB
MAX_JSON_BYTES = 8 << 20
#: the deepest nesting of JSON arrays/objects read; a real manifest is 6 deep
MAX_DEPTH = 32
#: the most digits of an integer literal; sizes and counts are far smaller
MAX_INT_DIGITS = 24
#: the largest int any field takes (sizes, counts, dims)
MAX_INT = 2**53

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")

Error = type[SiameseError]


class FieldError(BundleError):
    """A field of a manifest or gallery ``meta`` with the wrong type, range or finiteness; the reader adds where and the fix."""


def _fail(error: Error, msg: str) -> NoReturn:
    raise error(msg)


def load_json(raw: bytes | str, what: str, fix: str, error: Error = BundleError, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse ``raw`` as JSON strictly (module docstring); ``error`` in one line naming ``what`` and the ``fix``."""
    if len(raw) > max_bytes:
        _fail(error, f"{what} is {len(raw):,} bytes, over the {max_bytes:,} this reader takes; {fix}")
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            _fail(error, f"{what} is not UTF-8 text ({e.reason} at byte {e.start}); {fix}")
    depth = deepest = 0
    for b in _BRACKETS.findall(_STRINGS.sub("", raw)):
        depth += 1 if b in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        _fail(error, f"{what} nests {deepest} levels deep, over the {MAX_DEPTH} this reader takes; {fix}")

    def constant(name: str) -> NoReturn:
        _fail(error, f"{what} holds {name}, which is not JSON (and no field may be NaN or infinite); {fix}")

    def integer(s: str) -> int:
        if len(s.lstrip("-")) > MAX_INT_DIGITS:
            _fail(error, f"{what} holds a {len(s)}-digit integer, over the {MAX_INT_DIGITS} digits any field takes; {fix}")
        return int(s)

    def floating(s: str) -> float:
        v = float(s)
        if not math.isfinite(v):
            _fail(error, f"{what} holds the number {s[:40]}, which overflows a float; {fix}")
        return v

    try:
        return json.loads(raw, parse_constant=constant, parse_int=integer, parse_float=floating)
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        if isinstance(e, SiameseError):
            raise
        _fail(error, f"{what} is not valid JSON ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__}); {fix}")


# ---- field getters: each takes the parent mapping, the key and the field's dotted path for messages ----------
MISSING = object()


def _get(d: Mapping[str, Any], key: str, path: str, default: Any, error: Error) -> Any:
    if not isinstance(d, Mapping):
        _fail(error, f"{path.rpartition('.')[0] or 'the value'} must be an object, got {type(d).__name__}")
    v = d.get(key, default)
    if v is MISSING:
        _fail(error, f"{path} is missing")
    return v


def integer(
    d: Mapping[str, Any], key: str, path: str, lo: int = 0, hi: int = MAX_INT, default: Any = MISSING, error: Error = FieldError
) -> int:
    """An int field (not a bool, not a float, not a string) in ``[lo, hi]``."""
    v = _get(d, key, path, default, error)
    if v is default and default is not MISSING:
        return v
    return check_int(v, path, lo, hi, error)


def check_int(v: Any, path: str, lo: int = 0, hi: int = MAX_INT, error: Error = FieldError) -> int:
    """An int in ``[lo, hi]``; a float with an integral value (``8.0``, which JSON readers such as the browser's
    cannot tell from ``8``) reads as that int, a fractional one (``28.5``), a bool or a string is refused."""
    if isinstance(v, float) and v.is_integer() and lo <= v <= hi:
        v = int(v)
    elif isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = int(v)  # numpy ints (a checkpoint's dict)
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(error, f"{path} must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        _fail(error, f"{path} = {v} is out of range; expected {lo}..{hi}")
    return v


def check_number(v: Any, path: str, lo: float = -math.inf, hi: float = math.inf, error: Error = FieldError) -> float:
    """A finite int or float (not a bool or string) in ``[lo, hi]``, as a float."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        _fail(error, f"{path} must be a number, got {_show(v)}")
    v = float(v)
    if not math.isfinite(v) or not lo <= v <= hi:
        _fail(error, f"{path} = {v!r} is out of range; expected a finite number in [{lo}, {hi}]")
    return float(v)


def number(
    d: Mapping[str, Any], key: str, path: str, lo: float = -math.inf, hi: float = math.inf, default: Any = MISSING,
    error: Error = FieldError,
) -> float:
    """A finite number field in ``[lo, hi]``."""
    v = _get(d, key, path, default, error)
    if v is default and default is not MISSING:
        return v
    return check_number(v, path, lo, hi, error)


def boolean(d: Mapping[str, Any], key: str, path: str, default: Any = MISSING, error: Error = FieldError) -> bool:
    """A JSON ``true``/``false`` field (a string ``"false"`` is refused, not read as true)."""
    v = _get(d, key, path, default, error)
    if not isinstance(v, bool) and not (v is default and default is not MISSING):
        _fail(error, f"{path} must be true or false, got {_show(v)}")
    return v


def text(
    d: Mapping[str, Any], key: str, path: str, default: Any = MISSING, max_len: int = 4096, error: Error = FieldError
) -> str:
    """A string field of at most ``max_len`` characters."""
    v = _get(d, key, path, default, error)
    if v is default and default is not MISSING:
        return v
    return check_text(v, path, max_len, error)


def check_text(v: Any, path: str, max_len: int = 4096, error: Error = FieldError) -> str:
    if not isinstance(v, str):
        _fail(error, f"{path} must be a string, got {_show(v)}")
    if len(v) > max_len:
        _fail(error, f"{path} is {len(v):,} characters long, over {max_len:,}")
    return v


def mapping(d: Mapping[str, Any], key: str, path: str, default: Any = MISSING, error: Error = FieldError) -> dict[str, Any]:
    """An object field (``default`` when absent; ``null`` is refused unless ``default`` is None)."""
    v = _get(d, key, path, default, error)
    if v is None and default is None:
        return v
    if not isinstance(v, dict):
        _fail(error, f"{path} must be an object, got {_show(v)}")
    return v


def check_mapping(v: Any, path: str, error: Error = FieldError) -> dict[str, Any]:
    """``v`` itself must be an object."""
    if not isinstance(v, dict):
        _fail(error, f"{path} must be an object, got {_show(v)}")
    return v


def sequence(d: Mapping[str, Any], key: str, path: str, default: Any = MISSING, error: Error = FieldError) -> list[Any]:
    """An array field."""
    v = _get(d, key, path, default, error)
    if not isinstance(v, (list, tuple)):
        _fail(error, f"{path} must be an array, got {_show(v)}")
    return list(v)


def each(d: Mapping[str, Any], key: str, path: str, read: Callable[[Any, str], Any], default: Any = MISSING,
         error: Error = FieldError) -> dict[str, Any]:
    """An object field whose values are read by ``read(value, path)``: ``{name: read(value)}``."""
    return {k: read(v, f"{path}.{k}") for k, v in mapping(d, key, path, default, error).items()}


def _show(v: Any) -> str:
    r = repr(v)
    return f"{type(v).__name__} {r[:60]}{'...' if len(r) > 60 else ''}"
