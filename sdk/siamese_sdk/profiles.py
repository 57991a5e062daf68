"""Deployment profiles: the encoder variant and providers each target runs, and ``variant="auto"``.

A profile names a deployment target. ``siamese-export --profile NAME`` builds the variants the target
needs and records its choice in ``manifest.json`` (``profiles.NAME = {variant, providers, notes}``);
``siamese_sdk.load(variant="auto")`` reads it back for the **first** requested provider.

=========  ==========================  ==============  ==========================================================
profile    first provider              variant         why
=========  ==========================  ==============  ==========================================================
cpu        CPUExecutionProvider        ``int8``        static QDQ, uint8 activations / int8 per-channel weights
                                                       (VNNI / dot-product kernels); gated on accuracy and speed
cuda       CUDAExecutionProvider       ``fp16``        the CUDA EP runs the graph's types as given: fp16 uses
                                                       tensor cores and halves memory traffic
tensorrt   TensorrtExecutionProvider   ``fp16``        run with ``trt_fp16_enable`` so TensorRT keeps fp16
openvino   OpenVINOExecutionProvider   ``int8``        OpenVINO reads QDQ graphs as int8 (CPU, iGPU, NPU)
coreml     CoreMLExecutionProvider     ``fp16-fixed``  fp16 with a static input shape: what the Neural Engine runs
qnn        QNNExecutionProvider        ``w8a16-fixed`` static shape, uint16 activations / int8 weights QDQ: the
                                                       Hexagon NPU needs quantised static graphs; 16-bit
                                                       activations keep accuracy close to fp32
mobile     CPUExecutionProvider        ``int8``        as cpu, plus ORT-format (``.ort``) copies of fp32, int8
                                                       and the heads and the reduced build's operator list
=========  ==========================  ==============  ==========================================================

Every profile keeps ``fp32`` too: it is the reference, the fallback when a derived variant fails its
accuracy gate (the profile then names ``fp32`` and its notes say why), and what any provider can run.
Without a profile for the provider (bundles from before profiles, or targets not exported),
``auto`` takes the first shipped variant of ``FALLBACK[provider]``, else ``fp32``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .format.manifest import Manifest

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
COREML = "CoreMLExecutionProvider"
QNN = "QNNExecutionProvider"


@dataclass(frozen=True)
class Target:
    """A deployment target: the provider that identifies it, the providers to load with, the variant it wants."""

    name: str
    provider: str
    providers: tuple[str, ...]
    variant: str
    notes: str
    #: the target also ships ORT-format copies of the graphs (``siamese_sdk.format.entries.OrtFiles``)
    ort: bool = False


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "cpu",
            CPU,
            ("cpu",),
            "int8",
            "int8 static QDQ (uint8 activations, int8 per-channel weights) when it passes the accuracy and CPU speed gates, else fp32",
        ),
        Target(
            "cuda", CUDA, ("cuda", "cpu"), "fp16", "fp16 weights and activations, float32 inputs/outputs; fp32 kept as reference"
        ),
        Target(
            "tensorrt",
            TENSORRT,
            ("tensorrt", "cuda", "cpu"),
            "fp16",
            "fp16 graph run with trt_fp16_enable; engines cached per bundle fingerprint; declare batch sizes with load(batch_sizes=...)",
        ),
        Target(
            "openvino", OPENVINO, ("openvino", "cpu"), "int8", "int8 static QDQ, which OpenVINO compiles to int8 (CPU, GPU, NPU)"
        ),
        Target(
            "coreml",
            COREML,
            ("coreml", "cpu"),
            "fp16-fixed",
            "fp16 with a fixed input shape (batch fixed; embed pads the last chunk) for the Neural Engine",
        ),
        Target(
            "qnn",
            QNN,
            ("qnn", "cpu"),
            "w8a16-fixed",
            "fixed input shape, QDQ with uint16 activations and int8 per-channel weights (opset 21) for the Hexagon NPU (HTP)",
        ),
        Target(
            "mobile",
            CPU,
            ("cpu",),
            "int8",
            "ORT-format files (.ort, Fixed optimisation) of the fp32 and int8 encoders and the heads plus required_operators.config for a "
            "reduced ONNX Runtime Mobile build; load(model_format='ort'); int8 kept even when slower than fp32 here",
            ort=True,
        ),
    )
}

#: ONNX Runtime provider -> profile name.
PROFILE_OF_PROVIDER: dict[str, str] = {t.provider: t.name for t in TARGETS.values() if not t.ort}

#: variants ``auto`` tries, in order, for a provider the bundle has no profile for.
FALLBACK: dict[str, tuple[str, ...]] = {
    CPU: ("int8", "fp32"),
    CUDA: ("fp16", "fp32"),
    TENSORRT: ("fp16", "fp32"),
    COREML: ("fp16-fixed", "fp16", "fp32"),
    OPENVINO: ("int8", "fp32"),
    QNN: ("w8a16-fixed", "fp32"),
}


def variants_for(profiles: list[str] | tuple[str, ...]) -> list[str]:
    """The derived variants (besides fp32) that ``profiles`` need, in a stable order."""
    wanted = {TARGETS[p].variant for p in profiles}
    return [v for v in ("int8", "fp16", "fp16-fixed", "w8a16-fixed") if v in wanted]


def auto_variant(manifest: Manifest, provider: str) -> str:
    """The variant ``variant="auto"`` loads when ``provider`` (an ONNX Runtime name) comes first.

    The bundle's profile for that provider when it has one; else the first shipped variant of
    ``FALLBACK[provider]``; else fp32 (or the manifest's default when a bundle has no fp32).
    """
    name = PROFILE_OF_PROVIDER.get(provider)
    if name is not None and name in manifest.profiles:
        return manifest.profiles[name].variant
    for v in FALLBACK.get(provider, ()):
        if v in manifest.variants:
            return v
    return "fp32" if "fp32" in manifest.variants else manifest.default_variant
