"""Moving a gallery onto a newer encoder: ``siamese gallery upgrade GALLERY --to NEW (--images DIR | --map)``.

Two ways, both writing a gallery bound to the new bundle's encoder, ids and row order kept:

- **re-embed** (``images``): each row still on the old encoder's template whose image still exists is embedded
  again by the new encoder; the others stay old templates (searchable only when the new bundle declares the old
  encoder compatible: ``manifest.compatibility.compatible``), counted in the report, and a later upgrade
  finishes them. A row's image: the file its id names when that lies inside ``images`` (``siamese gallery``
  ids are the enrolled file paths), else ``images/ID``.
- **map** (``use_map``): every old template goes through the bundle's learned old -> new graph
  (``compatibility.map``, ``siamese-train --map-from``), with no images at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BundleError, InputError
from . import io
from .store import Gallery

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

#: rows embedded or mapped per encoder / map call
CHUNK = 256


@dataclass(frozen=True)
class UpgradeReport:
    """What an upgrade did: ``rows`` in the gallery, ``upgraded`` now on the new encoder's templates (re-embedded
    or mapped), ``remaining`` still on the old encoder's (``old``; their images were not found)."""

    rows: int
    upgraded: int
    remaining: int
    old: str
    new: str
    how: str

    def summary(self) -> str:
        """One line for the command line."""
        left = f"{self.remaining} remain on old templates (encoder {self.old})" if self.remaining else "none remain on old templates"
        return f"{self.upgraded} of {self.rows} rows {self.how} onto encoder {self.new}; {left}"


def upgrade(
    path: str | os.PathLike,
    model: SiameseModel,
    images: str | os.PathLike | None = None,
    use_map: bool = False,
    key: bytes | str | None = None,
    batch_size: int = 64,
) -> tuple[Gallery, UpgradeReport]:
    """The gallery at ``path`` moved onto ``model``'s encoder (re-embedded from ``images``, or through the map).

    Raises:
        InputError: neither or both of ``images`` / ``use_map``; ``images`` not a folder.
        BundleError: the gallery's encoder is neither ``model``'s nor the old encoder its bundle names; ``use_map``
            on a bundle without a map; any ``Gallery.load`` refusal.
    """
    if (images is None) == (not use_map):
        raise InputError("pass exactly one of --images DIR (re-embed the rows whose images still exist) or --map (convert every row)")
    compat = model.manifest.compatibility
    f = io.read(path, key=key)  # read once: the branches below take the file as read
    meta = f.meta
    old = meta.get("legacy_fingerprint") if meta["fingerprint"] == model.fingerprint else meta["fingerprint"]
    if old is None:  # already this encoder's, every row
        g = Gallery.load(path, model=model, key=key)
        return g, UpgradeReport(len(g), 0, 0, model.fingerprint, model.fingerprint, "already")
    if compat is None or not compat.is_old(old):
        raise BundleError(
            f"{path} was built by encoder {old}, which {model.path} does not name as its older encoder "
            f"(manifest compatibility); re-enrol it with this bundle, or pass the bundle trained against that encoder"
        )
    if use_map:
        return _by_map(f, path, model, old)
    root = Path(images)  # type: ignore[arg-type]
    if not root.is_dir():
        raise InputError(f"--images {root} is not a folder; pass the folder that holds the enrolled images")
    g = _load_as_new(f, path, model)
    legacy, ids = g.legacy_mask(), g.ids
    files = {int(r): f for r in np.flatnonzero(legacy) if (f := image_of(str(ids[r]), root)) is not None}
    rows = np.fromiter(files, int, len(files))
    fresh = np.concatenate(
        [model.embed([str(files[int(r)]) for r in rows[c : c + CHUNK]], batch_size=batch_size) for c in range(0, rows.size, CHUNK)]
    ) if rows.size else np.empty((0, g.embedding_dim), np.float32)
    vectors = g.embeddings()
    vectors[rows] = fresh
    legacy[rows] = False
    if legacy.any() and not compat.compatible:
        raise BundleError(
            f"{int(legacy.sum())} rows of {path} have no image under {root}, and {model.path} is not marked compatible "
            f"with their encoder {old}, so they could not be searched; upgrade with --map"
            + ("" if compat.map else " (train the new model with --map-from)") + ", or remove them"
        )
    out = _rebuilt(g, vectors, ids, legacy, model, old)
    return out, UpgradeReport(len(out), int(rows.size), int(legacy.sum()), old, model.fingerprint, f"re-embedded from {root}")


