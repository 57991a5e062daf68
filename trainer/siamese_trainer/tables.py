"""Compatibility alias: moved to siamese_trainer.data.tables."""

from .data.tables import LAYOUTS, Table, is_table, read_table, split_rows  # noqa: F401
