"""The runtime: a bundle loaded into ONNX Runtime sessions (``SiameseModel``) and the parts it is made of.

- ``session``: one ONNX file -> one session with the project's options.
- ``encoder``: ``EncoderRunner``, one encoder branch (session, input spec, batch limits); ``embed``.
- ``heads``: the pairwise and matrix distance heads.
- ``device``: ``embed_device``, batches bound in place on the device (IOBinding, DLPack, CUDA arrays).
- ``model``: ``SiameseModel``, ``Verification``, ``load``.

The runtime reads the bundle through ``siamese_sdk.format`` and never the other way round.
"""

from .model import SiameseModel, Verification, load

__all__ = ["SiameseModel", "Verification", "load"]
