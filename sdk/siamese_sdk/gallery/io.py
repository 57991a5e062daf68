"""The gallery file format (``Gallery.save`` / ``Gallery.load``) and the check that binds a gallery to its model.

One uncompressed ``.npz`` (a zip of ``.npy`` members, each with a CRC-32), written atomically and read with
``allow_pickle=False``:

- ``meta``: 0-d unicode array holding JSON: ``{"format": "siamese-gallery", "format_version": 1,
  "fingerprint", "embedding_dim", "metric", "storage", "count"}``;
- ``ids``: ``(N,)`` unicode; ``vectors``: ``(N, D)`` float32 / float16 / int8 (the stored form);
- ``scales``: ``(N,)`` float32, only for ``int8``;
- ``legacy``: ``(N,)`` bool, only for a gallery some of whose rows are still an older, compatible encoder's
  templates (meta ``legacy_fingerprint`` names it; ``Gallery.load(old, model=new)``, ``siamese gallery upgrade``).

Norms are recomputed on load. A newer ``format_version``, a missing or malformed member, a truncated or
corrupt file, or a fingerprint that differs from the given model's raise ``GalleryError`` (a ``BundleError``).
Nothing a file claims is trusted before it is checked: every member must be stored (a deflate member, which
could claim gigabytes from a few bytes, is refused), each ``.npy`` header's shape and dtype must account for
exactly the member's bytes (no object dtype), ``meta`` is read as strict JSON (size, nesting, NaN, field types),
and ids must be non-empty strings without NUL or control characters (they round-trip exactly).

A plain (unauthenticated) file protects against corruption and truncation (the zip CRCs), a gallery of another
encoder (with ``model=``), NaN/Inf and wrong shapes; it does NOT protect against anyone who can write it (they
can add, remove or edit ids and templates, and it loads as if the app wrote it) or read it (every template).
With a key the whole file is sealed (``siamese_sdk.security.sealed``: the ``.npz`` bytes behind a
``SIAMSEAL`` header, HMAC-SHA256, or AES-256-GCM with ``encrypt``): a wrong key or any changed byte is refused.
A sealed file does not stop rollback to an older file sealed with the same key. See ``docs/security.md``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import write_atomic, write_bytes_atomic
from ..errors import BundleError, GalleryError, InputError
from ..format import strict
from .codec import STORAGES, check_ids

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

FORMAT = "siamese-gallery"
FORMAT_VERSION = 1
#: the metrics a gallery file may name
METRICS = ("euclidean", "cosine", "learned")


@dataclass(frozen=True)
class GalleryFile:
    """The contents of a gallery file: ``meta`` (the JSON fields), ``ids (N,)``, ``vectors (N, D)``, ``scales (N,)`` or None."""

    meta: dict[str, Any]
    ids: list[str]
    vectors: np.ndarray
    scales: np.ndarray | None
    #: ``(N,) bool``: rows still on an older encoder's templates (meta ``legacy_fingerprint``); None: none
    legacy: np.ndarray | None = None


def write(
    path: str | os.PathLike,
    meta: dict[str, Any],
    ids: list[str],
    vectors: np.ndarray,
    scales: np.ndarray | None,
    key: bytes | str | None = None,
    encrypt: bool = False,
    legacy: np.ndarray | None = None,
) -> Path:
    """Write a gallery file atomically; ``meta`` holds fingerprint, embedding_dim, metric, storage (count is added).

    ``legacy``: ``(N,) bool``, the rows still on the old encoder's templates (``meta["legacy_fingerprint"]``);
    written only when given, so a gallery of one encoder is written as before.

    ``key`` (32 raw bytes or a passphrase ``str``) seals the file (authenticated; ``encrypt``: also encrypted,
    needs the ``signing`` extra); the sealed ``.npz`` is built in memory first (one extra copy of the file).
    """
    if encrypt and key is None:
        raise InputError(
            "encrypt=True needs a key; pass key= (32 bytes from siamese_sdk.security.generate_key(), or a passphrase)"
        )
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta, "count": len(ids)}
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "ids": np.array(ids, dtype=str) if ids else np.empty(0, dtype="<U1"),
        "vectors": vectors,
    }
    if scales is not None:
        arrays["scales"] = scales
    if legacy is not None:
        arrays["legacy"] = np.asarray(legacy, bool)

    if key is not None:
        from ..security.sealed import seal

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return write_bytes_atomic(path, seal(buf.getbuffer(), key, encrypt=encrypt))

    def write_npz(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: np.savez would append ".npz" to a path
            np.savez(f, **arrays)

    return write_atomic(path, write_npz)


def read(path: str | os.PathLike, key: bytes | str | None = None) -> GalleryFile:
    """Read and validate a gallery file; raises ``BundleError`` for anything but a well-formed one.

    ``key``: the file must be sealed with it (``write(..., key=)``); without it, it must be plain.
    """
    path = Path(path)
    if not path.is_file():
        hint = "pass the .npz file, not a directory" if path.is_dir() else "check the path, or build one with siamese gallery"
        raise GalleryError(f"gallery not found: {path}; {hint}")
    _refuse_other_files(path)
    from ..security.sealed import read_sealed

    bad = f"gallery {path} is truncated or corrupt"
    try:
        data = read_sealed(path, key, what=f"gallery {path}")  # None: a plain file read without a key
        source = path if data is None else io.BytesIO(data)
        _check_members(source, path)
        if isinstance(source, io.BytesIO):
            source.seek(0)
        with np.load(source, allow_pickle=False) as z:
            names = set(z.files)
            missing = sorted({"meta", "ids", "vectors"} - names)
            if missing:
                raise GalleryError(
                    f"{path} is an .npz of {_listed(names)}, not a siamese gallery (no "
                    f"{', '.join(missing)}); build one with siamese gallery BUNDLE IMAGES... -o GALLERY.npz"
                )
            meta = _parse_meta(z["meta"], path)
            ids = z["ids"]
            vec = z["vectors"]
            scale = z["scales"] if "scales" in names else None
            legacy = z["legacy"] if "legacy" in names else None
    except (BundleError, InputError):
        raise
    except MemoryError:
        raise GalleryError(f"{bad} (a member needs more memory than is available); rebuild it with siamese gallery or Gallery.save") from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, NotImplementedError, RuntimeError, IndexError,
            TypeError, OverflowError, struct.error) as e:  # what zipfile and numpy raise on bytes that are not a gallery
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise GalleryError(f"{bad} ({first}); rebuild it with siamese gallery or Gallery.save") from None
    n, d, storage = meta["count"], meta["embedding_dim"], meta["storage"]
    if ids.dtype.kind != "U" or ids.shape != (n,):
        raise GalleryError(f"{path}: ids must be a ({n},) unicode array, got {ids.dtype} {ids.shape}; rebuild the gallery")
    if vec.dtype != np.dtype(storage) or vec.shape != (n, d):
        raise GalleryError(f"{path}: vectors are {vec.dtype} {vec.shape}, meta says {storage} ({n}, {d}); rebuild the gallery")
    if storage == "int8":
        if scale is None or scale.dtype != np.float32 or scale.shape != (n,):
            raise GalleryError(f"{path}: int8 storage needs ({n},) float32 scales; rebuild the gallery")
        if not np.all(np.isfinite(scale)):
            raise GalleryError(f"{path}: scales contain NaN or Inf; rebuild the gallery")
    elif not np.all(np.isfinite(vec)):
        raise GalleryError(f"{path}: vectors contain NaN or Inf; rebuild the gallery")
    if (legacy is None) != ("legacy_fingerprint" not in meta):
        raise GalleryError(f"{path}: old-template rows need both the legacy member and meta legacy_fingerprint; rebuild the gallery")
    if legacy is not None and (legacy.dtype != np.bool_ or legacy.shape != (n,) or not isinstance(meta["legacy_fingerprint"], str)):
        raise GalleryError(f"{path}: legacy must be a ({n},) bool array with a string legacy_fingerprint; rebuild the gallery")
    try:
        id_list = check_ids([str(i) for i in ids], n)
    except InputError as e:
        raise GalleryError(f"{path}: {e}; rebuild the gallery") from None
    return GalleryFile(meta, id_list, vec, scale, legacy)


#: the members a gallery holds, and the most bytes its ``meta`` may take
MEMBERS = ("meta.npy", "ids.npy", "vectors.npy", "scales.npy", "legacy.npy")
MAX_META_BYTES = 1 << 20


def _check_members(source: Path | io.BytesIO, path: Path) -> None:
    """Refuse (``GalleryError``) an ``.npz`` whose members are compressed, unknown, or whose ``.npy`` headers claim
    more (or fewer) bytes than the member holds, before any array is allocated."""
    with zipfile.ZipFile(source) as zf:
        infos = zf.infolist()
        if len(infos) > len(MEMBERS):
            raise GalleryError(f"{path} holds {len(infos)} members, a gallery at most {len(MEMBERS)}; rebuild the gallery")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED:
                raise GalleryError(
                    f"{path}: member {info.filename[:60]!r} is compressed; a gallery is an uncompressed .npz (Gallery.save), rebuild it"
                )
            if info.filename not in MEMBERS:
                continue  # reported as "not a siamese gallery" by the caller
            if info.filename == "meta.npy" and info.file_size > MAX_META_BYTES:
                raise GalleryError(f"{path}: meta is {info.file_size:,} bytes, over {MAX_META_BYTES:,}; rebuild the gallery")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version not in ((1, 0), (2, 0)):
                    raise GalleryError(f"{path}: member {info.filename} is .npy version {version}; rebuild the gallery")
                header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = header(f, max_header_size=10000)
                offset = f.tell()
            if dtype.hasobject:
                raise GalleryError(f"{path}: member {info.filename} holds Python objects: a corrupt or foreign file; rebuild the gallery")
            claimed = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
            if claimed != info.file_size:
                raise GalleryError(
                    f"{path}: member {info.filename} claims {shape} {dtype} ({claimed:,} bytes) but holds {info.file_size:,}; "
                    "the file is truncated or corrupt, rebuild the gallery"
                )


#: the first bytes of the files that are mistaken for a gallery, and what they are
_NOT_GALLERIES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x93NUMPY", "a .npy array (siamese embed writes embeddings as .npy)"),
)


def _listed(names: set[str], most: int = 4) -> str:
    """``"a, b, c, ..."``: a few member names for a message."""
    shown = sorted(names)[:most]
    return ", ".join(shown) + (", ..." if len(names) > most else "") if shown else "nothing"


def _refuse_other_files(path: Path) -> None:
    """``BundleError`` in one line for a file that is plainly something else: an image (a search's arguments
    swapped), a ``.npy`` array. Anything else is left to the reader's checks."""
    with open(path, "rb") as f:
        head = f.read(8)
    what = next((name for magic, name in _NOT_GALLERIES if head.startswith(magic)), None)
    if what is None and head[:4] == b"RIFF" and path.suffix.lower() == ".webp":
        what = "a WebP image"
    if what is None:
        return
    swap = " (arguments swapped?)" if what.endswith("image") else ""
    raise GalleryError(
        f"{path} is {what}, not a gallery{swap}: the order is siamese search BUNDLE GALLERY.npz QUERY...; "
        "build a gallery with siamese gallery BUNDLE IMAGES... -o GALLERY.npz"
    )


