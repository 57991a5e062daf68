"""Training the subword tokenizer of a text run (Hugging Face ``tokenizers``), on the training split's text.

Normalisation: NFKC, then lowercasing unless ``--cased``. Pre-tokenisation: split at whitespace, every
punctuation character on its own, and every digit on its own (``2019`` -> ``2 0 1 9``), so numbers that
differ stay different instead of sharing one ``<unk>``. Then the model (``MODELS``) learns at most
``vocab_size`` pieces from the text; rare names break into known pieces instead of ``<unk>``. The specials
come first: ``<pad>`` = 0, ``<unk>`` = 1, ``<sep>`` = 2 (``siamese_sdk.tokenizer``). The result is the SDK's
``SubwordTokenizer``, whose ``tokenizer.json`` the bundle ships.
"""

from __future__ import annotations

from collections.abc import Iterable

from siamese_sdk.errors import InputError, require_extra
from siamese_sdk.subword import SubwordTokenizer
from siamese_sdk.tokenizer import SPECIALS, UNK

#: ``--tokenizer`` values: ``word`` (the word tokenizer, ``siamese_sdk.tokenizer.Tokenizer``) or a subword model
MODELS = ("bpe", "wordpiece", "unigram")
TOKENIZERS = ("word", *MODELS)


def train_subword(texts: Iterable[str], model: str, vocab_size: int, max_length: int, lowercase: bool = True) -> SubwordTokenizer:
    """A ``model`` (``MODELS``) tokenizer of at most ``vocab_size`` pieces learned from ``texts``; deterministic."""
    require_extra("tokenizers", "text")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if model not in MODELS:
        raise InputError(f"tokenizer {model!r} unknown; pass --tokenizer {' | '.join(TOKENIZERS)}")
    if model == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
    elif model == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size, special_tokens=list(SPECIALS), unk_token=UNK, show_progress=False
        )
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated"), pre_tokenizers.Digits(individual_digits=True)]
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tok.enable_truncation(max_length)
    return SubwordTokenizer(tok.to_str())
