"""Streaming ``embed``: resume after an interruption (an exception, Ctrl-C, a SIGKILL), start over when the inputs or
the bundle changed, and the same rows as a one-shot ``model.embed``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_sdk import InputError
from siamese_sdk.cli import main as siamese
from siamese_sdk.tools.files import find_images
from siamese_sdk.tools.stream import embed_to_npy, iter_images, partial_paths, paths_file, scan_images

BS = 8


class Stop(Exception):
    """Simulated interruption."""


@pytest.fixture(scope="module")
def files(tiny_data):
    return sorted(tiny_data.rglob("*.png"))


@pytest.fixture(scope="module")
def reference(model, files) -> np.ndarray:
    return model.embed(files)


def stop_after(batches: int):
    """A progress callback that raises ``Stop`` once ``batches`` batches are done (the first call is the start)."""
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) > batches:
            raise Stop

    return progress, calls


def check_output(out, files, reference) -> None:
    emb = np.load(out, allow_pickle=False)
    assert emb.shape == reference.shape and emb.dtype == np.float32
    np.testing.assert_allclose(emb, reference, atol=1e-5)
    assert paths_file(out).read_text().splitlines() == [str(f) for f in files]
    partial, record = partial_paths(out)
    assert not partial.exists() and not record.exists()
    assert not list(out.parent.glob(".*tmp"))


def test_one_shot(model, files, reference, tmp_path):
    out = tmp_path / "emb.npy"
    calls = []
    run = embed_to_npy(model, files, out, BS, progress=lambda d, t: calls.append((d, t)))
    assert (run.rows, run.dim, run.resumed_from, run.restarted) == (len(files), model.embedding_dim, 0, None)
    assert calls[0] == (0, len(files)) and calls[-1] == (len(files), len(files))
    check_output(out, files, reference)


def test_resume_after_an_exception(model, files, reference, tmp_path):
    out = tmp_path / "emb.npy"
    out.write_bytes(b"previous complete output")  # untouched until the new one is complete
    progress, _ = stop_after(3)
    before = threading.active_count()
    with pytest.raises(Stop):
        embed_to_npy(model, files, out, BS, progress=progress, checkpoint_seconds=60)
    assert threading.active_count() == before  # the decoder thread stopped with the consumer
    partial, record = partial_paths(out)
    assert json.loads(record.read_text())["rows_done"] == 3 * BS  # recorded on the way out, though not yet due
    assert out.read_bytes() == b"previous complete output"
    logs: list[str] = []
    calls: list[int] = []
    run = embed_to_npy(model, files, out, BS, progress=lambda d, t: calls.append(d), log=logs.append)
    assert run.resumed_from == 3 * BS and calls[0] == 3 * BS and calls[1] == 4 * BS  # no batch embedded twice
    assert logs == [f"resuming {partial}: {3 * BS} of {len(files)} rows already embedded"]
    check_output(out, files, reference)


def test_resume_after_sigkill(model, bundle, files, reference, tmp_path):
    """A hard kill right after batch 4's progress was recorded: no cleanup code runs, yet the rerun resumes."""
    out = tmp_path / "emb.npy"
    child = textwrap.dedent(
        f"""
        import os, signal, siamese_sdk
        from pathlib import Path
        from siamese_sdk.tools.stream import embed_to_npy
        files = [Path(p) for p in {[str(f) for f in files]!r}]
        model = siamese_sdk.load({str(bundle)!r})
        def progress(done, total):
            if done >= 4 * {BS}:
                os.kill(os.getpid(), signal.SIGKILL)
        embed_to_npy(model, files, {str(out)!r}, {BS}, progress=progress, checkpoint_seconds=0)
        """
    )
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    partial, record = partial_paths(out)
    assert partial.exists() and json.loads(record.read_text())["rows_done"] == 4 * BS and not out.exists()
    run = embed_to_npy(model, files, out, BS)
    assert run.resumed_from == 4 * BS
    check_output(out, files, reference)


