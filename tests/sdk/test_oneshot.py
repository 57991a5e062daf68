"""One-shot evaluation: episode sampling, nearest-support accuracy, Lake-run parsing, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from siamese_sdk import InputError
from siamese_sdk.cli import main as siamese
from siamese_sdk.eval.oneshot import evaluate, per_group, read_lake_runs, sample_episodes


def _euclid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a[:, None] - b[None], axis=2)


CLASSES = ["A/c1", "A/c2", "A/c3", "B/c1", "B/c2"]
LABELS = np.repeat(np.arange(5), 3)


def test_episodes_respect_protocol():
    eps = sample_episodes(LABELS, CLASSES, way=3, shot=2, episodes=50, within_alphabet=True, seed=1)
    for ep in eps:
        groups = {CLASSES[LABELS[i]].split("/")[0] for i in ep.support}
        assert groups == {"A"}  # only alphabet A has 3 characters
        assert ep.support.size == 6 and ep.query.size == 3
        assert not set(ep.support) & set(ep.query)
        for q, lab in zip(ep.query, ep.query_labels, strict=True):
            assert LABELS[ep.support[ep.support_labels == lab][0]] == LABELS[q]


def test_accuracy_hand_computed():
    # class c sits at x = 10 c; one "bad" image of class 0 lies nearer class 1
    emb = np.array(
        [[0.0], [0.1], [0.2], [10.0], [10.1], [10.2], [20.0], [20.1], [20.2], [30.0], [30.1], [30.2], [40.0], [40.1], [9.0]]
    )
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 0])
    eps = sample_episodes(labels, [f"c{i}" for i in range(5)], way=5, shot=1, episodes=200, within_alphabet=False, seed=0)
    res = evaluate(emb, eps, _euclid)
    # a query is wrong only when it, or its class's single support, is the bad image and the other is not
    expected = np.mean(
        [
            np.mean([(labels[ep.support[np.argmin(np.abs(emb[q, 0] - emb[ep.support, 0]))]] == labels[q]) for q in ep.query])
            for ep in eps
        ]
    )
    assert res.accuracy == pytest.approx(expected) and res.accuracy < 1.0
    assert 0 < res.ci95 < 0.05 and res.way == 5 and res.shot == 1


def test_episode_errors():
    with pytest.raises(InputError, match="within-alphabet"):
        sample_episodes(LABELS, CLASSES, way=4, shot=1, episodes=1, within_alphabet=True)
    with pytest.raises(InputError, match="needs >= 6 classes"):
        sample_episodes(LABELS, CLASSES, way=6, shot=1, episodes=1, within_alphabet=False)


def _lake_runs(src_images, root, runs=2, way=4):
    for r in range(1, runs + 1):
        run = root / f"run{r:02d}"
        (run / "training").mkdir(parents=True)
        (run / "test").mkdir()
        lines = []
        for c in range(way):
            shutil.copy(src_images[c][0], run / "training" / f"class{c + 1:02d}.png")
            item = (c + r) % way  # shuffle query order
            shutil.copy(src_images[c][1], run / "test" / f"item{item + 1:02d}.png")
            lines.append(f"run{r:02d}/test/item{item + 1:02d}.png run{r:02d}/training/class{c + 1:02d}.png")
        (run / "class_labels.txt").write_text("\n".join(lines) + "\n")
    return root


def test_lake_runs_parse_and_cli(bundle, tiny_data, tmp_path):
    classes = sorted(p for p in tiny_data.glob("*/*") if p.is_dir())
    images = [sorted(c.glob("*.png")) for c in classes]
    root = _lake_runs(images, tmp_path / "runs")
    runs = read_lake_runs(root)
    assert [r.name for r in runs] == ["run01", "run02"]
    assert all(r.answers == [0, 1, 2, 3] and len(r.queries) == 4 for r in runs)  # line n names class n
    out = tmp_path / "res.json"
    r = CliRunner().invoke(siamese, ["oneshot", str(bundle), "--lake-runs", str(root), "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["way"] == 4 and set(res["per_run"]) == {"run01", "run02"} and 0 <= res["accuracy"] <= 1


def test_oneshot_cli_on_folder(bundle, tiny_data, tmp_path):
    out = tmp_path / "res.json"
    r = CliRunner().invoke(
        siamese,
        ["oneshot", str(bundle), str(tiny_data), "--way", "3", "--episodes", "20", "--within-alphabet", "--json", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "3-way 1-shot accuracy" in r.output and "per alphabet: " in r.output
    res = json.loads(out.read_text())
    groups = res["per_alphabet"]
    assert sum(g["episodes"] for g in groups.values()) == 20
    # the overall accuracy is the episode-weighted mean of the per-alphabet ones
    mean = sum(g["accuracy"] * g["episodes"] for g in groups.values()) / 20
    assert mean == pytest.approx(res["accuracy"], abs=1e-9)
    r = CliRunner().invoke(siamese, ["oneshot", str(bundle), str(tiny_data), "--way", "5", "--within-alphabet"])
    assert r.exit_code == 1 and "Error: --within-alphabet" in r.output


def test_lake_runs_errors(tmp_path):
    with pytest.raises(InputError, match="no runNN folders"):
        read_lake_runs(tmp_path)
    (tmp_path / "run01" / "training").mkdir(parents=True)
    with pytest.raises(InputError, match="class_labels.txt missing"):
        read_lake_runs(tmp_path)
    (tmp_path / "run01" / "class_labels.txt").write_text("just-one-field\n")
    with pytest.raises(InputError, match="expected"):
        read_lake_runs(tmp_path)


def test_per_group_accuracy_hand_computed():
    labels = np.repeat(np.arange(4), 2)  # two alphabets A, B of two classes each
    classes = ["A/c0", "A/c1", "B/c0", "B/c1"]
    eps = sample_episodes(labels, classes, way=2, shot=1, episodes=30, within_alphabet=True, seed=0)
    assert {e.group for e in eps} == {"A", "B"}
    # embeddings: A's classes are told apart, B's two classes collapse onto one point (queries go to support 0)
    emb = np.array([[0.0], [0.0], [9.0], [9.0], [5.0], [5.0], [5.0], [5.0]], dtype=np.float32)
    res = evaluate(emb, eps, lambda a, b: np.abs(a - b.T))
    groups = per_group(res, eps)
    assert groups["A"][0] == 1.0 and groups["B"][0] == 0.5
    assert groups["A"][1] + groups["B"][1] == 30


def test_within_alphabet_episodes_use_two_drawers():
    # image rank r of every class is drawer r (Omniglot's XXXX_YY.png sort by drawer)
    labels = np.repeat(np.arange(6), 5)
    classes = [f"A/c{i}" for i in range(6)]
    drawer = np.tile(np.arange(5), 6)
    eps = sample_episodes(labels, classes, way=4, shot=2, episodes=40, within_alphabet=True, seed=3)
    for ep in eps:
        assert len(set(drawer[ep.query])) == 1  # one query drawer ...
        assert len(set(drawer[ep.support])) == 2  # ... and the same two support drawers in every class
        assert not set(drawer[ep.query]) & set(drawer[ep.support])
    # random classes (and --random-drawers) draw each image independently: drawers mix within an episode
    for paired in (None, False):
        mixed = sample_episodes(labels, classes, 4, 1, 40, within_alphabet=paired is False, seed=3, paired_drawers=paired)
        assert any(len(set(drawer[ep.query])) > 1 for ep in mixed)
