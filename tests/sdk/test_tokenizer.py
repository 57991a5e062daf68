"""The bundle tokenizer (plain Python + numpy): rule, vocabulary, truncation, padding, file round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.tokenizer import PAD_ID, SEP_ID, SPECIALS, UNK_ID, Tokenizer, pad_batch


@pytest.fixture
def tok() -> Tokenizer:
    return Tokenizer.build(["How do I reset my password?", "reset the password", "where is my order"], max_length=5)


def test_rule_and_vocabulary(tok):
    assert tok.vocab[:3] == SPECIALS
    assert tok.tokens("ＨＯＷ  do\ti   Reset, MY password?!") == ["how", "do", "i", "reset", ",", "my", "password", "?", "!"]
    # most frequent first (ties alphabetical): 'my', 'password', 'reset' occur twice
    assert tok.vocab[3:6] == ("my", "password", "reset")
    ids = tok.encode("reset my password")
    assert [tok.vocab[i] for i in ids] == ["reset", "my", "password"]
    assert tok.encode("reset zebra")[1] == UNK_ID
    assert Tokenizer.build(["a a b"], min_freq=2).vocab == (*SPECIALS, "a")
    assert Tokenizer.build(["a b c d e"], max_size=5).vocab_size() == 5


def test_truncation_and_dialogs(tok):
    long = "how do i reset my password please"
    assert len(tok.encode(long)) == 5 and tok.encode(long) == tok.encode("how do i reset my")  # first tokens kept
    ids = tok.encode_dialog(["hi", "my order"])
    assert ids == [UNK_ID, SEP_ID, tok.encode("my")[0], tok.encode("order")[0]]
    kept = tok.encode_dialog(["hi there", "where is my order"])  # 7 ids -> the last 5: the most recent turn
    assert kept == [SEP_ID, *tok.encode("where is my order")]


def test_padding():
    tokens, lengths = pad_batch([[5, 6, 7], [8]])
    assert tokens.dtype == np.int64 and lengths.tolist() == [3, 1]
    assert tokens.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]


def test_file_round_trip(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_json(), encoding="utf-8")
    back = Tokenizer.load(path)
    assert back == tok and back.encode("Reset my password") == tok.encode("Reset my password")
    d = json.loads(path.read_text())
    assert (d["pad_id"], d["unk_id"], d["sep_id"], d["max_length"]) == (0, 1, 2, 5)


@pytest.mark.parametrize(
    "text, message",
    [("", "has no tokens"), ("  \t ", "has no tokens"), (None, "expected a str, got NoneType"), (b"bytes", "got bytes"), (3.5, "got float")],
)
def test_bad_texts(tok, text, message):
    with pytest.raises(InputError, match=message):
        tok.encode(text)


def test_bad_dialogs(tok):
    with pytest.raises(InputError, match="list of turns"):
        tok.encode_dialog("just a string")
    with pytest.raises(InputError, match="at least one turn"):
        tok.encode_dialog([])
    with pytest.raises(InputError, match="turn 1"):
        tok.encode_dialog(["hi", 7])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="other"), "not a siamese-tokenizer"),
        (lambda d: d.update(format_version=99), "upgrade"),
        (lambda d: d.update(vocab=["a", "b", "c"]), "must start with"),
        (lambda d: d.update(vocab=[*SPECIALS, "x", "x"]), "duplicate"),
        (lambda d: d.update(pattern="("), "not a valid regex"),
        (lambda d: d.update(max_length=0), "max_length"),
        (lambda d: d.update(sep_id=9), "special ids"),
        (lambda d: d.pop("vocab"), "malformed"),
    ],
)
def test_bad_tokenizer_files(tok, change, message):
    d = tok.to_dict()
    change(d)
    with pytest.raises(BundleError, match=message):
        Tokenizer.from_dict(d)