@pytest.mark.parametrize("change", ["fewer files", "other order", "other bundle", "damaged partial", "no resume"])
def test_changed_inputs_start_over(model, files, reference, tmp_path, change):
    out = tmp_path / "emb.npy"
    partial, record = partial_paths(out)
    first = files[:-1] if change == "fewer files" else files[::-1] if change == "other order" else files
    progress, _ = stop_after(2)
    with pytest.raises(Stop):
        embed_to_npy(model, first, out, BS, progress=progress)
    if change == "other bundle":
        rec = json.loads(record.read_text())
        record.write_text(json.dumps({**rec, "fingerprint": "feedfacefeedface"}))
    if change == "damaged partial":
        partial.write_bytes(partial.read_bytes()[:100])
    logs: list[str] = []
    run = embed_to_npy(model, files, out, BS, log=logs.append, resume=change != "no resume")
    expect = {
        "fewer files": "the input list changed",
        "other order": "the input list changed",
        "other bundle": "the bundle changed",
        "damaged partial": "damaged",
        "no resume": "resume was switched off",
    }[change]
    assert run.resumed_from == 0 and len(logs) == 1 and expect in logs[0] and logs[0].endswith("starting over")
    assert "\n" not in logs[0]
    check_output(out, files, reference)


def test_unreadable_image_keeps_progress_and_stops_the_decoder(model, files, reference, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    listed = [*files[: 3 * BS], bad, *files[3 * BS :]]
    out = tmp_path / "emb.npy"
    before = threading.active_count()
    with pytest.raises(InputError, match="not an image"):
        embed_to_npy(model, listed, out, BS, checkpoint_seconds=60)
    assert threading.active_count() == before  # the prefetch thread was joined
    assert json.loads(partial_paths(out)[1].read_text())["rows_done"] == 3 * BS
    from PIL import Image

    Image.open(files[0]).save(bad)  # fixed in place: same list, so the run resumes
    run = embed_to_npy(model, listed, out, BS)
    assert run.resumed_from == 3 * BS
    check_output(out, listed, np.concatenate([reference[: 3 * BS], reference[:1], reference[3 * BS :]]))


def test_cli_embed_resumes(bundle, model, files, reference, tiny_data, tmp_path):
    out = tmp_path / "emb.npy"
    progress, _ = stop_after(2)
    with pytest.raises(Stop):
        embed_to_npy(model, files, out, BS, progress=progress)
    r = CliRunner().invoke(siamese, ["embed", str(bundle), str(tiny_data), "-o", str(out), "--batch-size", str(BS)])
    assert r.exit_code == 0, r.output
    assert f"resuming {partial_paths(out)[0]}: {2 * BS} of {len(files)} rows" in r.output
    assert f"wrote {out} ({len(files)} x {model.embedding_dim} float32" in r.output
    check_output(out, files, reference)


def test_iter_images_lists_like_find_images(tiny_data, tmp_path, monkeypatch):
    """Lazy listing, same order and spelling as ``find_images``: names sorted per level (a folder ``b`` before a
    file ``b.png``), suffixes case-insensitive, other files skipped, symlinked folders not followed."""
    root = tmp_path / "tree"
    for rel in ["b/x.png", "b.png", "a-b/y.PNG", "a/z.jpg", "a/notes.txt", ".hidden/h.png", "c/d/e/deep.bmp", "B/up.png"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    (root / "link").symlink_to(root / "a", target_is_directory=True)
    (root / "img.png.d").mkdir()
    for args in ([root], [root / "b.png", root / "c", tiny_data], [str(root) + "/"], [tiny_data / ".." / tiny_data.name]):
        assert list(iter_images(args)) == [str(p) for p in find_images(args)], args
    monkeypatch.chdir(root)
    assert list(iter_images(["."])) == [str(p) for p in find_images(["."])]
    assert scan_images([root]).count == len(find_images([root]))
    (tmp_path / "empty").mkdir()
    for bad, msg in (([tmp_path / "empty"], "holds no images"), ([tmp_path / "missing.png"], "image not found")):
        with pytest.raises(InputError, match=msg):
            list(iter_images(bad))


@pytest.mark.parametrize("change", ["added", "removed"])
def test_folders_changing_during_the_run_are_refused_then_restarted(model, tiny_data, tmp_path, change):
    import shutil

    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    out = tmp_path / "emb.npy"
    extra, last = data / "zz_new.png", find_images([data])[-1]
    changed = []

    def progress(done: int, total: int) -> None:
        if done and not changed:  # an image appears or disappears mid-run
            if change == "added":
                shutil.copy(last, extra)
            else:
                last.unlink()
            changed.append(True)

    with pytest.raises(InputError, match="changed while embedding"):
        embed_to_npy(model, [data], out, BS, progress=progress)
    assert not out.exists()
    logs: list[str] = []
    run = embed_to_npy(model, [data], out, BS, log=logs.append)
    assert run.resumed_from == 0 and "the input list changed" in logs[0]
    files = find_images([data])
    check_output(out, files, model.embed(files))
