"""Training data: image folders (``images``: class splits, datasets, the embedded Omniglot subset), the
augmentation families (``augment``), CSV tables (``tables``, ``table_split``: held-out rows or classes,
``table_items``: featurising), the P x K sampler (``sampling``), the synthetic paraphrase set
(``paraphrase_data``) and the validation data export reads from a checkpoint (``validation``).

The image-folder names stay importable from ``siamese_trainer.data`` itself.
"""

from .augment import random_affine, random_thickness  # noqa: F401
from .images import (  # noqa: F401
    CACHE_LIMIT_BYTES,
    EMBEDDED,
    ImageDataset,
    RotatedClasses,
    copy_embedded_subset,
    embedded_root,
    resolve_root,
    root_entry,
    split_classes,
)
