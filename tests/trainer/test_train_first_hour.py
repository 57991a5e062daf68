"""What siamese-train tells a new user: its help (what the recipe picks, what to export), the recipe's counts of
readable images, ``*best`` marks (also under ``--select last``), and logs without a repeated progress label."""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from siamese_trainer import checkpoint, recipe  # noqa: E402
from siamese_trainer.cli import main  # noqa: E402
from siamese_trainer.train import TrainConfig, train  # noqa: E402

SMALL = dict(p=4, k=4, batches_per_epoch=3, embedding_dim=8, val_fraction=0.34, threads=1)


def test_help_says_what_the_recipe_picks_and_suggests_the_run_folder():
    text = CliRunner().invoke(main, ["--help"]).output
    assert "NT-Xent" in text and "recipe" in text
    assert "embedded Omniglot subset, contrastive" not in text
    assert "Then: siamese-export runs/demo " in text and "siamese-export runs/demo/model.pt" not in text
    assert "*best" in text


def test_the_recipe_counts_only_readable_images(tmp_path):
    from test_recipe import make_folder

    root = make_folder(tmp_path / "data", "photos", classes=6, per_class=5)
    (root / "class0" / "broken.png").write_bytes(b"not a png")
    (root / "class1" / "cut.png").write_bytes((root / "class1" / "0.png").read_bytes()[:50])
    profile = recipe.inspect(root)
    assert profile.images == 30 and profile.per_class == 5
    said: list[str] = []
    recipe.apply({"data": str(root)}, set(), said.append)
    assert "30 images" in said[0], said[0]  # the profile line counts what training will read
    assert not any("32 images" in line or "31 images" in line for line in said), said


def _epochs(lines: list[str]) -> list[tuple[int, bool]]:
    return [(int(m.group(1)), line.endswith("*best")) for line in lines if (m := re.match(r"epoch (\d+)/\d+  loss", line))]


@pytest.mark.parametrize("select", ["auc", "last"])
def test_best_marks_only_epochs_whose_validation_score_is_the_best_so_far(tiny_data, tmp_path, select):
    lines: list[str] = []
    out = tmp_path / "run"
    train(TrainConfig(data=str(tiny_data), out=str(out), epochs=4, select=select, lr=3e-2, **SMALL), log=lines.append, progress=False)
    history = json.loads((out / "metrics.json").read_text())["history"]
    marks = _epochs(lines)
    assert [e for e, _ in marks] == [1, 2, 3, 4]
    best = -1.0
    for (epoch, marked), row in zip(marks, history, strict=True):
        assert marked == (row["auc"] > best), (epoch, marked, [r["auc"] for r in history])
        best = max(best, row["auc"])
    assert not all(m for _, m in marks)  # the validation AUC falls in this seeded run: some epochs are not marked
    want = 4 if select == "last" else 1 + max(range(4), key=lambda i: (history[i]["auc"], -i))
    assert checkpoint.load(out / "best.pt")["epoch"] == want


def test_a_log_file_gets_no_progress_label_beside_each_result_line(tiny_data, tmp_path):
    args = ["--data", str(tiny_data), "--out", str(tmp_path / "run"), "--epochs", "2", "--recipe", "off"]
    args += [x for k, v in SMALL.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    r = CliRunner().invoke(main, args)  # stdout and stderr are not terminals here, as in a log file
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert [line for line in lines if line.startswith("epoch ")] == [line for line in lines if re.match(r"epoch \d/2  loss", line)]
