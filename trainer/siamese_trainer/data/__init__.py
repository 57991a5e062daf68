"""Training data: image folders (``images``: class splits, datasets, the embedded Omniglot subset), the
augmentation families (``augment``), CSV tables (``tables``, ``table_split``: held-out rows or classes,
``table_items``: featurising), the P x K sampler (``sampling``), the synthetic paraphrase set
(``paraphrase_data``) and the validation data export reads from a checkpoint (``validation``).
"""
