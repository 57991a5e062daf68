"""The subword tokenizer (Hugging Face ``tokenizers``, extra ``text``): trained on the training text, shipped as
``tokenizer.json``, read back by the SDK; digits and unseen names kept apart; the word tokenizer still read."""

from __future__ import annotations

import importlib.util
import json

import pytest
from siamese_sdk.errors import BundleError, ExtraMissingError, InputError
from siamese_sdk.tokenizer import PAD_ID, SEP_ID, UNK_ID, Tokenizer, load_tokenizer, tokenizer_from_dict

pytest.importorskip("tokenizers")
from siamese_sdk.subword import SubwordTokenizer  # noqa: E402
from siamese_trainer.data.subword import MODELS, train_subword  # noqa: E402

TEXTS = [
    "How do I reset my password in 2019 ?",
    "What is the best way to learn Python quickly ?",
    "Where can I buy a used car near Boston ?",
    "How much does a flight from Paris to Tokyo cost ?",
    "Is it safe to travel to Kenya in March ?",
] * 20


@pytest.fixture(scope="module", params=MODELS)
def tok(request) -> SubwordTokenizer:
    return train_subword(TEXTS, request.param, vocab_size=120, max_length=12)


def test_specials_digits_and_unseen_names(tok):
    assert [tok._tok.token_to_id(t) for t in ("<pad>", "<unk>", "<sep>")] == [PAD_ID, UNK_ID, SEP_ID]
    # digits one by one: numbers that differ keep different ids, never one shared <unk>
    assert tok.tokens("in 2019")[-4:] == ["2", "0", "1", "9"]
    assert tok.encode("cost 2019") != tok.encode("cost 2018")
    # a name never seen in training breaks into known pieces: two such names do not collapse
    assert tok.encode("Quasimodo") != tok.encode("Esmeralda")
    assert tok.encode("HOW do I") == tok.encode("how do i")  # case folded by default
    assert 3 < tok.vocab_size() <= 120


def test_lengths_dialogs_and_refusals(tok):
    long = " ".join(["password"] * 40)
    assert len(tok.encode(long)) == tok.max_length == 12
    ids = tok.encode_dialog(["where is my car", long])
    assert len(ids) == 12 and ids[-1] == tok.encode("password")[-1]  # a dialog keeps its last tokens
    assert SEP_ID in tok.encode_dialog(["hi", "reset"])
    with pytest.raises(InputError, match="has no tokens"):
        tok.encode("   ")
    with pytest.raises(InputError, match="expected a str"):
        tok.encode(3)  # type: ignore[arg-type]


def test_tokenizer_json_round_trip(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_json(), encoding="utf-8")
    back = load_tokenizer(path)
    assert isinstance(back, SubwordTokenizer) and back.max_length == tok.max_length
    for text in ["Where can I buy a car in 2031 ?", "Tokyo Quasimodo", "x\u2028y"]:
        assert back.encode(text) == tok.encode(text)
    d = json.loads(path.read_text())
    assert d["truncation"]["max_length"] == 12 and "model" in d  # the library's own format
    assert tokenizer_from_dict(d).encode("Boston") == tok.encode("Boston")


def test_cased_keeps_case():
    tok = train_subword(TEXTS, "bpe", vocab_size=150, max_length=16, lowercase=False)
    assert tok.encode("How") != tok.encode("how")


def test_malformed_subword_files_are_bundle_errors(tok):
    d = tok.to_dict()
    d["truncation"] = None
    with pytest.raises(BundleError, match="lacks truncation.max_length"):
        tokenizer_from_dict(d)
    with pytest.raises(BundleError, match="not a readable tokenizers file"):
        tokenizer_from_dict({"model": {"type": "nonsense"}})


def test_word_tokenizer_files_still_read(tmp_path):
    word = Tokenizer.build(["reset my password"], max_length=8)
    path = tmp_path / "tokenizer.json"
    path.write_text(word.to_json(), encoding="utf-8")
    assert load_tokenizer(path) == word


def test_without_the_text_extra_one_line_error(tok, tmp_path, monkeypatch):
    path = tmp_path / "tokenizer.json"
    path.write_text(tok.to_json(), encoding="utf-8")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tokenizers" else real(name, *a))
    with pytest.raises(ExtraMissingError, match=r"siamese-sdk\[text\]") as e:
        load_tokenizer(path)
    assert "\n" not in str(e.value)