def image_of(row_id: str, root: Path) -> Path | None:
    """The image of a gallery row under ``root``: the file its id names when inside ``root``, else ``root/ID``;
    None when neither exists."""
    named = Path(row_id)
    try:
        if named.is_file() and named.resolve().is_relative_to(root.resolve()):
            return named
    except OSError:
        pass
    under = root / row_id
    return under if not named.is_absolute() and under.is_file() else None


def _load_as_new(f: io.GalleryFile, path: str | os.PathLike, model: SiameseModel) -> Gallery:
    """The gallery file ``f`` (read from ``path``) bound to ``model``, its old rows marked, even when ``model`` is not
    marked compatible with them (they are replaced, not searched)."""
    g = Gallery(model.fingerprint, model.embedding_dim, model.manifest.metric, storage=f.meta["storage"])
    if f.meta["embedding_dim"] != model.embedding_dim or f.meta["metric"] != model.manifest.metric:
        raise BundleError(
            f"{path} holds {f.meta['embedding_dim']}-d {f.meta['metric']} embeddings, {model.path} makes "
            f"{model.embedding_dim}-d {model.manifest.metric}; upgrade with --map (a learned map) or re-enrol"
        )
    g._load_rows(f.vectors, f.scales, f.ids)
    adopted = f.meta["fingerprint"] != model.fingerprint
    g._legacy = np.ones(len(f.ids), bool) if adopted else f.legacy  # type: ignore[assignment]
    g.legacy_fingerprint = f.meta["fingerprint"] if adopted else f.meta.get("legacy_fingerprint")
    return g


def _rebuilt(g: Gallery, vectors: np.ndarray, ids: np.ndarray, legacy: np.ndarray, model: SiameseModel, old: str) -> Gallery:
    """A gallery of ``model`` holding ``vectors`` in order, the ``legacy`` rows marked as ``old``'s templates."""
    out = Gallery.for_model(model, storage=g.storage)
    if legacy.any():
        out.legacy_fingerprint = old
    edges = np.flatnonzero(np.diff(legacy.astype(np.int8))) + 1
    for run in np.split(np.arange(len(ids)), edges):
        if run.size:
            out._add_rows(vectors[run], [str(i) for i in ids[run]], legacy=bool(legacy[run[0]]))
    return out


def _by_map(f: io.GalleryFile, path: str | os.PathLike, model: SiameseModel, old: str) -> tuple[Gallery, UpgradeReport]:
    """Every old template of the gallery file ``f`` (read from ``path``) through the bundle's map graph; rows already
    on ``model``'s encoder are kept."""
    compat = model.manifest.compatibility
    if compat is None or compat.map is None:
        raise BundleError(
            f"{model.path} has no old -> new map (train it with siamese-train --map-from OLD); upgrade with --images DIR instead"
        )
    from ..providers import import_onnxruntime

    ort = import_onnxruntime()
    session = ort.InferenceSession(str(Path(model.path) / compat.map.file), providers=["CPUExecutionProvider"])
    src = Gallery(f.meta["fingerprint"], f.meta["embedding_dim"], f.meta["metric"], storage=f.meta["storage"])
    src._load_rows(f.vectors, f.scales, f.ids)
    vectors, ids = src.embeddings(), src.ids
    legacy = np.ones(len(ids), bool) if f.meta["fingerprint"] == old else f.legacy.copy()  # type: ignore[union-attr]
    if vectors.shape[1] != compat.old.embedding_dim:
        raise BundleError(f"{path} holds {vectors.shape[1]}-d rows, the map takes the old encoder's {compat.old.embedding_dim}-d")
    rows = np.flatnonzero(legacy)
    mapped = np.empty((len(ids), model.embedding_dim), np.float32)
    mapped[~legacy] = vectors[~legacy] if model.embedding_dim == vectors.shape[1] else 0
    for c in range(0, rows.size, CHUNK):
        part = rows[c : c + CHUNK]
        mapped[part] = session.run([compat.map.output_name], {compat.map.input_name: vectors[part]})[0]
    out = _rebuilt(src, mapped, ids, np.zeros(len(ids), bool), model, old)
    return out, UpgradeReport(len(out), int(rows.size), 0, old, model.fingerprint, "mapped")
