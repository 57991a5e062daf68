"""Compatibility alias: moved to siamese_sdk.tools.bench."""

from .tools.bench import (  # noqa: F401
    BENCH_VERSION,
    accuracy,
    cold_start,
    cold_start_once,
    head_cost,
    machine,
    markdown,
    plots,
    ratios,
    run,
    speed,
    torch_eager,
)
