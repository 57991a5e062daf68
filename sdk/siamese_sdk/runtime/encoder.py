"""One loaded encoder branch: its session, its input spec (bundle files opened) and its batch limits.

A one-encoder bundle has one ``EncoderRunner``; a pseudo-Siamese bundle one per branch. ``SiameseModel`` holds
them by branch name, with the shared heads; everything an ``embed`` call needs is here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import providers as _providers
from ..errors import BundleError, InputError
from ..format.inputs import ImageInput, InputSpec, Preprocess
from ..format.manifest import Manifest
from .session import Providers, open_session

if TYPE_CHECKING:
    from ..format.pixels import ImageLike


#: on the CPU, one encoder run reads at most this many input values (float32: 32 KiB); see ``cpu_run_items``
CPU_RUN_ELEMENTS = 8192

#: what ``embed`` takes, for messages
ACCEPTED = "an array, a path, a PIL image or str, or a list, tuple or other iterable of them"


def materialise(inputs: Any) -> Any:
    """``inputs`` as ``embed`` reads them: an iterable that is not a sequence (a generator, ``map``, an iterator)
    becomes a list, read once in its order; a set or dict (no order) raises ``InputError``; the rest is unchanged."""
    if isinstance(inputs, (str, bytes, os.PathLike, np.ndarray, Sequence)) or not isinstance(inputs, Iterable):
        return inputs
    if isinstance(inputs, (Mapping, Set)):
        raise InputError(f"embed got a {type(inputs).__name__}, which has no order; pass {ACCEPTED} (e.g. sorted(...))")
    return list(inputs)


def cpu_run_items(spec: InputSpec, providers: Sequence[str], fixed_batch: int | None) -> int | None:
    """Items per encoder run for a small-image encoder on the CPU alone, or None (one run per ``batch_size``).

    A CNN's first activations are many times its input (a 3x3 conv from 1 to 64 channels: 64x): at batch 64 of
    28 px images that is 12.8 MB of float32, far past the L2 cache, and each layer streams it from memory. Runs
    of at most ``CPU_RUN_ELEMENTS`` input values (rounded down to a power of two items) keep them in cache:
    measured on a 2-core x86 CPU, the int8 4-block CNN at 28 px does 1.5x more images per second in runs of
    8 than in one run of 64 (docs/results/cpu-limit.md). Items bigger than half the budget are run as asked.
    """
    if fixed_batch is not None or list(providers) != ["CPUExecutionProvider"] or not isinstance(spec, ImageInput):
        return None
    items = CPU_RUN_ELEMENTS // max(1, int(np.prod(spec.preprocess.shape)))
    return 1 << (items.bit_length() - 1) if items >= 2 else None


class EncoderRunner:
    """The encoder of ``branch`` (``""``: the one shared encoder) of ``manifest`` at ``variant``, opened on ``requested``
    from its ``model_format`` file (``onnx``, or ``ort``: the ORT-format copy).

    Attributes:
        spec: the input spec with its bundle files loaded (the tokenizer of a text input).
        variant: the variant loaded.
        fixed_batch: the variant's fixed input batch (``*-fixed``), or None.
        batch_sizes: the batch sizes declared for TensorRT's shape profile (the fixed batch for a fixed variant).
        max_run: the largest batch one encoder run gets: the fixed batch, TensorRT's profile maximum, or None.
        run_items: the items per run on the CPU (``cpu_run_items``; None: ``batch_size`` items per run).
        requested: the providers after presets, as the session was opened with them.
        providers: the providers the session runs on (ONNX Runtime names, in priority order).
    """

    def __init__(
        self,
        ort_module: Any,
        root: Path,
        manifest: Manifest,
        branch: str,
        variant: str,
        requested: Providers,
        opts: Any,
        batch_sizes: Sequence[int] | None,
        model_format: str = "onnx",
    ) -> None:
        spec, entry = manifest.encoders(variant)[branch]
        self.spec: InputSpec = spec.open(root)
        self.variant = variant
        self.fixed_batch: int | None = entry.batch
        self.batch_sizes: tuple[int, ...] = self._check_batch_sizes(batch_sizes)
        self.requested: Providers = _providers.apply_presets(
            requested,
            _providers.SessionContext(
                fingerprint=manifest.fingerprint(variant, branch),
                variant=variant,
                input_name=self.spec.names[0],
                input_chw=self.spec.preprocess.shape if isinstance(self.spec, ImageInput) else None,
                batch_sizes=self.batch_sizes,
                fixed_batch=self.fixed_batch,
            ),
        )
        on_trt = any(name == "TensorrtExecutionProvider" for name, _ in self.requested)
        self.max_run: int | None = self.fixed_batch or (max(self.batch_sizes) if on_trt else None)
        _providers.preload_cuda_libraries(self.requested)
        file = entry.file if model_format == "onnx" else manifest.graph_file(variant, model_format)
        self.session = open_session(ort_module, root, file, opts, self.requested, entry.disabled_optimizers)
        self.providers: list[str] = self.session.get_providers()
        _providers.check_no_fallback(self.requested, self.providers)
        self.run_items: int | None = cpu_run_items(self.spec, self.providers, self.fixed_batch)
        self._check_graph(manifest.embedding_dim)

    def _check_batch_sizes(self, batch_sizes: Sequence[int] | None) -> tuple[int, ...]:
        if batch_sizes is None:
            return (self.fixed_batch,) if self.fixed_batch else _providers.DEFAULT_BATCH_SIZES
        sizes = tuple(batch_sizes) if isinstance(batch_sizes, (list, tuple)) else (batch_sizes,)
        if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in sizes):
            raise InputError(f"batch_sizes={batch_sizes!r} invalid; pass positive ints, e.g. (1, 64)")
        if self.fixed_batch and set(sizes) != {self.fixed_batch}:
            raise InputError(
                f"variant {self.variant} has a fixed batch of {self.fixed_batch}; drop batch_sizes or load a dynamic variant"
            )
        return tuple(sorted(set(sizes)))

    def _check_graph(self, dim: int) -> None:
        inp, out = self.session.get_inputs(), self.session.get_outputs()
        self.spec.check_encoder(inp)
        if self.fixed_batch is not None and inp[0].shape[0] != self.fixed_batch:
            raise BundleError(f"encoder batch axis is {inp[0].shape[0]}, manifest says fixed {self.fixed_batch}; re-export")
        if len(out) != 1 or out[0].shape[-1] != dim:
            raise BundleError(f"encoder emits {out[0].shape[-1] if out else '?'}-d embeddings, manifest says {dim}; re-export")
        self.dim = dim
        self.input_name: str = inp[0].name
        self.output_name: str = out[0].name

    @property
    def kind(self) -> str:
        """The input kind: ``image``, ``text`` or ``dialog``."""
        return self.spec.kind

    def image_input(self, what: str) -> ImageInput:
        """The image input spec; ``InputError`` saying ``what`` for a text or dialog encoder."""
        if not isinstance(self.spec, ImageInput):
            raise InputError(what.format(kind=self.spec.kind))
        return self.spec

    def preprocess_spec(self) -> Preprocess:
        """The image ``Preprocess``; ``InputError`` for a text or dialog encoder."""
        return self.image_input("this is a {kind} encoder, it has no image preprocessing").preprocess

    def pixels(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """Image paths or PIL images to a ``(N, C, H, W) float32`` batch, exactly as in training."""
        spec = self.image_input("preprocess is for image bundles; this is a {kind} bundle: pass text to embed()")
        return spec.pixels(images)

    def embed(self, inputs: Any, batch_size: int) -> np.ndarray:
        """``(N, D) float32`` embeddings of ``inputs`` (as the input spec takes them), ``batch_size`` items per run."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} invalid; pass a positive int")
        prepared = self.spec.prepare(materialise(inputs))
        step = min(batch_size, self.max_run or batch_size, self.run_items or batch_size)
        out = np.empty((len(prepared), self.dim), dtype=np.float32)
        for rows, feed in self.spec.feeds(prepared, step):
            out[rows] = self.run(feed)
        if not np.isfinite(out).all():  # e.g. preprocessed inputs far outside the range the encoder was trained on
            bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
            raise InputError(
                f"the encoder produced NaN or Inf for input {bad}; its values are far outside the preprocessed range "
                "(pass image paths, or model.preprocess(images))"
            )
        return out

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One encoder run; a fixed-batch variant gets the chunk padded with zeros, and the pad rows dropped."""
        n, fixed = next(iter(feed.values())).shape[0], self.fixed_batch
        if fixed is not None and n < fixed:
            feed = {k: np.concatenate([x, np.zeros((fixed - n, *x.shape[1:]), dtype=x.dtype)]) for k, x in feed.items()}
        return self.session.run([self.output_name], feed)[0][:n]
