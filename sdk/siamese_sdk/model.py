"""``SiameseModel``: a loaded bundle that embeds, measures distances and makes match decisions."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import profiles as _profiles
from . import providers as _providers
from .branches import branch_view
from .bundle import OPERATING_POINTS, Manifest, Preprocess, read_manifest
from .errors import BundleError, InputError, ProviderError
from .inputs import ImageInput, InputSpec
from .preprocess import ImageLike, to_batch

if TYPE_CHECKING:
    import onnxruntime as ort

Inputs = np.ndarray | ImageLike | Sequence[ImageLike]
#: DLPack device types (dlpack.h): where a ``__dlpack__`` tensor lives.
_DLPACK_CPU, _DLPACK_CUDA = 1, 2


def check_embeddings(e: Any, dim: int, name: str) -> np.ndarray:
    """``e`` as a contiguous ``(N, dim) float32`` array; ``InputError`` naming ``name`` for anything else."""
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
    e = np.ascontiguousarray(e, dtype=np.float32)
    if not np.all(np.isfinite(e)):
        raise InputError(f"{name}: embeddings contain NaN or Inf; clean them first")
    return e


@dataclass(frozen=True)
class Verification:
    """Result of ``verify`` for N pairs.

    Attributes:
        scores: ``(N,) float32`` head scores (distances unless ``higher_is_closer``).
        same: ``(N,) bool`` the decisions: score on the close side of ``threshold``, inclusive.
        threshold: the threshold used.
        operating_point: the manifest operating point it came from, or None for a caller's threshold.
        higher_is_closer: score direction.
    """

    scores: np.ndarray
    same: np.ndarray
    threshold: float
    operating_point: str | None
    higher_is_closer: bool

    def __len__(self) -> int:
        return int(self.scores.shape[0])


class SiameseModel:
    """A bundle loaded into ONNX Runtime sessions. Use ``siamese_sdk.load`` to make one.

    One instance is safe to share between threads: it holds no mutable state after construction, and
    ONNX Runtime sessions accept concurrent ``run`` calls.
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike,
        variant: str = "auto",
        providers: Sequence[_providers.ProviderSpec] | str | None = None,
        threads: int | None = None,
        verify: bool = True,
        batch_sizes: Sequence[int] | None = None,
        _manifest: Manifest | None = None,
    ) -> None:
        ort = self._ort = _providers.import_onnxruntime()  # refuses a broken mix of onnxruntime builds first
        self.path = Path(bundle_dir)
        if not verify and _manifest is None:
            warnings.warn(f"loading {self.path} WITHOUT checking file hashes: a tampered model would run", stacklevel=3)
        self.manifest: Manifest = _manifest or read_manifest(self.path, verify=verify)
        #: the encoder's input spec with its bundle files loaded (``siamese_sdk.inputs``): ``embed`` dispatches on
        #: it. None for a pseudo-Siamese bundle: each branch model (``branch=``) has its own.
        self.input: InputSpec | None = None if self.manifest.branches else self.manifest.input_spec.open(self.path)
        requested = _providers.resolve(providers)
        self.variant = self._pick_variant(variant, requested)
        #: pseudo-Siamese: one model per branch (its encoder, the shared heads); empty for one-encoder bundles
        self._branches: dict[str, SiameseModel] = {
            name: SiameseModel(self.path, self.variant, providers, threads, verify, batch_sizes, _manifest=branch_view(self.manifest, name))
            for name in sorted(self.manifest.branches)
        }
        if self._branches:
            first = self._branches[min(self._branches)]
            for attr in ("_pairwise", "_matrix", "_pairwise_in", "_matrix_in", "providers", "batch_sizes", "_fixed_batch", "_max_run"):
                setattr(self, attr, getattr(first, attr))
            return
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InputError(f"threads={threads!r} invalid; pass a positive int or None for all cores")
        self._fixed_batch: int | None = self.manifest.variants[self.variant].batch
        self.batch_sizes: tuple[int, ...] = self._check_batch_sizes(batch_sizes)
        requested = _providers.apply_presets(
            requested,
            _providers.SessionContext(
                fingerprint=self.manifest.fingerprint(self.variant),
                variant=self.variant,
                input_name=self.manifest.input_name,
                input_chw=self.manifest.preprocess.shape if self.manifest.preprocess is not None else None,
                batch_sizes=self.batch_sizes,
                fixed_batch=self._fixed_batch,
            ),
        )
        on_trt = any(name == "TensorrtExecutionProvider" for name, _ in requested)
        #: largest batch one encoder run gets: the fixed batch, TensorRT's profile maximum, or no limit
        self._max_run: int | None = self._fixed_batch or (max(self.batch_sizes) if on_trt else None)
        _providers.preload_cuda_libraries(requested)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        m = self.manifest
        self._encoder = self._session(m.variants[self.variant].file, opts, requested, m.variants[self.variant].disabled_optimizers)
        # The heads have dynamic shapes (N changes per call): TensorRT would build an engine per shape, so
        # they run on the other requested providers (CUDA, then CPU, for a TensorRT list).
        head_providers = [p for p in requested if p[0] != "TensorrtExecutionProvider"] or [("CPUExecutionProvider", {})]
        self._pairwise = self._session(m.heads["pairwise"], opts, head_providers)
        self._matrix = self._session(m.heads["matrix"], opts, head_providers)
        self.providers: list[str] = self._encoder.get_providers()
        _providers.check_no_fallback(requested, self.providers)
        self._check_graphs()

    # ---- construction helpers -------------------------------------------------------------------
    def _pick_variant(self, variant: str, requested: list[tuple[str, dict[str, Any]]]) -> str:
        available = sorted(self.manifest.variants)
        if variant == "auto":
            return _profiles.auto_variant(self.manifest, requested[0][0])
        if variant not in self.manifest.variants:
            raise BundleError(f"variant {variant!r} not in this bundle; available: {available} or 'auto'")
        return variant

    def _check_batch_sizes(self, batch_sizes: Sequence[int] | None) -> tuple[int, ...]:
        if batch_sizes is None:
            return (self._fixed_batch,) if self._fixed_batch else _providers.DEFAULT_BATCH_SIZES
        sizes = tuple(batch_sizes) if isinstance(batch_sizes, (list, tuple)) else (batch_sizes,)
        if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in sizes):
            raise InputError(f"batch_sizes={batch_sizes!r} invalid; pass positive ints, e.g. (1, 64)")
        if self._fixed_batch and set(sizes) != {self._fixed_batch}:
            raise InputError(
                f"variant {self.variant} has a fixed batch of {self._fixed_batch}; drop batch_sizes or load a dynamic variant"
            )
        return tuple(sorted(set(sizes)))

    def _session(self, name: str, opts: Any, requested: list, disabled: Sequence[str] = ()) -> ort.InferenceSession:
        path = self.path / name
        try:
            return self._ort.InferenceSession(str(path), sess_options=opts, providers=requested, disabled_optimizers=list(disabled))
        except Exception as e:  # ORT raises its own untyped errors for invalid graphs
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            accelerators = [p for p, _ in requested if p != "CPUExecutionProvider"]
            if accelerators and self._loads_on_cpu(path, opts):  # the graph is fine: the provider (or its options) is not
                raise ProviderError(
                    f"{', '.join(accelerators)} could not open {name} ({first[:200]}); check the provider options and run siamese doctor"
                ) from None
            raise BundleError(f"{name} is not a loadable ONNX model ({first[:200]}); re-export the bundle") from None

    def _loads_on_cpu(self, path: Path, opts: Any) -> bool:
        try:
            self._ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception:  # any failure means the graph itself is at fault
            return False
        return True

    def _check_graphs(self) -> None:
        m = self.manifest
        inp = self._encoder.get_inputs()
        out = self._encoder.get_outputs()
        self.input.check_encoder(inp)
        if self._fixed_batch is not None and inp[0].shape[0] != self._fixed_batch:
            raise BundleError(f"encoder batch axis is {inp[0].shape[0]}, manifest says fixed {self._fixed_batch}; re-export")
        if len(out) != 1 or out[0].shape[-1] != m.embedding_dim:
            raise BundleError(
                f"encoder emits {out[0].shape[-1] if out else '?'}-d embeddings, manifest says {m.embedding_dim}; re-export"
            )
        for head in (self._pairwise, self._matrix):
            dims = [i.shape[-1] for i in head.get_inputs()]
            if len(dims) != 2 or any(d != m.embedding_dim for d in dims):
                raise BundleError(f"head expects {dims}-d embeddings, encoder emits {m.embedding_dim}; the bundle mixes models")
        self._encoder_in = inp[0].name
        self._encoder_out = out[0].name
        self._pairwise_in = [i.name for i in self._pairwise.get_inputs()]
        self._matrix_in = [i.name for i in self._matrix.get_inputs()]

    # ---- public API ---------------------------------------------------------------------------------
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
        return tuple(self._branches)

    def _branch(self, branch: str | None) -> SiameseModel | None:
        """The branch model that ``branch=`` selects (None: this model's own encoder); ``InputError`` when it does not fit."""
        if not self._branches:
            if branch is not None:
                raise InputError(f"branch={branch!r} given, but this bundle has one shared encoder; drop branch=")
            return None
        if branch is None:
            raise InputError(f"this pseudo-Siamese bundle has branches {list(self._branches)}; pass branch='a' or branch='b'")
        if branch not in self._branches:
            raise InputError(f"branch {branch!r} unknown; this bundle has {list(self._branches)}")
        return self._branches[branch]

    def input_spec(self, branch: str | None = None) -> InputSpec:
        """The input spec (``siamese_sdk.inputs``) of this model's encoder, or of ``branch``'s for a pseudo-Siamese bundle."""
        return (self._branch(branch) or self).input

    def preprocess_spec(self, branch: str | None = None) -> Preprocess:
        """The ``Preprocess`` of this model's image encoder, or of ``branch``'s for a pseudo-Siamese bundle."""
        view = self._branch(branch) or self
        if view.manifest.preprocess is None:
            raise InputError(f"this is a {view.input.kind} encoder, it has no image preprocessing")
        return view.manifest.preprocess

    def preprocess(self, images: ImageLike | Sequence[ImageLike], branch: str | None = None) -> np.ndarray:
        """Image paths or PIL images to a ``(N, C, H, W) float32`` batch, exactly as in training
        (``branch``: which branch's input spec, for a pseudo-Siamese bundle)."""
        if (view := self._branch(branch)) is not None:
            return view.preprocess(images)
        if not isinstance(self.input, ImageInput):
            raise InputError(f"preprocess is for image bundles; this is a {self.input.kind} bundle: pass text to embed()")
        if isinstance(images, (str, os.PathLike)) or not isinstance(images, Sequence):
            images = [images]  # one path or one PIL image
        return to_batch(list(images), self.input.preprocess)

    def embed(
        self, inputs: Inputs | str | Sequence[str] | Sequence[Sequence[str]], batch_size: int = 64, branch: str | None = None
    ) -> np.ndarray:
        """Embed images, texts or dialogs, as the bundle's input kind (``self.input.kind``) says.

        Args:
            inputs: image bundles: a ``(N, C, H, W)`` float array already preprocessed as the manifest says,
                or one image path / PIL image, or a sequence of them (preprocessed here). Text bundles: one
                ``str`` or a sequence of them. Dialog bundles: a sequence of dialogs, each a sequence of turns
                (``str``). Texts are tokenised with the bundle's tokenizer (see ``siamese_sdk.tokenizer``).
            batch_size: items per encoder call.
            branch: ``"a"`` or ``"b"``: the encoder of a pseudo-Siamese bundle (required there, refused elsewhere);
                each branch takes its own input kind.

        Returns:
            ``(N, D) float32`` embeddings (unit length when ``manifest.normalized``), in input order.

        Raises:
            InputError: empty batch, wrong rank/shape/dtype, NaN/Inf, unreadable image, a non-str or empty text.
        """
        if (view := self._branch(branch)) is not None:
            return view.embed(inputs, batch_size)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} invalid; pass a positive int")
        prepared = self.input.prepare(inputs)
        step = batch_size if self._max_run is None else min(batch_size, self._max_run)
        out = np.empty((len(prepared), self.embedding_dim), dtype=np.float32)
        for rows, feed in self.input.feeds(prepared, step):
            out[rows] = self._run_encoder(feed)
        return out

    def _run_encoder(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One encoder run; a fixed-batch variant gets the chunk padded with zeros, and the pad rows dropped."""
        n, fixed = next(iter(feed.values())).shape[0], self._fixed_batch
        if fixed is not None and n < fixed:
            feed = {k: np.concatenate([x, np.zeros((fixed - n, *x.shape[1:]), dtype=x.dtype)]) for k, x in feed.items()}
        return self._encoder.run([self._encoder_out], feed)[0][:n]

    @property
    def device(self) -> tuple[str, int]:
        """``(device_type, device_id)`` where ``embed_device`` keeps its output: ``("cuda", i)`` when CUDA or
        TensorRT runs the encoder, else ``("cpu", 0)`` (OpenVINO, CoreML, QNN take and return host memory)."""
        if self._branches:
            return self._branches[min(self._branches)].device
        first = self.providers[0]
        if first in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            options = self._encoder.get_provider_options().get(first, {})
            return ("cuda", int(options.get("device_id", 0) or 0))
        return ("cpu", 0)

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
        if (view := self._branch(branch)) is not None:
            return view.embed_device(x)
        if not isinstance(self.input, ImageInput):
            raise InputError(f"embed_device takes image batches; this is a {self.input.kind} bundle: use embed()")
        ort = self._ort
        dev, dev_id = self.device
        io = self._encoder.io_binding()
        keep: list[Any] = []  # whatever the binding points into stays referenced until the run returns
        if not isinstance(x, (np.ndarray, ort.OrtValue)) and hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__"):
            kind = int(x.__dlpack_device__()[0])
            if kind == _DLPACK_CPU:
                x = np.from_dlpack(x)
            elif kind == _DLPACK_CUDA and hasattr(ort.OrtValue, "from_dlpack"):
                self._require_cuda_session(dev)
                x = ort.OrtValue.from_dlpack(x)
        if isinstance(x, np.ndarray):
            x = self._check_array(x)
            self._check_device_batch(x.shape[0])
            value = ort.OrtValue.ortvalue_from_numpy(x, dev, dev_id)
            keep += [x, value]
            io.bind_ortvalue_input(self._encoder_in, value)
        elif isinstance(x, ort.OrtValue):
            self._check_device_shape(list(x.shape()), x.data_type())
            keep.append(x)
            io.bind_ortvalue_input(self._encoder_in, x)
        elif hasattr(x, "__cuda_array_interface__"):
            self._require_cuda_session(dev)
            cai = x.__cuda_array_interface__
            shape = [int(d) for d in cai["shape"]]
            self._check_device_shape(shape, "tensor(float)" if cai.get("typestr") == "<f4" else str(cai.get("typestr")))
            if cai.get("strides") not in (None, tuple(int(np.prod(shape[i + 1 :])) * 4 for i in range(len(shape)))):
                raise InputError("embed_device needs a C-contiguous CUDA array; call .contiguous() / cupy.ascontiguousarray first")
            keep.append(x)
            io.bind_input(self._encoder_in, "cuda", dev_id, np.float32, shape, int(cai["data"][0]))
        else:
            raise InputError(
                f"embed_device takes an OrtValue, a DLPack or CUDA-array tensor, or a numpy array, got {type(x).__name__}; "
                "use embed() for image paths"
            )
        io.bind_output(self._encoder_out, dev, dev_id)
        io.synchronize_inputs()
        self._encoder.run_with_iobinding(io)
        io.synchronize_outputs()
        return io.get_outputs()[0]

    def _require_cuda_session(self, dev: str) -> None:
        if dev != "cuda":
            raise InputError(
                f"input is on a CUDA device but the encoder runs on {self.providers[0]}; load with providers=['cuda'] or pass host memory"
            )

    def _check_device_shape(self, shape: list[int], dtype: str) -> None:
        want = self.manifest.preprocess.shape
        if dtype != "tensor(float)":
            raise InputError(f"embed_device expects float32 inputs, got {dtype}; convert on the device first (x.float())")
        if len(shape) != 4 or tuple(shape[1:]) != want or shape[0] < 1:
            raise InputError(f"embed_device expects shape (N, {want[0]}, {want[1]}, {want[2]}) with N >= 1, got {tuple(shape)}")
        self._check_device_batch(shape[0])

    def _check_device_batch(self, n: int) -> None:
        if self._fixed_batch is not None and n != self._fixed_batch:
            raise InputError(
                f"variant {self.variant} runs exactly {self._fixed_batch} input(s) per call, got {n}; use embed() (it pads) or a dynamic variant"
            )
        if self._max_run is not None and n > self._max_run:
            raise InputError(f"batch of {n} exceeds the TensorRT profile maximum {self._max_run}; split it or load with batch_sizes=(1, {n})")

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Pairwise scores of two ``(N, D)`` embedding arrays, row by row: ``(N,) float32``."""
        a = self._as_embeddings(a, "a")
        b = self._as_embeddings(b, "b")
        if a.shape[0] != b.shape[0]:
            raise InputError(
                f"distance needs equal batch sizes, got {a.shape[0]} and {b.shape[0]}; use distance_matrix for N x M"
            )
        return self._pairwise.run(None, dict(zip(self._pairwise_in, (a, b), strict=True)))[0]

    def distance_matrix(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Scores of every row of ``a`` ``(N, D)`` against every row of ``b`` ``(M, D)``: ``(N, M) float32``."""
        a = self._as_embeddings(a, "a")
        b = self._as_embeddings(b, "b")
        return self._matrix.run(None, dict(zip(self._matrix_in, (a, b), strict=True)))[0]

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
        if threshold is not None:
            if operating_point is not None:
                raise InputError("pass threshold or operating_point, not both")
            t = float(threshold)
            if not np.isfinite(t):
                raise InputError(f"threshold {threshold} is not finite; pass a number")
            if self.manifest.metric == "cosine" and not 0.0 <= t <= 2.0:
                raise InputError(f"threshold {t} outside the cosine distance range [0, 2]; pick a threshold in range")
            if self.manifest.metric == "learned" and not 0.0 <= t <= 1.0:
                raise InputError(f"threshold {t} outside [0, 1], but the learned head's scores are probabilities; pick one in range")
            if self.manifest.metric == "euclidean" and t < 0:
                raise InputError(f"threshold {t} below 0, but Euclidean distances are >= 0; pick a threshold >= 0")
            op = None
        else:
            op = operating_point or self.manifest.default_operating_point
            t = self.threshold(op)
        two = bool(self._branches)  # pseudo-Siamese: x1 goes through branch a, x2 through branch b
        e1 = self.embed(x1, batch_size, branch="a" if two else None)
        e2 = self.embed(x2, batch_size, branch="b" if two else None)
        if e1.shape[0] != e2.shape[0]:
            raise InputError(f"verify needs as many x1 as x2 inputs, got {e1.shape[0]} and {e2.shape[0]}; pair them up")
        scores = self.distance(e1, e2)
        hic = self.manifest.higher_is_closer
        same = scores >= t if hic else scores <= t
        return Verification(scores=scores, same=same, threshold=t, operating_point=op, higher_is_closer=hic)

    # ---- input checks -------------------------------------------------------------------------------
    def _check_array(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(self.input, ImageInput):
            raise InputError(f"this is a {self.input.kind} bundle; pass text to embed(), not arrays")
        return self.input.check_array(x)

    def _as_embeddings(self, e: np.ndarray, name: str) -> np.ndarray:
        return check_embeddings(e, self.embedding_dim, name)

    def __repr__(self) -> str:
        return f"SiameseModel({str(self.path)!r}, variant={self.variant!r}, providers={self.providers}, dim={self.embedding_dim}, metric={self.manifest.metric!r})"


def load(
    bundle_dir: str | os.PathLike,
    variant: str = "auto",
    providers: Sequence[_providers.ProviderSpec] | str | None = None,
    threads: int | None = None,
    verify: bool = True,
    batch_sizes: Sequence[int] | None = None,
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

    Raises:
        BundleError, ProviderError, InputError, ExtraMissingError (no onnxruntime build installed).
    """
    return SiameseModel(bundle_dir, variant=variant, providers=providers, threads=threads, verify=verify, batch_sizes=batch_sizes)
