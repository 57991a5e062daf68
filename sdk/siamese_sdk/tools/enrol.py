"""Image files into a gallery and image queries against one: what ``siamese gallery`` and ``siamese search`` do.

Images are decoded by ``stream.prefetch`` (a background thread) while the encoder embeds the previous batch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import metric as metric_mod
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
) -> Gallery:
    """A gallery bound to ``model`` holding the embedding of each of ``files``, its id the file's path (``str``).

    Args:
        files: image files, in row order (``files.find_images`` expands folders).
        storage: the gallery's storage (``"float32"``, ``"float16"``, ``"int8"``).
        batch_size: images per encoder call.
        branch: the encoder of a two-branch bundle (``"a"`` / ``"b"``); None for one-encoder bundles.
        progress: called with the number of images of each batch once it is added.
    """
    g = Gallery.for_model(model, storage=storage)
    with contextlib.closing(prefetch(files, model.preprocess_spec(branch), batch_size)) as batches:
        for row, x in batches:
            g.add(model.embed(x, batch_size=x.shape[0], branch=branch), [str(f) for f in files[row : row + x.shape[0]]])
            if progress is not None:
                progress(x.shape[0])
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
    with contextlib.closing(prefetch(files, model.preprocess_spec(branch), batch_size)) as batches:
        for row, x in batches:
            ids, scores = gallery.search(model.embed(x, batch_size=x.shape[0], branch=branch), k)
            for f, id_row, score_row in zip(files[row : row + x.shape[0]], ids, scores, strict=True):
                hits = [
                    {"id": str(i), "score": float(s), "same": bool(direction.is_match(s, threshold))}
                    for i, s in zip(id_row, score_row, strict=True)
                    if i
                ]
                results.append({"query": str(f), "hits": hits})
    return results
