"""Compatibility alias: moved to siamese_sdk.eval.oneshot."""

from .eval.oneshot import (  # noqa: F401
    DistanceMatrix,
    Episode,
    LakeRun,
    OneShotResult,
    evaluate,
    evaluate_lake_runs,
    group_of,
    per_group,
    read_lake_runs,
    sample_episodes,
)
