"""Compatibility alias: moved to siamese_export.sources.two_branch."""

from .sources.two_branch import TwoBranchSource, branch_ckpt  # noqa: F401
