"""Text and dialog bundles: real BiLSTM training, real ONNX export, parity over varied lengths, int8, SDK use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import siamese_sdk
from click.testing import CliRunner
from siamese_sdk.cli import main as siamese
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.format.manifest import Manifest, read_manifest

torch = pytest.importorskip("torch")


def _torch_encoder(bundle):
    from siamese_trainer import checkpoint

    ckpt = checkpoint.load(bundle.parent / "model.pt")
    return checkpoint.build_encoder(ckpt["model"], ckpt["state_dict"])


def _cos(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _items(kind, n=40, seed=0):
    from siamese_trainer.data.paraphrase_data import INTENTS, dialog, question

    rng = np.random.default_rng(seed)
    names = list(INTENTS)
    make = dialog if kind == "dialog" else question
    return [make(rng, names[i % len(names)]) for i in range(n)]


@pytest.mark.parametrize("fixture", ["text_bundle", "dialog_bundle"])
def test_bundle_manifest_and_parity_over_varied_lengths(fixture, request):
    bundle = request.getfixturevalue(fixture)
    kind = fixture.split("_")[0]
    m = read_manifest(bundle)
    assert m.format_version == 2 and m.input_kind == kind and m.preprocess is None
    assert "tokenizer.json" in m.files and m.validation["parity_min_cosine"] >= 0.9999
    assert m.validation["parity_lengths"] == [1, 24]  # every length up to max_length was checked at export
    assert Manifest.from_dict(json.loads(m.to_json())) == m

    # the SDK (tokenizer in numpy, ORT fp32) against the packed torch model, items of mixed lengths in one batch
    from siamese_sdk.subword import SubwordTokenizer
    from siamese_sdk.tokenizer import load_tokenizer, pad_batch

    model = siamese_sdk.load(bundle, variant="fp32")
    items = _items(kind)
    tok = load_tokenizer(bundle / "tokenizer.json")
    if kind == "text":  # the default: a subword tokenizer trained at siamese-train time (dialogs: the word one)
        assert isinstance(tok, SubwordTokenizer) and tok.model == "unigram"
    seqs = [tok.encode_dialog(x) if kind == "dialog" else tok.encode(x) for x in items]
    assert len({len(s) for s in seqs}) > 3
    tokens, lengths = pad_batch(seqs)
    with torch.no_grad():
        ref = _torch_encoder(bundle)(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()
    got = model.embed(items, batch_size=7)  # chunks of other lengths than the torch batch
    assert got.shape == (len(items), 16) and got.dtype == np.float32
    assert _cos(ref, got).min() >= 0.9999
    # padding invariance: one item alone equals the same item in a batch padded to a longer one
    longest = int(np.argmax(lengths))
    shortest = int(np.argmin(lengths))
    alone = model.embed([items[shortest]])
    np.testing.assert_allclose(alone[0], model.embed([items[longest], items[shortest]])[1], atol=1e-5)


@pytest.mark.parametrize("fixture", ["text_bundle", "dialog_bundle"])
def test_dynamic_int8_stays_close_to_fp32_over_varied_lengths(fixture, request, tmp_path):
    """The int8 graph (built here even when the speed gate kept it out of the bundle) vs fp32, lengths 1..24."""
    import onnxruntime as ort
    from siamese_export.onnx.dynamic import quantize_dynamic_encoder
    from siamese_sdk.tokenizer import load_tokenizer, pad_batch

    bundle = request.getfixturevalue(fixture)
    info = quantize_dynamic_encoder(bundle / "encoder.fp32.onnx", tmp_path / "int8.onnx")
    assert info["method"] == "dynamic" and "DynamicQuantizeLSTM" in info["quantized_ops"]
    rng = np.random.default_rng(0)
    vocab = load_tokenizer(bundle / "tokenizer.json").vocab_size()
    seqs = [rng.integers(3, vocab, size=n).tolist() for n in range(1, 25)] * 2
    tokens, lengths = pad_batch(seqs)
    feed = {"tokens": tokens, "lengths": lengths}
    fp32 = ort.InferenceSession(str(bundle / "encoder.fp32.onnx")).run(None, feed)[0]
    int8 = ort.InferenceSession(str(tmp_path / "int8.onnx")).run(None, feed)[0]
    assert _cos(fp32, int8).min() >= 0.98
    m = read_manifest(bundle)
    if "int8" in m.variants:  # shipped: it passed both gates, recorded in the manifest
        assert m.variants["int8"].metrics["speedup_vs_fp32_b64"] >= 0.97
        assert m.variants["fp32"].metrics["auc"] - m.variants["int8"].metrics["auc"] <= 0.005
    else:
        assert any(n.startswith("int8 not shipped") for n in m.notes)


def test_text_verify_cli_and_errors(text_bundle):
    runner = CliRunner()
    r = runner.invoke(siamese, ["verify", str(text_bundle), "how do i reset my password", "how can i change my password", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert isinstance(out["same"], bool) and out["score"] >= 0
    same = runner.invoke(siamese, ["verify", str(text_bundle), "where is my order", "where is my order"])
    assert same.exit_code == 0 and same.output.startswith("SAME")
    info = runner.invoke(siamese, ["info", str(text_bundle)])
    assert info.exit_code == 0 and "text: tokens (N, T) int64" in info.output
    images_only = runner.invoke(siamese, ["embed", str(text_bundle), "x.png", "-o", "x.npy"])
    assert images_only.exit_code == 1 and "siamese embed reads image files" in images_only.output
    empty = runner.invoke(siamese, ["verify", str(text_bundle), "   ", "hello"])
    assert empty.exit_code == 1 and "has no tokens" in empty.output and "Traceback" not in empty.output

    model = siamese_sdk.load(text_bundle)
    with pytest.raises(InputError, match="expected a str, got int"):
        model.embed(["ok", 3])
    with pytest.raises(InputError, match="no texts given"):
        model.embed([])
    with pytest.raises(InputError, match="text bundle"):
        model.preprocess(["a.png"])
    with pytest.raises(InputError, match="image batches"):
        model.embed_device(np.zeros((1, 3), np.float32))
    assert model.embed("one string").shape == (1, 16)


def test_dialog_embed_and_cli(dialog_bundle):
    model = siamese_sdk.load(dialog_bundle)
    e = model.embed([["hi", "hello there", "i lost my card"], ["my card was stolen"]])
    assert e.shape == (2, 16)
    with pytest.raises(InputError, match="list of dialogs"):
        model.embed(["hi", "hello"])
    with pytest.raises(InputError, match="dialog 0 turn 1"):
        model.embed([["hi", ""]])
    with pytest.raises(InputError, match="at least one turn"):
        model.embed([[]])
    r = CliRunner().invoke(siamese, ["verify", str(dialog_bundle), '["hi", "i lost my card"]', '["hello", "block my card"]'])
    assert r.exit_code == 0 and ("SAME" in r.output or "DIFFERENT" in r.output), r.output
    bad = CliRunner().invoke(siamese, ["verify", str(dialog_bundle), "hi", '["x"]'])
    assert bad.exit_code == 1 and "JSON list of turns" in bad.output


def test_tampered_tokenizer_and_v1_reader_rules(text_bundle, tmp_path):
    copy = shutil.copytree(text_bundle, tmp_path / "b")
    tok = json.loads((copy / "tokenizer.json").read_text())
    tok["lowercase"] = False
    (copy / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(BundleError, match="tokenizer.json does not match its sha256"):
        siamese_sdk.load(copy)
    d = json.loads((text_bundle / "manifest.json").read_text())
    with pytest.raises(BundleError, match="needs bundle format_version >= 2"):
        Manifest.from_dict({**d, "format_version": 1})
    with pytest.raises(BundleError, match="input kind 'audio' unknown.*upgrade"):
        Manifest.from_dict({**d, "input": {**d["input"], "kind": "audio"}})


@pytest.mark.parametrize("pool", ["max", "meanmax"])
def test_pooled_text_encoders_export_with_parity(pool, tmp_path):
    """--pool max / meanmax: the padding never wins the max, in torch (packed) and in ONNX (lengths wired)."""
    from siamese_export.onnx.text_graph import export_text_encoder
    from siamese_export.sources.text import text_parity
    from siamese_trainer.models.text_encoders import TextEncoder

    torch.manual_seed(0)
    enc = TextEncoder("text", 50, 8, False, token_dim=8, hidden_dim=8, pool=pool).eval()
    rng = np.random.default_rng(0)
    seqs = [rng.integers(3, 50, size=n).tolist() for n in range(1, 20)] * 2
    export_text_encoder(enc, tmp_path / "enc.onnx")
    assert text_parity(enc, tmp_path / "enc.onnx", seqs, batch=7) >= 0.9999
    from siamese_trainer.data.table_items import to_tensors

    with torch.no_grad():  # one row alone equals the same row padded in a batch
        alone = enc(*to_tensors([seqs[0]]))
        both = enc(*to_tensors([seqs[18], seqs[0]]))
    torch.testing.assert_close(alone[0], both[1], atol=1e-5, rtol=0)
