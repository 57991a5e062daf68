"""``siamese-export RUN_DIR`` exports ``best.pt``; a ``model.pt`` path exports itself and names the best epoch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from siamese_export.pipeline import checkpoint_of  # noqa: E402
from siamese_sdk.errors import BundleError  # noqa: E402
from siamese_trainer import checkpoint  # noqa: E402

GOLDEN = next(d / "data" / "golden" for d in Path(__file__).resolve().parents if (d / "data" / "golden").is_dir())


def _run(tmp_path: Path, best_epoch: int | None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(GOLDEN / "image" / "model.pt", run / "model.pt")
    if best_epoch is not None:
        ck = checkpoint.load(run / "model.pt")
        checkpoint.save(run / "best.pt", {k: v for k, v in ck.items() if k not in ("format", "format_version")} | {"epoch": best_epoch})
    return run


def test_a_run_folder_exports_best_pt(tmp_path):
    run, lines = _run(tmp_path, best_epoch=0), []
    assert checkpoint_of(run, lines.append) == run / "best.pt"
    assert lines == [f"exporting {run / 'best.pt'} (epoch 0) from run folder {run}"]


def test_a_run_folder_without_best_pt_exports_model_pt(tmp_path):
    run, lines = _run(tmp_path, best_epoch=None), []
    assert checkpoint_of(run, lines.append) == run / "model.pt"


def test_model_pt_exports_itself_and_names_the_best_epoch(tmp_path):
    run, lines = _run(tmp_path, best_epoch=0), []
    assert checkpoint_of(run / "model.pt", lines.append) == run / "model.pt"
    last = checkpoint.load(run / "model.pt")["epoch"]
    assert lines == [
        f"note: {run / 'model.pt'} is the last epoch ({last}); {run / 'best.pt'} holds the best validation epoch (0): "
        f"pass {run} or {run / 'best.pt'} to export that one"
    ]


def test_a_folder_without_checkpoints_is_still_refused(tmp_path):
    from siamese_export.pipeline import export_bundle

    with pytest.raises(BundleError, match="is an empty folder .siamese-export looked for .*best.pt and .*model.pt"):
        export_bundle(tmp_path)
