"""Compatibility alias: moved to siamese_sdk.tools.stream (the walker ``iter_images`` to siamese_sdk.tools.files)."""

from .tools.files import iter_images  # noqa: F401
from .tools.stream import (  # noqa: F401
    PARTIAL_FORMAT,
    PARTIAL_VERSION,
    PREFETCH,
    EmbedRun,
    ImageScan,
    Progress,
    embed_to_npy,
    partial_paths,
    paths_file,
    prefetch,
    scan_images,
)
