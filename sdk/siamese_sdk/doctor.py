"""Compatibility alias: moved to siamese_sdk.tools.doctor."""

from .tools.doctor import (  # noqa: F401
    check_provider,
    cpu_info,
    format_report,
    nvidia_gpus,
    run_checks,
    tiny_model,
    tiny_model_expected,
)
