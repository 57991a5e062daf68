"""What a model kind plugs into the export pipeline: its encoders (``Part``) and a ``Source`` of hooks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime as ort
import torch
from siamese_sdk.errors import BundleError, InputError
from siamese_sdk.format.inputs import InputSpec
from siamese_sdk.format.manifest import HEADS
from siamese_trainer.models.backbones import BackboneError

from ..onnx.graphs import INPUT_NAME, build_head


@dataclass
class Part:
    """One encoder of a bundle: how to export it and check parity, and the inputs it is measured on.

    ``parity(path) -> (min cosine ONNX vs torch, text appended to the parity log)``; ``inputs``: what
    ``SiameseModel.embed`` takes for the validation items; ``feed``: the timing inputs of the speed gate
    (images, resized to 64, or a ready feed of 64 items); ``metadata``: the ``siamese.*`` extras of its
    ONNX files; ``input_spec``: its input, for two-branch manifests.
    """

    export: Callable[[Path], None]
    parity: Callable[[Path], tuple[float, str]]
    inputs: Any
    feed: np.ndarray | dict[str, np.ndarray]
    calibration: Callable[[], np.ndarray]
    metadata: dict[str, object]
    input_spec: InputSpec | None = None
    _calibrated: np.ndarray | None = field(default=None, repr=False)

    def calibration_images(self) -> np.ndarray:
        """``calibration()``, computed once: ``(N, ...) float32``."""
        if self._calibrated is None:
            self._calibrated = self.calibration()
        return self._calibrated


class Source:
    """A model kind's side of the export; ``pipeline.run`` calls the hooks in stage order.

    Set by the constructor: ``encoders`` (None -> the one encoder, or branch -> its encoder), ``metric``,
    ``dim``, ``normalized``, ``same`` (``(P,) bool`` labels of the validation pairs ``scores`` returns).
    """

    export_log: ClassVar[str] = "exporting the encoder to ONNX (fp32) and checking parity with torch"
    pairs_log: ClassVar[str] = "all validation pairs"
    auc_label: ClassVar[str] = ""
    #: variant name -> the ``variants.VARIANTS`` row this kind builds it with
    variant_rows: ClassVar[dict[str, str]] = {"int8": "int8"}

    encoders: dict[str | None, Part]
    metric: str
    dim: int
    normalized: bool
    same: np.ndarray
    #: ``(P,)`` class of each validation pair's two sides (the bootstrap over identities); None: pairs without identities
    pair_classes: tuple[np.ndarray, np.ndarray] | None = None
    #: the validation CSV's layout (``pairs``, ``triplets``, ``labelled``); None: class folders
    csv_layout: str | None = None
    #: the validation image files, which the compatibility stage embeds with the old bundle too; None: the kind has
    #: no image files to compare (a CSV, text or two-branch run)
    paths: list[str] | None = None
    #: sentences for the manifest's ``notes`` decided while the source was built (e.g. the ``--tta auto`` gate)
    notes: tuple[str, ...] = ()

    def scores(self, model: Any, embeddings: dict[str | None, np.ndarray]) -> np.ndarray:
        """``(P,)`` scores of the validation pairs from each encoder's ``(N, D)`` validation embeddings."""
        raise NotImplementedError

    def write_heads(self, root: Path) -> None:
        """Write ``head.<kind>.onnx`` (and any other non-encoder file) into ``root``."""
        for kind in HEADS:
            onnx.save(build_head(self.metric, kind, self.dim), str(root / HEADS[kind]))

    def extra_files(self) -> list[str]:
        """Files besides encoders and heads the manifest lists (hashed)."""
        return []

    def manifest_input(self) -> dict[str, Any]:
        """The manifest's input fields (``input_name``, ``preprocess``, ``input_spec``) of a one-encoder bundle."""
        raise NotImplementedError

    def validation(self, parity: dict[str | None, float]) -> dict:
        """The manifest's ``validation`` section."""
        raise NotImplementedError

    def provenance(self) -> dict:
        """The manifest's ``provenance`` section."""
        raise NotImplementedError


@contextlib.contextmanager
def rebuild_errors(path: Path) -> Iterator[None]:
    """Turn what a checkpoint that does not fit this version raises while rebuilding into one-line ``BundleError``s."""
    try:
        yield
    except BackboneError as e:  # a user backbone whose module is not importable here (an InputError)
        raise BundleError(f"{path}: {e}") from None
    except (BundleError, InputError):
        raise
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise BundleError(
            f"{path} lacks or mismatches what export needs ({type(e).__name__}: {str(e)[:120]}); re-train with this version"
        ) from None


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` embedding arrays: ``(N,) float64``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1) + 1e-12)


@torch.no_grad()
def image_parity(encoder: torch.nn.Module, onnx_path: Path, images: np.ndarray) -> float:
    """Min cosine of ONNX Runtime fp32 vs torch on ``images (N, C, H, W) float32``."""
    ref = encoder(torch.from_numpy(images)).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: images})[0]
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
    return float(cos.min())
