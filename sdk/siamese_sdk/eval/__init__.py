"""Evaluation on scored pairs and episodes: ``metrics`` (ROC AUC, EER, thresholds, TAR at a FAR), ``support`` (the
identities and pairs behind each threshold), ``measure`` (one variant of a bundle on labelled pairs: the export
and ``siamese calibrate`` share it) and ``oneshot`` (N-way k-shot accuracy). numpy only."""
