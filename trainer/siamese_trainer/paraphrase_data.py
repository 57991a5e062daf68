"""Compatibility alias: moved to siamese_trainer.data.paraphrase_data."""

from .data.paraphrase_data import ENDINGS, GREETINGS, INTENTS, OPENERS, REPLIES, dialog, question, rows, write_csv  # noqa: F401