def _parse_meta(raw: np.ndarray, path: Path) -> dict[str, Any]:
    """Validate the ``meta`` member: format, version, and typed fields."""
    if raw.dtype.kind != "U" or raw.shape != ():
        raise GalleryError(f"{path}: meta is not a JSON string; it is not a siamese gallery (build one with siamese gallery)")
    meta = strict.load_json(str(raw), f"{path}: meta", "rebuild the gallery", error=GalleryError, max_bytes=MAX_META_BYTES)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise GalleryError(f"{path} is not a siamese gallery (format is not {FORMAT!r}); build one with siamese gallery")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise GalleryError(f"{path}: gallery has no valid format_version; rebuild the gallery")
    if version > FORMAT_VERSION:
        raise GalleryError(
            f"gallery format version {version} is newer than this siamese-sdk reads ({FORMAT_VERSION}); "
            "upgrade: pip install -U siamese-sdk"
        )
    fields = {"fingerprint": str, "embedding_dim": int, "metric": str, "storage": str, "count": int}
    for key, typ in fields.items():
        if not isinstance(meta.get(key), typ) or isinstance(meta.get(key), bool):
            raise GalleryError(f"{path}: gallery meta lacks a valid {key!r}; rebuild the gallery")
    if (
        meta["metric"] not in METRICS
        or meta["storage"] not in STORAGES
        or not 1 <= meta["embedding_dim"] <= strict.MAX_INT
        or not 0 <= meta["count"] <= strict.MAX_INT
    ):
        raise GalleryError(
            f"{path}: gallery meta has metric {meta['metric']!r}, storage {meta['storage']!r}, dim {meta['embedding_dim']}, "
            f"count {meta['count']}; rebuild the gallery"
        )
    return meta


