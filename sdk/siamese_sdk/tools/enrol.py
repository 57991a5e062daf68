"""Image files into a gallery and image queries against one: what ``siamese gallery`` and ``siamese search`` do.

Images are decoded by ``stream.prefetch`` (a background thread) while the encoder embeds the previous batch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import metric as metric_mod
from ..format.unreadable import Failure
from ..gallery import Gallery
from .stream import prefetch

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel


def enrol(
    model: SiameseModel,
    files: Sequence[str | os.PathLike],
    storage: str = "float32",
    batch_size: int = 64,
    branch: str | None = None,
    progress: Callable[[int], None] | None = None,
    skipped: list[Failure] | None = None,
) -> Gallery:
    """A gallery bound to ``model`` holding the embedding of each of ``files``, its id the file's path (``str``).

    Args:
        files: image files, in row order (``files.find_images`` expands folders).
        storage: the gallery's storage (``"float32"``, ``"float16"``, ``"int8"``).
        batch_size: images per encoder call.
        branch: the encoder of a two-branch bundle (``"a"`` / ``"b"``); None for one-encoder bundles.
        progress: called with the number of images of each batch once it is added.
        skipped: a list to leave unreadable images out and append their ``(path, reason)`` to; None raises
            ``UnreadableImagesError`` naming them all instead.
    """
    g = Gallery.for_model(model, storage=storage)
    spec = model.preprocess_spec(branch)
    with contextlib.closing(prefetch(files, spec, batch_size, skip_unreadable=skipped is not None)) as batches:
        for b in batches:
            if b.kept:
                g.add(model.embed(b.x, batch_size=b.x.shape[0], branch=branch), [str(files[b.row + i]) for i in b.kept])
            if skipped is not None:
                skipped += b.skipped
            if progress is not None:
                progress(b.size)
    return g


def search_files(
    model: SiameseModel,
    gallery: Gallery,
    files: Sequence[str | os.PathLike],
    k: int,
    threshold: float,
    branch: str | None = None,
    batch_size: int = 64,
) -> list[dict[str, Any]]:
    """The ``k`` best hits of each query image: ``[{"query": path, "hits": [{"id", "score", "same"}, ...]}, ...]``.

    ``same`` is ``Metric.is_match(score, threshold)`` of the bundle's metric; hits without an id (an
    approximate index found fewer than ``k``) are left out.
    """
    direction = metric_mod.get(model.manifest.metric)
    results = []
    spec = model.preprocess_spec(branch)
    with contextlib.closing(prefetch(files, spec, batch_size, skip_unreadable=None)) as batches:
        for b in batches:
            ids, scores = gallery.search(model.embed(b.x, batch_size=b.x.shape[0], branch=branch), k)
            for f, id_row, score_row in zip(files[b.row : b.row + b.size], ids, scores, strict=True):
                hits = [
                    {"id": str(i), "score": float(s), "same": bool(direction.is_match(s, threshold))}
                    for i, s in zip(id_row, score_row, strict=True)
                    if i
                ]
                results.append({"query": str(f), "hits": hits})
    return results
