"""What differs per model kind, one small module each: ``image``, ``two_branch`` (pseudo-Siamese), ``text``.

``SOURCES`` maps ``siamese_trainer.checkpoint.kind_of`` to the ``base.Source`` subclass the pipeline runs.
"""

from __future__ import annotations

from .base import Part, Source
from .image import ImageSource
from .text import TextSource
from .two_branch import TwoBranchSource

SOURCES: dict[str, type[Source]] = {"image": ImageSource, "pseudo": TwoBranchSource, "text": TextSource}

__all__ = ["SOURCES", "ImageSource", "Part", "Source", "TextSource", "TwoBranchSource"]
