"""Streaming embedding: any number of image files into one ``.npy``, with flat memory and resume.

``embed_to_npy`` writes ``OUT`` (``(N, D) float32``, row ``i`` = the ``i``-th image) and ``OUT.paths.txt`` (one
path per line), the contract of ``siamese embed``. Files and folders are expanded by ``files.iter_images`` (the
one walker) lazily, as strings: the list of paths is never held in memory (a first walk counts and hashes it,
the decoder walks it again, the last walk writes ``OUT.paths.txt`` and checks the folders did not change
meanwhile). While it runs:

- rows go straight into ``OUT.partial.npy`` (created once with ``np.lib.format.open_memmap``; each batch
  maps it, writes its rows, flushes them to disk and unmaps it), so memory stays flat whatever N: about
  three batches of decoded images, plus the sorted listing of the folder being walked;
- a background thread decodes and preprocesses the next batch while ONNX Runtime embeds the current one
  (Pillow, numpy and ONNX Runtime release the GIL, so both cores work);
- ``OUT.partial.json``, the progress record, is rewritten atomically at most every ``checkpoint_seconds``
  (and when the run stops on an exception or Ctrl-C), always *after* the rows it counts were flushed:
  ``{"format": "siamese-embed-partial", "format_version": 1, "paths_sha256", "count", "embedding_dim",
  "fingerprint", "skip_unreadable", "rows_done", "skipped"}``. ``paths_sha256`` hashes the absolute image paths
  in order; ``skipped`` holds ``[row, path, reason]`` of the images left out as unreadable (``skip_unreadable``),
  whose rows are dropped from ``OUT`` and ``OUT.paths.txt`` at the end (copied a chunk at a time);
- ``OUT.partial.stats.npy`` holds each embedded file's ``(size in bytes, modification time in ns)``, taken before
  the file was decoded. A resume re-embeds every row whose file now has another size or time (an image
  replaced at the same path), then continues.

Run again with the same files and bundle (after a crash, a kill or Ctrl-C) and it continues from
``rows_done``: at most ``checkpoint_seconds`` of work is redone. With other files, another order, another
bundle or variant, or a damaged partial file, it says why in one line and starts over. At the end it
writes ``OUT.paths.txt`` atomically, renames ``OUT.partial.npy`` onto ``OUT`` (atomic) and removes the
progress record: a reader sees the old ``OUT`` or the complete new one.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import _fsync_dir, write_atomic, write_text_atomic
from ..errors import InputError
from ..format.manifest import Preprocess
from ..format.pixels import decode_batch, to_batch
from ..format.unreadable import Failure, UnreadableImagesError
from .files import iter_images

if TYPE_CHECKING:
    from ..runtime.model import SiameseModel

PARTIAL_FORMAT = "siamese-embed-partial"
PARTIAL_VERSION = 2
#: batches decoded ahead of the one being embedded.
PREFETCH = 2

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EmbedRun:
    """What ``embed_to_npy`` did.

    Attributes:
        output: the finished ``.npy``.
        rows, dim: its shape ``(rows, dim)``.
        resumed_from: rows already embedded by an earlier, interrupted run (0 when it started fresh).
        restarted: why an earlier partial run was discarded, or None.
        skipped: ``(path, reason)`` of each image left out as unreadable (``skip_unreadable=True``), in row order.
    """

    output: Path
    rows: int
    dim: int
    resumed_from: int
    restarted: str | None
    skipped: tuple[Failure, ...] = ()


def partial_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """``(OUT.partial.npy, OUT.partial.json)`` for ``output``: the rows so far and the progress record."""
    out = Path(output)
    return out.with_suffix(".partial.npy"), out.with_suffix(".partial.json")


def stats_file(output: str | os.PathLike) -> Path:
    """``OUT.partial.stats.npy``: ``(N, 2) int64`` size (bytes) and modification time (ns) of each embedded file."""
    return Path(output).with_suffix(".partial.stats.npy")


def file_stat(path: str | os.PathLike) -> tuple[int, int]:
    """``(size in bytes, modification time in ns)`` of ``path``; ``(-1, -1)`` when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def paths_file(output: str | os.PathLike) -> Path:
    """``OUT.paths.txt``: the image path of each row, one per line."""
    return Path(output).with_suffix(".paths.txt")


@dataclass(frozen=True)
class ImageScan:
    """``count`` images, and ``sha256`` (hex) of their absolute paths in order, newline-separated."""

    count: int
    sha256: str


