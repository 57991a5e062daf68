"""Files an ONNX graph or a manifest makes the runtime read: listed, and refused unless inside the bundle and hashed.

An ONNX tensor can keep its data in another file (``TensorProto.external_data``, key ``location``, a path
relative to the model file); ONNX Runtime opens it when the session is built. ``external_data_locations``
reads the protobuf wire format directly (the sdk never imports ``onnx``) and walks every place a tensor can
sit: graph initializers and sparse initializers, node attributes (``Constant``'s ``value``, tensor lists,
sparse tensors), subgraphs (``If``/``Loop``/``Scan`` bodies, at any depth), model-local functions and their
attribute defaults, and training-info graphs. Field numbers are those of ``onnx.proto`` (IR version 10).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import BundleError

# message kind -> {field number: kind of the embedded message}; every other field is skipped.
_MODEL, _GRAPH, _NODE, _ATTR, _TENSOR, _SPARSE, _FUNC, _TRAIN, _ENTRY = range(9)
_CHILDREN: dict[int, dict[int, int]] = {
    _MODEL: {7: _GRAPH, 20: _TRAIN, 25: _FUNC},
    _GRAPH: {1: _NODE, 5: _TENSOR, 15: _SPARSE},
    _NODE: {5: _ATTR},
    _ATTR: {5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE},
    _SPARSE: {1: _TENSOR, 2: _TENSOR},
    _FUNC: {7: _NODE, 11: _ATTR},
    _TRAIN: {1: _GRAPH, 2: _GRAPH},
    _TENSOR: {13: _ENTRY},
}
_TENSOR_DATA_LOCATION = 14  # enum DataLocation: 0 DEFAULT, 1 EXTERNAL
_MAX_DEPTH = 100  # nesting of messages; a real encoder is < 10 deep


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: int for varints, memoryview for length-delimited."""
    i, n = 0, len(buf)
    while i < n:
        tag, i = _varint(buf, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 1:
            val, i = None, i + 8
        elif wt == 5:
            val, i = None, i + 4
        elif wt == 2:
            size, i = _varint(buf, i)
            val, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if i > n or num == 0:
            raise ValueError("truncated message")
        yield num, wt, val


def external_data_locations(model: bytes | str | os.PathLike) -> list[str]:
    """Every external-data ``location`` in an ONNX model (file path or its bytes), in file order, duplicates dropped.

    Raises ``BundleError`` for bytes that are not a parseable ONNX protobuf, and for a tensor marked
    ``EXTERNAL`` without a location.
    """
    name = "ONNX model"
    if not isinstance(model, (bytes, bytearray, memoryview)):
        name = str(model)
        try:
            model = Path(model).read_bytes()
        except OSError as e:
            raise BundleError(f"{name} cannot be read ({e.strerror or e}); re-export the bundle") from None
    out: dict[str, None] = {}
    stack: list[tuple[memoryview, int, int]] = [(memoryview(model), _MODEL, 0)]
    try:
        while stack:
            buf, kind, depth = stack.pop()
            if depth > _MAX_DEPTH:
                raise ValueError(f"messages nested deeper than {_MAX_DEPTH}")
            children = _CHILDREN.get(kind, {})
            if kind == _ENTRY:
                entry = {num: bytes(val) for num, wt, val in _fields(buf) if wt == 2 and num in (1, 2)}
                if entry.get(1) == b"location":
                    out.setdefault(entry.get(2, b"").decode("utf-8"), None)
                continue
            external = has_location = False
            subs = []
            for num, wt, val in _fields(buf):
                if kind == _TENSOR and num == _TENSOR_DATA_LOCATION and wt == 0:
                    external = val == 1
                elif wt == 2 and num in children:
                    subs.append((val, children[num], depth + 1))
                    if kind == _TENSOR:
                        has_location |= any(n == 1 and bytes(v) == b"location" for n, w, v in _fields(val) if w == 2)
            if external and not has_location:
                raise BundleError(f"{name}: a tensor is marked EXTERNAL but names no location; re-export the bundle")
            stack.extend(reversed(subs))
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, BundleError):
            raise
        raise BundleError(f"{name} is not a loadable ONNX model (not a valid ONNX protobuf: {e}); re-export the bundle") from None
    return list(out)


def _unsafe(rel: str) -> str | None:
    """Why a relative path string is unsafe (absolute, drive, ``..``, NUL, backslash), or None."""
    if not rel or "\x00" in rel:
        return "is empty or holds a NUL byte"
    if (
        PurePosixPath(rel).is_absolute()
        or PureWindowsPath(rel).is_absolute()
        or PureWindowsPath(rel).drive
        or rel.startswith(("\\", "/"))
    ):
        return "is an absolute path"
    if ".." in PureWindowsPath(rel).parts or ".." in PurePosixPath(rel).parts:
        return "climbs out with '..'"
    if "\\" in rel:  # a separator on Windows, a file-name character elsewhere: never ambiguous in a bundle
        return "holds a backslash (bundle paths use '/')"
    return None


def _inside(root: Path, rel: str) -> tuple[str | None, str]:
    """(problem or None, the normalised posix name relative to ``root``) for a path that must stay inside ``root``."""
    why = _unsafe(rel)
    if why:
        return why, rel
    name = PurePosixPath(rel).as_posix()  # (drops "." parts and doubled slashes)
    real_root = root.resolve()
    p = root
    for part in PurePosixPath(name).parts:
        p = p / part
        if p.is_symlink():
            target = p.resolve()
            where = "inside" if target.is_relative_to(real_root) else "outside"
            return f"is a symlink (to {target}, {where} the bundle)", name
    if not (root / name).resolve().is_relative_to(real_root):
        return "resolves outside the bundle folder", name
    return None, name


