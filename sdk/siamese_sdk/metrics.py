"""Compatibility alias: moved to siamese_sdk.eval.metrics."""

from .eval.metrics import (  # noqa: F401
    all_pairs,
    equal_error_rate,
    roc_auc,
    roc_curve,
    summarize,
    tar_at_far,
    threshold_at_far,
)