def scan_images(paths: Iterable[str | os.PathLike]) -> ImageScan:
    """Count and hash the images of ``paths`` (one walk, constant memory); raises ``InputError`` as ``iter_images``."""
    h = hashlib.sha256()
    n = 0
    for f in iter_images(paths):
        h.update(os.path.abspath(f).encode("utf-8", "surrogateescape"))
        h.update(b"\n")
        n += 1
    return ImageScan(count=n, sha256=h.hexdigest())


@dataclass(frozen=True)
class Decoded:
    """One decoded batch of ``prefetch``: the files at rows ``row .. row + size - 1`` of the input.

    ``x`` is ``(len(kept), C, H, W) float32``, the files at ``row + i`` for ``i`` in ``kept``; ``skipped`` the
    ``(path, reason)`` of the batch's files that could not be decoded (only when skipping them); ``stats`` the
    ``(size, 2) int64`` ``file_stat`` of every file of the batch, taken before it was decoded (``with_stats``).
    """

    row: int
    size: int
    x: np.ndarray
    kept: tuple[int, ...]
    skipped: tuple[Failure, ...]
    stats: np.ndarray | None = None


def prefetch(
    files: Iterable[str | os.PathLike],
    spec: Preprocess,
    batch_size: int,
    start: int = 0,
    with_stats: bool = False,
    skip_unreadable: bool | None = False,
) -> Iterator[Decoded]:
    """Yield the ``Decoded`` batches of ``files`` from row ``start`` on, decoded by a background thread (``files``
    may be a lazy iterable, e.g. ``iter_images``: it is consumed by that thread).

    At most ``PREFETCH`` batches wait decoded. At the first batch with a file that cannot be decoded, the rest of
    the files are decoded too, and ``UnreadableImagesError`` naming all that fail is raised here, in the consumer;
    ``skip_unreadable=True`` leaves them out of ``x`` instead (``Decoded.skipped``); None raises without naming
    ``--skip-unreadable`` (for a command that does not have it). Closing the generator stops and joins the
    thread: consume it inside ``contextlib.closing(...)`` so that happens at once when the consumer stops early.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            rest = itertools.islice(iter(files), start, None)
            row = start
            while batch := list(itertools.islice(rest, batch_size)):
                stats = np.array([file_stat(f) for f in batch], dtype=np.int64).reshape(-1, 2) if with_stats else None
                x, kept, failed = decode_batch(batch, spec)
                if failed and not skip_unreadable:  # decode the rest too, so that one error names them all
                    while not stop.is_set() and (more := list(itertools.islice(rest, batch_size))):
                        failed += decode_batch(more, spec)[2]
                    raise UnreadableImagesError(failed, skip_hint=skip_unreadable is not None)
                if not put(("batch", Decoded(row, len(batch), x, tuple(kept), tuple(failed), stats))):
                    return
                row += len(batch)
            put(("end", None))
        except BaseException as e:  # handed to the consumer, re-raised there
            put(("error", e))

    thread = threading.Thread(target=work, name="siamese-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def embed_to_npy(
    model: SiameseModel,
    paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    batch_size: int = 64,
    *,
    resume: bool = True,
    checkpoint_seconds: float = 1.0,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
    scan: ImageScan | None = None,
    skip_unreadable: bool = False,
) -> EmbedRun:
    """Embed the images of ``paths`` into ``output`` (``(N, D) float32`` .npy) and ``OUT.paths.txt``.

    See the module docstring for the files written, memory, and resuming.

    Args:
        model: the loaded bundle.
        paths: image files and folders (expanded by ``iter_images``), in row order.
        output: the ``.npy`` to write.
        batch_size: images per encoder call.
        resume: continue a matching interrupted run (False: always start over).
        checkpoint_seconds: the most work (in seconds) a kill can lose; 0 records progress after every batch.
        progress: called as ``progress(rows_done, total)`` once at the start and after each batch.
        log: receives the one-line resume / start-over notices.
        scan: ``scan_images(paths)`` when the caller already has it (saves one walk).
        skip_unreadable: leave images that cannot be decoded out of ``output`` and ``OUT.paths.txt`` (listed in
            ``EmbedRun.skipped``) instead of raising ``UnreadableImagesError`` naming them all.

    Raises:
        InputError: no images, a missing path, bad batch size, unreadable images (``UnreadableImagesError``;
            progress up to the first is kept), folders that changed during the run.
    """
    paths = list(paths)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r} invalid; pass a positive int")
    scan = scan or scan_images(paths)
    n, d = scan.count, model.embedding_dim
    if n == 0:
        raise InputError("no images given; pass at least one image path")
    output = Path(output)
    partial, record = partial_paths(output)
    state = {
        "format": PARTIAL_FORMAT,
        "format_version": PARTIAL_VERSION,
        "paths_sha256": scan.sha256,
        "count": n,
        "embedding_dim": d,
        "fingerprint": model.fingerprint,
        "skip_unreadable": skip_unreadable,
    }
    done, restarted, skipped = 0, None, []
    if partial.exists() or record.exists():
        if resume:
            done, restarted, skipped = _resumable(partial, record, state)
        else:
            restarted = "resume was switched off"
    if restarted is not None and log is not None:
        log(f"not resuming {partial}: {restarted}; starting over")
    stats = stats_file(output)
    if done and not _stats_ok(stats, n):
        done, restarted, skipped = 0, f"{stats.name} is missing or damaged", []
        if log is not None:
            log(f"not resuming {partial}: {restarted}; starting over")
    if done == 0:
        record.unlink(missing_ok=True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        for f, dtype, width in ((partial, np.float32, d), (stats, np.int64, 2)):
            mm = np.lib.format.open_memmap(f, mode="w+", dtype=dtype, shape=(n, width))
            mm.flush()
            del mm
        _write_record(record, state, 0, skipped)
    else:
        if log is not None:
            log(f"resuming {partial}: {done:,} of {n:,} rows already embedded")
        left_out = {row for row, _, _ in skipped}
        changed = _reembed_changed(model, paths, partial, stats, done, batch_size, left_out)
        if changed and log is not None:
            log(f"re-embedded {changed:,} of those {done:,} images: their files changed since they were embedded")
    resumed_from = done
    recorded, last = done, time.monotonic()
    if progress is not None:
        progress(done, n)
    try:
        spec = model.manifest.preprocess
        with contextlib.closing(prefetch(iter_images(paths), spec, batch_size, done, True, skip_unreadable)) as batches:
            for b in batches:
                if b.row + b.size > n:
                    raise InputError(_changed(b.row + b.size, n))
                if b.kept:
                    emb = model.embed(b.x, batch_size=b.x.shape[0])
                    mm = np.lib.format.open_memmap(partial, mode="r+")
                    mm[b.row + np.asarray(b.kept)] = emb
                    mm.flush()
                    del mm
                _write_rows(stats, b.row, b.stats)
                left = sorted(set(range(b.size)) - set(b.kept))
                skipped += [[b.row + i, path, reason] for i, (path, reason) in zip(left, b.skipped, strict=True)]
                done = b.row + b.size
                if time.monotonic() - last >= checkpoint_seconds:
                    _write_record(record, state, done, skipped)
                    recorded, last = done, time.monotonic()
                if progress is not None:
                    progress(done, n)
    finally:
        if done != recorded:  # stopped by an exception or Ctrl-C: keep what was flushed
            with contextlib.suppress(OSError):
                _write_record(record, state, done, skipped)
    if done != n:
        raise InputError(_changed(done, n))
    dropped = {row for row, _, _ in skipped}
    write_atomic(paths_file(output), lambda p: _write_lines(p, paths, scan, dropped))
    if dropped:  # the rows of the images left out go: copy the others, a chunk at a time
        write_atomic(output, lambda p: _copy_rows(partial, p, dropped))
        partial.unlink()
    else:
        os.replace(partial, output)
    _fsync_dir(output.parent)
    record.unlink(missing_ok=True)
    stats.unlink(missing_ok=True)
    return EmbedRun(
        output=output,
        rows=n - len(dropped),
        dim=d,
        resumed_from=resumed_from,
        restarted=restarted,
        skipped=tuple((path, reason) for _, path, reason in skipped),
    )


def _copy_rows(src: Path, dest: Path, dropped: set[int], chunk: int = 65536) -> None:
    """Write the rows of the ``.npy`` ``src`` whose index is not in ``dropped`` to a new ``.npy`` ``dest``."""
    a = np.lib.format.open_memmap(src, mode="r")
    keep = np.setdiff1d(np.arange(a.shape[0]), np.fromiter(dropped, dtype=np.int64))
    out = np.lib.format.open_memmap(dest, mode="w+", dtype=a.dtype, shape=(keep.size, a.shape[1]))
    for i in range(0, keep.size, chunk):
        out[i : i + chunk] = a[keep[i : i + chunk]]
    out.flush()
    del out, a


def _write_rows(path: Path, row: int, values: np.ndarray) -> None:
    """Write ``values`` into rows ``row..`` of the ``.npy`` at ``path`` and flush them to disk."""
    mm = np.lib.format.open_memmap(path, mode="r+")
    mm[row : row + values.shape[0]] = values
    mm.flush()
    del mm


def _stats_ok(stats: Path, n: int) -> bool:
    try:
        mm = np.lib.format.open_memmap(stats, mode="r")
        ok = mm.shape == (n, 2) and mm.dtype == np.int64
        del mm
    except (OSError, ValueError):
        return False
    return ok


def _reembed_changed(
    model: SiameseModel, paths: Sequence[str | os.PathLike], partial: Path, stats: Path, done: int, batch_size: int, left_out: set[int]
) -> int:
    """Re-embed the rows ``< done`` whose file's size or modification time differs from the one recorded (not those
    ``left_out`` as unreadable); returns how many."""
    recorded = np.load(stats, mmap_mode="r")
    changed: list[tuple[int, str]] = []
    for row, f in enumerate(itertools.islice(iter_images(paths), done)):
        if row not in left_out and tuple(int(v) for v in recorded[row]) != file_stat(f):
            changed.append((row, str(f)))
    del recorded
    for i in range(0, len(changed), batch_size):
        chunk = changed[i : i + batch_size]
        now = np.array([file_stat(f) for _, f in chunk], dtype=np.int64)  # before decoding, as in a fresh run
        emb = model.embed(to_batch([f for _, f in chunk], model.manifest.preprocess), batch_size=len(chunk))
        for (row, _), e, st in zip(chunk, emb, now, strict=True):
            _write_rows(partial, row, e[None])
            _write_rows(stats, row, st[None])
    return len(changed)


def _write_lines(path: Path, paths: Sequence[str | os.PathLike], scan: ImageScan, dropped: set[int]) -> None:
    """Write the image list to ``path`` (one walk; the rows in ``dropped`` left out), refusing if it is no longer
    the list that was embedded."""
    h = hashlib.sha256()
    n = 0
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as out:
        for f in iter_images(paths):
            if n not in dropped:
                out.write(f"{f}\n")
            h.update(os.path.abspath(f).encode("utf-8", "surrogateescape"))
            h.update(b"\n")
            n += 1
    if (n, h.hexdigest()) != (scan.count, scan.sha256):
        raise InputError(_changed(n, scan.count))


def _changed(now: int, before: int) -> str:
    return f"the input folders changed while embedding ({now:,} images now, {before:,} before); run the command again"


def _write_record(record: Path, state: dict[str, Any], rows_done: int, skipped: list[list[Any]]) -> None:
    write_text_atomic(record, json.dumps({**state, "rows_done": rows_done, "skipped": skipped}) + "\n")


def _resumable(partial: Path, record: Path, state: dict[str, Any]) -> tuple[int, str | None, list[list[Any]]]:
    """``(rows_done, None, skipped)`` when the partial run matches ``state``, else ``(0, why not, [])``."""
    rows, why = _resume_point(partial, record, state)
    if why is not None:
        return 0, why, []
    old = json.loads(record.read_text(encoding="utf-8"))
    if old.get("skip_unreadable", False) != state["skip_unreadable"]:
        return 0, "--skip-unreadable " + ("was given" if old.get("skip_unreadable") else "was not given") + " to the partial run", []
    skipped = old.get("skipped", [])
    ok = isinstance(skipped, list) and all(
        isinstance(s, list) and len(s) == 3 and isinstance(s[0], int) and 0 <= s[0] < rows for s in skipped
    )
    if not ok:
        return 0, f"{record.name} holds an invalid list of skipped images", []
    return rows, None, skipped


def _resume_point(partial: Path, record: Path, state: dict[str, Any]) -> tuple[int, str | None]:
    """``(rows_done, None)`` when the partial run matches ``state``, else ``(0, why not)``."""
    if not record.is_file():
        return 0, f"its progress record {record.name} is missing"
    if not partial.is_file():
        return 0, f"{partial.name} is missing"
    try:
        old = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return 0, f"its progress record {record.name} is unreadable"
    if not isinstance(old, dict) or old.get("format") != PARTIAL_FORMAT or old.get("format_version") != PARTIAL_VERSION:
        return 0, f"{record.name} is not a progress record this siamese-sdk writes"
    if old.get("fingerprint") != state["fingerprint"] or old.get("embedding_dim") != state["embedding_dim"]:
        return 0, f"the bundle changed (encoder {state['fingerprint']}, the partial run used {old.get('fingerprint')})"
    if old.get("paths_sha256") != state["paths_sha256"] or old.get("count") != state["count"]:
        return 0, f"the input list changed ({state['count']:,} images, the partial run had {old.get('count')})"
    rows = old.get("rows_done")
    if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows <= state["count"]:
        return 0, f"{record.name} holds an invalid rows_done"
    try:
        mm = np.lib.format.open_memmap(partial, mode="r")
        ok = mm.shape == (state["count"], state["embedding_dim"]) and mm.dtype == np.float32
        del mm
    except (OSError, ValueError):
        ok = False
    if not ok:
        return 0, f"{partial.name} is damaged or has the wrong shape"
    return rows, None
