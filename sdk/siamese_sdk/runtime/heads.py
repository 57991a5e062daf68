"""The distance heads of a bundle: ``pairwise`` ``(N, D), (N, D) -> (N,)`` and ``matrix`` ``(N, D), (M, D) -> (N, M)``
scores, as the manifest's metric says (``siamese_sdk.metric``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError, InputError
from ..format.manifest import Manifest
from .session import Providers, open_session

#: the largest embedding value accepted: squared distances of D-dim vectors stay finite in float32 up to D = 1e7
MAX_EMBEDDING_VALUE = 1e15


def check_embeddings(e: Any, dim: int, name: str) -> np.ndarray:
    """``e`` as a contiguous ``(N, dim) float32`` array of finite values within ``+-MAX_EMBEDDING_VALUE``;
    ``InputError`` naming ``name`` for anything else."""
    e = np.asarray(e)
    if e.ndim == 1 and e.shape[0] == dim:
        raise InputError(f"{name}: got one embedding of shape ({dim},); add the batch axis: x[None] for shape (1, {dim})")
    if e.ndim != 2 or e.shape[1] != dim:
        raise InputError(
            f"{name}: expected embeddings of shape (N, {dim}), got {e.shape}; pass the output of embed() of the same model"
        )
    if e.shape[0] == 0:
        raise InputError(f"{name}: empty batch (N = 0); pass at least one embedding")
    if not np.issubdtype(e.dtype, np.floating):
        raise InputError(f"{name}: expected float embeddings, got dtype {e.dtype}")
    peak = float(np.abs(e).max())  # one pass: NaN and Inf make it non-finite
    if not np.isfinite(peak):
        raise InputError(f"{name}: embeddings contain NaN or Inf; clean them first")
    if peak > MAX_EMBEDDING_VALUE:
        raise InputError(
            f"{name}: embedding values reach {peak:.3g}, beyond +-{MAX_EMBEDDING_VALUE:g}, where squared "
            "distances overflow float32; pass the output of embed() of the same model"
        )
    return np.ascontiguousarray(e, dtype=np.float32)


def head_providers(requested: Providers) -> Providers:
    """The providers the heads run on: the heads have dynamic shapes (N changes per call), so TensorRT, which would
    build an engine per shape, is left out (CUDA, then CPU, for a TensorRT list)."""
    return [p for p in requested if p[0] != "TensorrtExecutionProvider"] or [("CPUExecutionProvider", {})]


#: head role -> the rank of its one output: ``pairwise`` ``(N,)`` scores, ``matrix`` ``(N, M)``
ROLE_RANKS = {"pairwise": 1, "matrix": 2}


def check_role(role: str, session: Any) -> None:
    """``BundleError`` unless the head graph ``session`` computes ``role``'s output: one output of ``ROLE_RANKS[role]``
    axes (a pairwise head swapped for the matrix head would turn N pair scores into an N x N matrix)."""
    outs = session.get_outputs()
    ranks = [len(o.shape) if o.shape is not None else None for o in outs]
    if ranks != [ROLE_RANKS[role]]:
        raise BundleError(
            f"the {role} head's graph has output rank(s) {ranks}, a {role} head has one output of rank {ROLE_RANKS[role]}; "
            "the manifest's heads are swapped or wrong, re-export the bundle"
        )


def _shaped(out: Any, shape: tuple[int, ...], role: str) -> np.ndarray:
    """The head's output, refused (``BundleError``) unless it is ``shape`` float scores."""
    out = np.asarray(out)
    if out.shape != shape or not np.issubdtype(out.dtype, np.floating):
        raise BundleError(f"the {role} head returned {out.dtype} {out.shape}, expected float {shape}; re-export the bundle")
    return out


class Heads:
    """The two head sessions of a bundle (from the ``model_format`` files: ``onnx`` or ``ort``); inputs are checked (``check_embeddings``) before each run."""

    def __init__(
        self, ort_module: Any, root: Path, manifest: Manifest, opts: Any, requested: Providers, model_format: str = "onnx"
    ) -> None:
        providers = head_providers(requested)
        self.dim = manifest.embedding_dim
        self._pairwise = open_session(ort_module, root, manifest.graph_file(None, model_format, "pairwise"), opts, providers)
        self._matrix = open_session(ort_module, root, manifest.graph_file(None, model_format, "matrix"), opts, providers)
        for role, head in (("pairwise", self._pairwise), ("matrix", self._matrix)):
            dims = [i.shape[-1] if i.shape else None for i in head.get_inputs()]
            if len(dims) != 2 or any(d != self.dim for d in dims):
                raise BundleError(f"head expects {dims}-d embeddings, encoder emits {self.dim}; the bundle mixes models")
            check_role(role, head)
        self._pairwise_in = [i.name for i in self._pairwise.get_inputs()]
        self._matrix_in = [i.name for i in self._matrix.get_inputs()]

    def pairwise(self, a: Any, b: Any) -> np.ndarray:
        """``(N,) float32`` scores of row pairs of two ``(N, D)`` embedding arrays."""
        a, b = check_embeddings(a, self.dim, "a"), check_embeddings(b, self.dim, "b")
        if a.shape[0] != b.shape[0]:
            raise InputError(
                f"distance needs equal batch sizes, got {a.shape[0]} and {b.shape[0]}; use distance_matrix for N x M"
            )
        out = self._pairwise.run(None, dict(zip(self._pairwise_in, (a, b), strict=True)))[0]
        return _shaped(out, (a.shape[0],), "pairwise")

    def matrix(self, a: Any, b: Any) -> np.ndarray:
        """``(N, M) float32`` scores of every row of ``a`` ``(N, D)`` against every row of ``b`` ``(M, D)``."""
        a, b = check_embeddings(a, self.dim, "a"), check_embeddings(b, self.dim, "b")
        out = self._matrix.run(None, dict(zip(self._matrix_in, (a, b), strict=True)))[0]
        return _shaped(out, (a.shape[0], b.shape[0]), "matrix")