def check_external_data(onnx_path: Path, bundle_dir: Path, hashed_files: Collection[str]) -> None:
    """Refuse (``BundleError``, one line) an ONNX file whose external data is unsafe or unhashed.

    Every ``location`` (relative to the ONNX file's folder, as ONNX Runtime reads it) must be relative, stay
    inside ``bundle_dir`` without ``..`` or symlinks, and name a file in ``hashed_files`` (the manifest's
    ``files`` keys, posix paths relative to the bundle). Call it before ONNX Runtime opens ``onnx_path``.
    """
    onnx_path, root = Path(onnx_path), Path(bundle_dir)
    try:
        base = onnx_path.resolve().parent.relative_to(root.resolve())
    except ValueError:
        raise BundleError(f"ONNX file {onnx_path} is outside the bundle folder {root}; refusing it") from None
    hashed = set(hashed_files)
    for loc in external_data_locations(onnx_path):
        why = _unsafe(loc)
        rel = loc if why else (PurePosixPath(base.as_posix()) / loc).as_posix()
        if not why:
            why, rel = _inside(root, rel)
        if why:
            raise BundleError(
                f"{onnx_path.name} names external data {loc!r}, which {why}; the bundle was tampered with, refusing it"
            )
        if rel not in hashed:
            raise BundleError(
                f"{onnx_path.name} names external data {loc!r}, which the manifest does not hash; the bundle was tampered with, refusing it"
            )


def manifest_paths(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, path)`` for every path a ``manifest.json`` dict names: ``files`` keys, variant files, heads,
    tokenizers, the compatibility map graph, and the same inside ``branches``."""
    out: list[tuple[str, str]] = [(f"files[{k!r}]", k) for k in (manifest.get("files") or {})]

    def scope(d: Mapping[str, Any], prefix: str) -> None:
        for vname, v in (d.get("variants") or {}).items():
            if isinstance(v, Mapping) and v.get("file"):
                out.append((f"{prefix}variants.{vname}.file", v["file"]))
        inp = d.get("input")
        if isinstance(inp, Mapping) and inp.get("tokenizer"):
            out.append((f"{prefix}input.tokenizer", inp["tokenizer"]))

    scope(manifest, "")
    for hname, h in (manifest.get("heads") or {}).items():
        out.append((f"heads.{hname}", h))
    ort = manifest.get("ort")
    if isinstance(ort, Mapping):  # the ORT-format copies: the same checks as the .onnx graphs
        for group in ("variants", "heads"):
            for name, f in (ort.get(group) or {}).items():
                out.append((f"ort.{group}.{name}", f))
        if "operators" in ort:
            out.append(("ort.operators", ort["operators"]))
    compat = manifest.get("compatibility")
    if isinstance(compat, Mapping) and isinstance(compat.get("map"), Mapping) and compat["map"].get("file"):
        out.append(("compatibility.map.file", compat["map"]["file"]))
    for bname, b in (manifest.get("branches") or {}).items():
        if isinstance(b, Mapping):
            scope(b, f"branches.{bname}.")
    return out


def check_manifest_paths(manifest: Mapping[str, Any], bundle_dir: str | os.PathLike) -> None:
    """Refuse (``BundleError``, one line) a manifest dict with a path field that is not a plain relative path
    inside ``bundle_dir``: absolute, ``..``, a symlink anywhere on the way, or a non-string.

    A path field other than a ``files`` key must also be hashed (listed in ``files``).
    """
    root = Path(bundle_dir)
    hashed = set(manifest.get("files") or {})
    for field, path in manifest_paths(manifest):
        if not isinstance(path, str):
            raise BundleError(f"manifest field {field} is {type(path).__name__}, not a file name; the bundle was tampered with")
        why, name = _inside(root, path)
        if why:
            raise BundleError(f"manifest field {field} = {path!r} {why}; the bundle was tampered with, refusing it")
        if not field.startswith("files[") and path not in hashed:
            raise BundleError(f"manifest field {field} = {path!r} names a file the manifest does not hash; refusing it")


def check_bundle_files(manifest: Mapping[str, Any], bundle_dir: str | os.PathLike) -> None:
    """Both checks for a loader, in one call: ``check_manifest_paths`` (the ``ort`` entry's files included), then
    ``check_external_data`` on every ONNX graph the manifest names (variants, heads, branch variants); an ``ort``
    graph must be an ``.ort`` file (ORT format, read by its suffix). Call it before any session is built."""
    root = Path(bundle_dir)
    check_manifest_paths(manifest, root)
    hashed = set(manifest.get("files") or {})
    graphs = {
        p
        for field, p in manifest_paths(manifest)
        if field.endswith(".file") or field.startswith(("heads.", "ort.variants.", "ort.heads."))
    }
    for field, p in manifest_paths(manifest):
        # ONNX Runtime reads a graph as ORT format by its ``.ort`` suffix and as ONNX otherwise: an ``ort`` entry
        # naming another file would be an ONNX graph that skipped the checks below
        if field.startswith(("ort.variants", "ort.heads")) and not p.endswith(".ort"):
            raise BundleError(f"manifest field {field} = {p!r} is not an .ort file; the bundle was tampered with, refusing it")
    for name in sorted(g for g in graphs if not g.endswith(".ort")):
        check_external_data(root / name, root, hashed)
