"""Evaluation on scored pairs and episodes: ``metrics`` (ROC AUC, EER, thresholds, TAR at a FAR) and ``oneshot``
(N-way k-shot accuracy). numpy only; the trainer, the exporter and ``siamese bench``/``oneshot`` share them."""
