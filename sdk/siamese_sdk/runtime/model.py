"""``SiameseModel``: a loaded bundle that embeds, measures distances and makes match decisions.

The model is its encoders (``runtime.encoder.EncoderRunner``: one for a one-encoder bundle, one per branch of a
pseudo-Siamese bundle) and the shared heads (``runtime.heads``); a public method picks the encoder that
``branch=`` names and hands the call to it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import profiles as _profiles
from .. import providers as _providers
from ..errors import BundleError, InputError
from ..format.inputs import InputSpec, Preprocess
from ..format.manifest import OPERATING_POINTS, Manifest, read_manifest
from ..format.pixels import ImageLike
from . import device as _device
from .encoder import EncoderRunner
from .heads import Heads
from .session import session_options

if TYPE_CHECKING:
    import onnxruntime as ort

Inputs = np.ndarray | ImageLike | Sequence[ImageLike]


@dataclass(frozen=True)
class Verification:
    """Result of ``verify`` for N pairs.

    Attributes:
        scores: ``(N,) float32`` head scores (distances unless ``higher_is_closer``).
        same: ``(N,) bool`` the decisions: score on the close side of ``threshold``, inclusive.
        threshold: the threshold used.
        operating_point: the manifest operating point it came from, or None for a caller's threshold.
        higher_is_closer: score direction.
        unsupported: None when the threshold is a caller's or its validation set supports it; else one line saying
            why the bundle's calibration cannot support it (``manifest threshold_support``, ``eval.support``) and
            how to calibrate: the decisions rest on a handful of validation pairs, so read them as indicative.
    """

    scores: np.ndarray
    same: np.ndarray
    threshold: float
    operating_point: str | None
    higher_is_closer: bool
    unsupported: str | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class SiameseModel:
    """A bundle loaded into ONNX Runtime sessions. Use ``siamese_sdk.load`` to make one.

    One instance is safe to share between threads: it holds no mutable state after construction, and
    ONNX Runtime sessions accept concurrent ``run`` calls. It pickles (for Ray, Spark, Dask or ``multiprocessing``
    workers): the pickle holds the load arguments, and unpickling loads the bundle again from its path.
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        variant: str = "auto",
        providers: Sequence[_providers.ProviderSpec] | str | None = None,
        threads: int | None = None,
        verify: bool = True,
        batch_sizes: Sequence[int] | None = None,
        trusted_keys: Sequence[str | os.PathLike] | None = None,
        model_format: str = "onnx",
    ) -> None:
        ort = self._ort = _providers.import_onnxruntime()  # refuses a broken mix of onnxruntime builds first
        # what pickling carries (``__getstate__``); the variant is pinned once resolved below
        self._args: dict[str, Any] = dict(
            bundle_dir=bundle_dir, providers=providers, threads=threads, verify=verify, batch_sizes=batch_sizes,
            trusted_keys=trusted_keys, model_format=model_format,
        )
        self.path = Path(bundle_dir)
        # verified once, here (a pseudo-Siamese bundle's branches share this manifest); InputError with verify=False
        self.manifest: Manifest = read_manifest(self.path, verify=verify, trusted_keys=_trusted_keys(trusted_keys))
        if not verify:
            warnings.warn(f"loading {self.path} WITHOUT checking file hashes: a tampered model would run", stacklevel=3)
        requested = _providers.resolve(providers)
        self.variant = self._pick_variant(variant, requested)
        self._args["variant"] = self.variant
        #: ``onnx``, or ``ort``: the sessions run the ORT-format copies (same embeddings, same fingerprint)
        self.model_format = model_format
        if model_format != "onnx":
            self.manifest.graph_file(self.variant, model_format)  # refuses an unknown format or a missing copy first
        opts = session_options(ort, threads)
        #: ``{branch: EncoderRunner}`` (``{"": EncoderRunner}`` for one shared encoder), branches in name order
        self._encoders: dict[str, EncoderRunner] = {
            name: EncoderRunner(ort, self.path, self.manifest, name, self.variant, requested, opts, batch_sizes, model_format)
            for name in self.manifest.encoders(self.variant)
        }
        first = next(iter(self._encoders.values()))
        self._heads = Heads(ort, self.path, self.manifest, opts, first.requested, model_format)
        #: ``verify`` embeds x1 with the first encoder (branch a) and x2 with the last (branch b)
        self._pair = (first, list(self._encoders.values())[-1])

    def _pick_variant(self, variant: str, requested: list[tuple[str, dict[str, Any]]]) -> str:
        available = sorted(self.manifest.variants)
        if variant == "auto":
            return _profiles.auto_variant(self.manifest, requested[0][0])
        if variant not in self.manifest.variants:
            raise BundleError(f"variant {variant!r} not in this bundle; available: {available} or 'auto'")
        return variant

    def _encoder(self, branch: str | None) -> EncoderRunner:
        """The encoder that ``branch=`` selects; ``InputError`` when it does not fit the bundle."""
        if not self.manifest.branches:
            if branch is not None:
                raise InputError(f"branch={branch!r} given, but this bundle has one shared encoder; drop branch=")
            return self._encoders[""]
        if branch is None:
            raise InputError(f"this pseudo-Siamese bundle has branches {list(self._encoders)}; pass branch='a' or branch='b'")
        if branch not in self._encoders:
            raise InputError(f"branch {branch!r} unknown; this bundle has {list(self._encoders)}")
        return self._encoders[branch]

    # ---- properties (of the first encoder where branches could differ) ---------------------------------
    @property
    def embedding_dim(self) -> int:
        """D, the length of one embedding."""
        return self.manifest.embedding_dim

    @property
    def fingerprint(self) -> str:
        """Id of the loaded encoder: embeddings are comparable only between equal fingerprints."""
        return self.manifest.fingerprint(self.variant)

    @property
    def branches(self) -> tuple[str, ...]:
        """Branch names of a pseudo-Siamese bundle (``("a", "b")``); ``()`` for one shared encoder."""
        return tuple(self._encoders) if self.manifest.branches else ()

    @property
    def input(self) -> InputSpec | None:
        """The encoder's input spec with its bundle files loaded (``siamese_sdk.format.inputs``); None for a
        pseudo-Siamese bundle: ``input_spec(branch)`` gives each branch's."""
        return None if self.manifest.branches else self._encoders[""].spec

    @property
    def providers(self) -> list[str]:
        """The providers the encoder runs on (ONNX Runtime names, in priority order)."""
        return self._pair[0].providers

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes declared for TensorRT's shape profile (the fixed batch of a ``*-fixed`` variant)."""
        return self._pair[0].batch_sizes

    @property
    def _max_run(self) -> int | None:
        return self._pair[0].max_run

    @property
    def device(self) -> tuple[str, int]:
        """``(device_type, device_id)`` where ``embed_device`` keeps its output: ``("cuda", i)`` when CUDA or
        TensorRT runs the encoder, else ``("cpu", 0)`` (OpenVINO, CoreML, QNN take and return host memory)."""
        return _device.device_of(self._pair[0])

    # ---- public API ---------------------------------------------------------------------------------
    def input_spec(self, branch: str | None = None) -> InputSpec:
        """The input spec (``siamese_sdk.format.inputs``) of this model's encoder, or of ``branch``'s for a pseudo-Siamese bundle."""
        return self._encoder(branch).spec

    def preprocess_spec(self, branch: str | None = None) -> Preprocess:
        """The ``Preprocess`` of this model's image encoder, or of ``branch``'s for a pseudo-Siamese bundle."""
        return self._encoder(branch).preprocess_spec()

    def preprocess(self, images: ImageLike | Sequence[ImageLike], branch: str | None = None) -> np.ndarray:
        """Image paths or PIL images to a ``(N, C, H, W) float32`` batch, exactly as in training
        (``branch``: which branch's input spec, for a pseudo-Siamese bundle)."""
        return self._encoder(branch).pixels(images)

    def embed(
        self,
        inputs: Inputs | str | Iterable[str] | Iterable[Sequence[str]],
        batch_size: int = 64,
        branch: str | None = None,
    ) -> np.ndarray:
        """Embed images, texts or dialogs, as the bundle's input kind (``self.input.kind``) says.

        Args:
            inputs: image bundles: a ``(N, C, H, W)`` float array already preprocessed as the manifest says,
                or one image path / PIL image, or a sequence of them (preprocessed here). Text bundles: one
                ``str`` or a sequence of them. Dialog bundles: a sequence of dialogs, each a sequence of turns
                (``str``). Texts are tokenised with the bundle's tokenizer (see ``siamese_sdk.tokenizer``).
                Any other iterable (a generator, ``map``, an iterator) is read once into a list, in its order;
                a set or dict is refused (no order). For more images than fit in memory, use
                ``siamese_sdk.tools.stream.embed_to_npy`` (``siamese embed``).
            batch_size: items per encoder call.
            branch: ``"a"`` or ``"b"``: the encoder of a pseudo-Siamese bundle (required there, refused elsewhere);
                each branch takes its own input kind.

        Returns:
            ``(N, D) float32`` embeddings (unit length when ``manifest.normalized``), in input order.

        Raises:
            InputError: empty batch, wrong rank/shape/dtype, NaN/Inf, unreadable image, a non-str or empty text, a set
                or dict, an item that is not an image path / PIL image.
        """
        return self._encoder(branch).embed(inputs, batch_size)

    def embed_device(self, x: Any, branch: str | None = None) -> ort.OrtValue:
        """Embed one batch that already sits on the device and keep the embeddings there (ORT IOBinding).

        For GPU pipelines (decoder -> encoder -> GPU index) without host round trips. One encoder run,
        no batching, no preprocessing: ``x`` is a ``(N, C, H, W) float32`` batch preprocessed as the
        manifest says.

        Args:
            x: an ``onnxruntime.OrtValue`` (on any device; ORT copies it to ``self.device`` if needed); a
                DLPack tensor (``__dlpack__``: torch, CuPy, JAX; shared without a copy when on CUDA, checked
                through numpy when on the CPU); an object with ``__cuda_array_interface__`` (bound by pointer);
                or a numpy array (checked like ``embed``'s input, then copied to the device once).

        Returns:
            An ``onnxruntime.OrtValue`` ``(N, D) float32`` on ``self.device``: ``.numpy()`` copies it to
            the host; ``torch.from_dlpack(v)`` / ``cupy.from_dlpack(v)`` share it on the GPU.

        Raises:
            InputError: wrong rank, shape or dtype; a CUDA tensor for a model running on the CPU; N outside
                the fixed batch (``*-fixed`` variants) or above TensorRT's declared ``batch_sizes``.

        Device memory is not scanned for NaN/Inf (that needs a copy to the host). Finish the producer's
        work first (``torch.cuda.current_stream().synchronize()``): ONNX Runtime runs on its own stream.
        ``branch`` selects the encoder of a pseudo-Siamese bundle, as in ``embed``.
        """
        return _device.embed_device(self._ort, self._encoder(branch), x)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise scores of two ``(N, D)`` embedding arrays, row by row: ``(N,) float32``."""
        return self._heads.pairwise(a, b)

    def distance_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores of every row of ``a`` ``(N, D)`` against every row of ``b`` ``(M, D)``: ``(N, M) float32``."""
        return self._heads.matrix(a, b)

    def threshold(self, operating_point: str | None = None) -> float:
        """The calibrated threshold of this variant at ``operating_point`` (default: the manifest's)."""
        op = operating_point or self.manifest.default_operating_point
        thresholds = self.manifest.variants[self.variant].thresholds
        if op not in thresholds:
            raise InputError(f"operating point {op!r} unknown; expected one of {sorted(thresholds) or list(OPERATING_POINTS)}")
        return thresholds[op]

    def verify(
        self,
        x1: Inputs,
        x2: Inputs,
        threshold: float | None = None,
        operating_point: str | None = None,
        batch_size: int = 64,
    ) -> Verification:
        """Decide for each pair ``(x1[i], x2[i])`` whether both show the same identity.

        Args:
            x1, x2: inputs as ``embed`` takes them, with the same count N (pseudo-Siamese: x1 for branch a,
                x2 for branch b).
            threshold: a score threshold of your own; overrides ``operating_point``.
            operating_point: ``"eer"``, ``"far_1e-2"`` or ``"far_1e-3"``: the threshold calibrated at export on
                validation pairs with this variant (default: the manifest's ``default_operating_point``).

        Returns:
            ``Verification`` with ``(N,)`` scores and decisions.
        """
        score = self.manifest.score
        if threshold is not None:
            if operating_point is not None:
                raise InputError("pass threshold or operating_point, not both")
            t = float(threshold)
            if (problem := score.check_threshold(t)) is not None:
                raise InputError(problem)
            op = None
        else:
            op = operating_point or self.manifest.default_operating_point
            t = self.threshold(op)
        e1 = self._pair[0].embed(x1, batch_size)
        e2 = self._pair[1].embed(x2, batch_size)
        if e1.shape[0] != e2.shape[0]:
            raise InputError(f"verify needs as many x1 as x2 inputs, got {e1.shape[0]} and {e2.shape[0]}; pair them up")
        scores = self.distance(e1, e2)
        return Verification(
            scores=scores,
            same=score.is_match(scores, t),
            threshold=t,
            operating_point=op,
            higher_is_closer=score.higher_is_closer,
            unsupported=None if op is None else self.unsupported_threshold(op),
        )

    def unsupported_threshold(self, operating_point: str) -> str | None:
        """One line when this variant's ``operating_point`` threshold is flagged unsupported by the bundle's
        calibration (too few identities or pairs, ``eval.support``): why, and how to calibrate; else None."""
        s = self.manifest.variants[self.variant].support.get(operating_point)
        if s is None or s.get("supported", True):
            return None
        return (
            f"threshold {operating_point} is not supported by the bundle's validation set ({s.get('reason') or 'too few pairs'}), "
            f"so this decision is indicative only; calibrate on labelled data from your deployment: "
            f"siamese calibrate {self.path} DATA/ (one sub-folder per identity)"
        )

    # ---- pickling: the load arguments travel, the sessions are rebuilt -------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The load arguments (bundle path, the resolved variant, providers, ...), not the ONNX Runtime sessions:
        a worker that unpickles the model loads the bundle again from the same absolute path (its hashes checked again)."""
        return {**self._args, "bundle_dir": os.path.abspath(self._args["bundle_dir"])}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        fmt = f", model_format={self.model_format!r}" if self.model_format != "onnx" else ""
        return f"SiameseModel({str(self.path)!r}, variant={self.variant!r}{fmt}, providers={self.providers}, dim={self.embedding_dim}, metric={self.manifest.metric!r})"


def load(
    bundle_dir: str | os.PathLike,
    variant: str = "auto",
    providers: Sequence[_providers.ProviderSpec] | str | None = None,
    threads: int | None = None,
    verify: bool = True,
    batch_sizes: Sequence[int] | None = None,
    trusted_keys: Sequence[str | os.PathLike] | None = None,
    model_format: str = "onnx",
) -> SiameseModel:
    """Load a bundle made by ``siamese-export``.

    Args:
        bundle_dir: the bundle directory (holds ``manifest.json``).
        variant: ``"auto"`` (the bundle's profile for the first provider, see ``siamese_sdk.profiles``:
            int8 on CPU, fp16 on CUDA/TensorRT, ... when shipped, else fp32), or a shipped variant name
            (``fp32``, ``int8``, ``fp16``, ``fp16-fixed``, ``w8a16-fixed``).
        providers: ``None`` for CPU, or names in priority order: friendly (``"cuda"``, ``"cpu"``) or ONNX
            Runtime's, optionally ``(name, options)`` tuples (friendly names get their options checked,
            ``providers.OPTION_SPECS``). A provider that is missing or that the session falls back from
            raises ``ProviderError``; never a silent CPU fallback.
        threads: intra-op threads (None: ONNX Runtime's default, all physical cores).
        verify: check every file's sha256 against the manifest (keep True outside debugging).
        batch_sizes: the batch sizes you will run, for TensorRT's shape profile (min .. max; default
            ``(1, 64)``); ``embed`` then never runs more than ``max(batch_sizes)`` at once.
        trusted_keys: public keys (``.pub`` files or directories of them) one of which must have signed the
            bundle (``manifest.sig``, ``siamese sign``); refused in one line naming the key id otherwise. None:
            the keys configured by ``SIAMESE_TRUSTED_KEYS`` or ``~/.config/siamese/trusted_keys/``
            (``siamese_sdk.security.trusted_keys_from_env``), and no signature check when none is; ``[]``
            refuses every bundle. Needs the ``signing`` extra and ``verify=True``. See ``docs/security.md``.
        model_format: ``"onnx"`` (default), or ``"ort"``: run the ORT-format copies of the variant and heads that a
            ``--profile mobile`` export ships (manifest ``ort``; ``BundleError`` when the bundle has none). They give
            the ``.onnx`` embeddings (int8 bit-equal, fp32 within 1e-5, ``docs/results/ort-format.md``) and keep
            the variant's fingerprint.

    Raises:
        BundleError, ProviderError, InputError, ExtraMissingError (no onnxruntime build installed; trusted
        keys without the ``signing`` extra).
    """
    return SiameseModel(
        bundle_dir,
        variant=variant,
        providers=providers,
        threads=threads,
        verify=verify,
        batch_sizes=batch_sizes,
        trusted_keys=trusted_keys,
        model_format=model_format,
    )


def _trusted_keys(trusted_keys: Sequence[str | os.PathLike] | None) -> list[str | os.PathLike] | None:
    """The keys to check a bundle against: the given ones (``[]`` too: it refuses everything), else the configured
    ones, else None (no check)."""
    if trusted_keys is not None:
        return [trusted_keys] if isinstance(trusted_keys, (str, os.PathLike)) else list(trusted_keys)
    from ..security.signing import trusted_keys_from_env

    return trusted_keys_from_env() or None
