"""Compatibility alias: moved to siamese_trainer.tasks.table (the run), siamese_trainer.data.table_split,
siamese_trainer.data.table_items and siamese_trainer.data.validation (what export reads)."""

from .config import DEFAULT_MAX_LENGTH  # noqa: F401
from .data.table_items import encode_items, to_tensors  # noqa: F401
from .data.table_split import VAL_MAX_ITEMS, TableSplit, split_table, validation_pairs  # noqa: F401
from .data.validation import checkpoint_validation, training_images  # noqa: F401
from .tasks.table import train_table  # noqa: F401