def check_model_meta(meta: dict[str, Any], model: SiameseModel, where: str | Path) -> None:
    """Raise ``BundleError`` (one line, both fingerprints, the fix) unless ``model`` made the gallery ``meta``, or
    ``model``'s bundle declares the gallery's encoder compatible (``manifest.compatibility``)."""
    compat = model.manifest.compatibility
    if meta["fingerprint"] != model.fingerprint and compat is not None and compat.is_old(meta["fingerprint"]):
        if not compat.accepts(meta["fingerprint"]):
            how = "convert it once: siamese gallery upgrade GALLERY --to BUNDLE --map" if compat.map else "re-enrol it"
            raise GalleryError(
                f"{where} was built by encoder {meta['fingerprint']}, which {model.path} was not marked compatible with "
                f"({compat.figures() or 'no figures'}); {how}"
            )
    elif meta["fingerprint"] != model.fingerprint:
        built_by = _variant_of(meta["fingerprint"], model)
        if built_by is not None:
            raise GalleryError(
                f"{where} was built with variant {built_by} of {model.path}, but the model is loaded as {model.variant}: "
                f"search with --variant {built_by} (load(..., variant={built_by!r})), or rebuild the gallery with "
                f"--variant {model.variant}"
            )
        raise GalleryError(
            f"{where} was built by encoder {meta['fingerprint']}, but the loaded model is {model.fingerprint} "
            f"({model.path}, variant {model.variant}): a gallery saved by another model (or variant); "
            "rebuild it with this model (siamese gallery BUNDLE IMAGES... -o GALLERY) or load the model that built it"
        )
    if meta["embedding_dim"] != model.embedding_dim or meta["metric"] != model.manifest.metric:
        raise GalleryError(
            f"{where} holds {meta['embedding_dim']}-d {meta['metric']} embeddings, the model makes "
            f"{model.embedding_dim}-d {model.manifest.metric}; rebuild the gallery with this model"
        )


def _variant_of(fingerprint: str, model: SiameseModel) -> str | None:
    """The variant of ``model``'s bundle whose encoder has ``fingerprint``; None when it is another bundle's."""
    for name in model.manifest.variants:
        try:
            if model.manifest.fingerprint(name) == fingerprint:
                return name
        except KeyError:  # a variant some branch lacks
            continue
    return None
