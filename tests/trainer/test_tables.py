"""Training CSVs: layouts detected by header, items by content; one-line errors; pairs/triplets train."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from siamese_sdk.errors import InputError
from siamese_trainer.data.paraphrase_data import write_csv
from siamese_trainer.data.tables import read_table


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_layouts_and_kinds(tmp_path):
    pairs = read_table(write_csv(tmp_path / "p.csv", "pairs", 20))
    assert (pairs.layout, pairs.kind, len(pairs)) == ("pairs", "text", 20) and set(pairs.labels.tolist()) == {0, 1}
    trip = read_table(write_csv(tmp_path / "t.csv", "triplets", 10))
    assert (trip.layout, trip.kind) == ("triplets", "text") and list(trip.columns) == ["anchor", "positive", "negative"]
    text = read_table(write_csv(tmp_path / "q.csv", "text", 30, intents=5))
    assert (text.layout, text.kind, len(text.classes)) == ("labelled", "text", 5) and text.labels.max() == 4
    dia = read_table(write_csv(tmp_path / "d.csv", "dialog", 12, intents=3))
    assert dia.kind == "dialog" and isinstance(dia.columns["dialog"][0], list) and len(dia.columns["dialog"][0]) == 3
    # header names are case-insensitive and extra columns are ignored; dialogs in pair cells
    mixed = read_table(_csv(tmp_path, 'id,A,B,Label\n1,"[""hi"", ""yes""]","[""no""]",1\n2,"[""a""]","[""b""]",0\n'))
    assert mixed.kind == "dialog" and mixed.columns["a"][0] == ["hi", "yes"]


def test_image_pairs_resolve_relative_to_the_csv(tmp_path, images):
    for name in ("x.png", "y.png"):
        shutil.copy(images[0], tmp_path / name)
    t = read_table(_csv(tmp_path, "a,b,label\nx.png,y.png,1\ny.png,x.png,0\n"))
    assert t.kind == "image" and t.columns["a"][0] == str(tmp_path / "x.png")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("a,b\nx,y\n", r"lacks column\(s\) \['label'\]"),
        ("anchor,positive\nx,y\n", r"lacks column\(s\) \['negative'\]"),
        ("a,b,label\n", "no data rows"),
        ("a,b,label\nx,y,maybe\n", "row 2: label 'maybe' invalid; use 1"),
        ("a,b,label\nx,y,1\nx,,0\n", "row 3: column 'b' is empty"),
        ("a,b,label\nx,y,1,extra\n", "row 2 has 4 fields"),
        ("a,b,label\nx,y,1\nz,w,1\n", "needs both same"),
        ("a,b,label\nx.png,y.png,1\nx.png,y.png,0\n", "row 2: image 'x.png' not found"),
        ("a,b,label\nx.png,hello,1\nx,y,0\n", "mixes image paths"),
        ('dialog,label\n"[""hi""]",a\nnot json,b\n', "row 3: column 'dialog' is not a dialog"),
        ("text,label\nhi,a\nho,a\n", "at least 2 classes"),
    ],
)
def test_malformed_csv(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_table(_csv(tmp_path, text))


@pytest.mark.parametrize(
    "raw, a, b",
    [
        ('a,b,label\n"one\ntwo",x,1\ny,z,0\n', ["one\ntwo", "y"], ["x", "z"]),  # a quoted newline stays in its cell
        ('a,b,label\r\n"one\r\ntwo",x,1\r\ny,z,0\r\n', ["one\r\ntwo", "y"], ["x", "z"]),  # CRLF files
        ('\ufeffa,b,label\nx,y,1\nz,w,0\n', ["x", "z"], ["y", "w"]),  # a UTF-8 BOM is not part of the header
        ('a,b,label\n"l\u2028r",x,1\nu\u2028v,w\u0085z,0\n', ["l\u2028r", "u\u2028v"], ["x", "w\u0085z"]),
        ('a,b,label\r"one\rtwo",x,1\ry,z,0\r', ["one\rtwo", "y"], ["x", "z"]),  # old Mac line ends
    ],
)
def test_csv_keeps_every_character(tmp_path, raw, a, b):
    path = tmp_path / "data.csv"
    path.write_bytes(raw.encode("utf-8"))
    t = read_table(path)
    assert t.columns["a"] == a and t.columns["b"] == b
    assert t.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    "text, message",
    [
        ('a,b,label\nx,y,1\nx,"y"z,0\n', r"row 3, column 2 \('b'\): malformed CSV"),
        ('a,b,label\nx,y,1\n"x,y,0\nq,r,1\n', r"row 3, column 1 \('a'\): malformed CSV \(unexpected end of data\)"),
        ('a,b,label\n"multi\nline",y,1\nx,y,"0"1\n', r"row 4, column 3 \('label'\): malformed CSV"),
    ],
)
def test_malformed_line_names_row_and_column(tmp_path, text, message):
    with pytest.raises(InputError, match=message) as e:
        read_table(_csv(tmp_path, text))
    assert "\n" not in str(e.value)


def test_missing_and_non_utf8(tmp_path):
    with pytest.raises(InputError, match="data file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\xe9,a\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_table(tmp_path / "latin.csv")


@pytest.mark.parametrize("layout", ["pairs", "triplets"])
def test_pairs_and_triplets_train(layout, tmp_path):
    pytest.importorskip("torch")
    from siamese_trainer import checkpoint
    from siamese_trainer.train import TrainConfig, train

    csv = write_csv(tmp_path / f"{layout}.csv", layout, 80, intents=6)
    cfg = TrainConfig(data=str(csv), out=str(tmp_path / "run"), epochs=2, p=4, k=4, batches_per_epoch=2, embedding_dim=8, width=8)
    path = train(cfg, log=lambda s: None, progress=False)
    ckpt = checkpoint.load(path)
    assert ckpt["config"]["loss"] == ("contrastive" if layout == "pairs" else "triplet")
    assert ckpt["data"]["layout"] == layout and len(ckpt["data"]["split"]["val_rows"]) == 16  # 20 % of the rows held out
    assert np.isfinite([r["auc"] for r in ckpt["history"]]).all() and len(ckpt["history"]) == 2
    # resume continues the run with its saved settings, tokenizer and split
    path = train(TrainConfig(out=str(tmp_path / "run"), epochs=3), resume=True, log=lambda s: None, progress=False)
    again = checkpoint.load(path)
    assert again["epoch"] == 3 and again["tokenizer"] == ckpt["tokenizer"] and again["data"]["split"] == ckpt["data"]["split"]


@pytest.mark.slow
def test_image_pairs_csv_trains_and_exports(tmp_path, tiny_data):
    """Image pairs (paths relative to the CSV): contrastive on those pairs, export validated on the held-out pairs."""
    pytest.importorskip("onnx")
    import siamese_sdk
    from siamese_export.pipeline import ExportOptions, export_bundle
    from siamese_trainer.train import TrainConfig, train

    shutil.copytree(tiny_data, tmp_path / "img")
    classes = sorted(p for p in (tmp_path / "img").rglob("character*") if p.is_dir())
    files = [sorted(c.glob("*.png")) for c in classes]
    rng = np.random.default_rng(0)
    lines = ["a,b,label"]
    for n in range(60):
        c, d = rng.choice(len(files), 2, replace=False)
        a, b = files[c][n % 8], (files[c][(n + 3) % 8] if n % 2 == 0 else files[d][n % 8])
        lines.append(f"{a.relative_to(tmp_path)},{b.relative_to(tmp_path)},{1 - n % 2}")
    csv = _csv(tmp_path, "\n".join(lines) + "\n", "pairs.csv")
    cfg = TrainConfig(data=str(csv), out=str(tmp_path / "run"), epochs=1, p=4, k=4, batches_per_epoch=2, embedding_dim=8, width=8)
    path = train(cfg, log=lambda s: None, progress=False)
    bundle = export_bundle(path, tmp_path / "run" / "bundle", ExportOptions(log=lambda s: None, calibration_images=32))
    m = siamese_sdk.read_manifest(bundle)
    assert m.input_kind == "image" and m.format_version == 1 and m.validation["split"] == "12 held-out pairs"
    fp32 = m.variants["fp32"].metrics
    assert m.validation["pairs"] == 12 and fp32["pairs_genuine"] + fp32["pairs_impostor"] == 12 and fp32["pairs_genuine"] >= 1
    r = siamese_sdk.load(bundle).verify([str(files[0][0])], [str(files[0][0])])
    assert r.same[0] and r.scores[0] < 1e-3


def test_cli_reports_a_malformed_csv_in_one_line(tmp_path):
    from click.testing import CliRunner
    from siamese_trainer.cli import main

    r = CliRunner().invoke(main, ["--data", str(_csv(tmp_path, "text,label\n")), "--out", str(tmp_path / "r")])
    assert r.exit_code == 1 and "has a header but no data rows" in r.output and "Traceback" not in r.output
