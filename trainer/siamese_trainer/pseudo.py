"""Compatibility alias: moved to siamese_trainer.tasks.two_branch, siamese_trainer.losses.cross_branch and
siamese_trainer.evaluate (``cross_metrics``)."""

from .evaluate import cross_metrics  # noqa: F401
from .losses.cross_branch import CrossBranchLoss  # noqa: F401
from .tasks.two_branch import train_pseudo  # noqa: F401
