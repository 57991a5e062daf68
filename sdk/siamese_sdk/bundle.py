"""Compatibility alias: moved to siamese_sdk.format.manifest.

This name is that module itself (not a copy of its names), so setting an attribute here, e.g.
``FORMAT_VERSION`` in a test, acts on the reader.
"""

import sys

from .format import manifest as _manifest

sys.modules[__name__] = _manifest
