"""Torch modules wrapped around trained encoders before export: test-time augmentation, ensembles."""
