"""``siamese-export``: checkpoint -> deployable bundle (fp32 + gated variants per profile, heads, manifest)."""

from __future__ import annotations

from pathlib import Path

import click
from siamese_sdk import __version__
from siamese_sdk.cli.common import FriendlyCommand, report, threshold_support_option
from siamese_sdk.errors import require_extra

from .options import DEFAULT_INT8_WEIGHT_BITS, INT8_WEIGHT_BITS


@click.command(
    cls=FriendlyCommand,
    interrupted="interrupted; nothing was written (the bundle is moved into place only when complete): rerun the command",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="siamese-export")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="CHECKPOINT_OR_RUN_DIR...")
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Bundle directory to write (default: bundle/ beside the checkpoint). An existing bundle is replaced atomically.",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path),
    default=None,
    help="Image checkpoints: images for static int8 calibration (default: the checkpoint's training images). "
    "Text and dialog checkpoints take none: their int8 is dynamic.",
)
@click.option(
    "--validation",
    type=click.Path(path_type=Path),
    default=None,
    help="Validation data for thresholds and the int8 gate: class folders unseen in training, or for a CSV run a CSV "
    "of the same layout (default: the checkpoint's validation classes or held-out rows).",
)
@click.option("--int8/--no-int8", default=True, show_default=True, help="Build (and gate) the int8 variant.")
@click.option(
    "--calibration-images",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Image checkpoints: how many calibration images static int8 reads.",
)
@click.option(
    "--int8-weight-bits",
    type=click.Choice([str(b) for b in INT8_WEIGHT_BITS]),
    default=str(DEFAULT_INT8_WEIGHT_BITS),
    show_default=True,
    help="Static int8 weights in 7 or 8 bits. 7: the same results on every x86 CPU (8-bit weights saturate in the "
    "integer kernels of CPUs without VNNI), ARM and the browser; 8: a finer grid, exact only where the CPU has VNNI.",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="NAME",
    help="Deployment target(s), repeatable or a comma list: cpu (int8), cuda, tensorrt (fp16), openvino (int8), "
    "coreml (fp16, fixed shape), qnn (uint16/int8 QDQ, fixed shape), mobile (int8 plus ORT-format .ort files of fp32, "
    "int8 and the heads for ONNX Runtime Mobile). Default: cpu. fp32 is always kept.",
)
@click.option(
    "--fixed-batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batch size of the fixed-shape variants (coreml, qnn profiles).",
)
@click.option(
    "--tta",
    type=click.Choice(["auto", "none", "shift5", "shift9"]),
    default="auto",
    show_default=True,
    help="Test-time augmentation inside the encoder graph: average the embeddings of the image and its "
    "one-pixel shifts (5 or 9 views; that many times the cost per image). auto: measure each on the validation "
    "pairs and ship a shifted one only if it lowers the EER by >= 0.1 points and 5 %, in >= 99 % of bootstrap "
    "resamples of the validation identities (image checkpoints). none: one view.",
)
@click.option(
    "--sign",
    "sign_key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="KEY",
    help="Sign the manifest with this private key (NAME.key from siamese keygen; needs the signing extra). "
    "Apps then load the bundle with trusted_keys=[NAME.pub].",
)
@threshold_support_option("the validation set")
@click.option(
    "--compatible-with",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="OLD_BUNDLE",
    help="For a run trained with --compatible-with / --map-from: the old model's bundle to measure against (default: "
    "the bundle it was trained against, or bundle/ beside the old checkpoint).",
)
def main(
    checkpoints: tuple[Path, ...],
    out: Path | None,
    calibration: Path | None,
    validation: Path | None,
    int8: bool,
    calibration_images: int,
    int8_weight_bits: str,
    profiles: tuple[str, ...],
    fixed_batch: int,
    tta: str,
    sign_key: Path | None,
    threshold_support: str,
    compatible_with: Path | None,
) -> None:
    """Export a siamese-train checkpoint to a bundle that siamese_sdk loads without torch.

    A run folder exports its best.pt (the epoch with the best validation score); a model.pt path exports
    that file (the last epoch) and says so when a best.pt lies beside it.

    Several checkpoints make one ensemble encoder (their embeddings side by side in one graph); they must
    share the data split: train them with different --seed and the same --split-seed.

    Writes the encoder as ONNX fp32 (parity-checked against torch) plus the variants each --profile
    needs: int8 (images: static QDQ, per-channel; text/dialog: dynamic; the cpu choice only if not slower than
    fp32 here), fp16, and fixed-shape fp16 / uint16-activation QDQ for CoreML / QNN. A variant ships only if
    its validation AUC drops <= 0.005 against fp32. Then the distance heads, and manifest.json with sha256s,
    per-variant thresholds (EER, FAR 1e-2, FAR 1e-3, max accuracy), the default operating point (EER; max
    accuracy for a pairs CSV whose validation pairs are imbalanced) and the profiles (which variant and
    providers each target uses).

    \b
    Examples:
      siamese-export runs/demo
      siamese-export runs/demo/model.pt --profile cpu,cuda,coreml
      siamese-export runs/demo --profile cpu,mobile
      siamese-export runs/faces/model.pt -o faces-bundle --calibration faces/train --validation faces/val
      siamese-export runs/omniglot/best.pt -o omniglot-tta --tta shift9
      siamese-export runs/demo/model.pt -o phone-bundle --tta none    # one view, whatever the gate would pick
      siamese-export runs/seed0/best.pt runs/seed1/best.pt -o omniglot-ensemble
      siamese-export runs/demo/model.pt --sign publisher.key
    """
    require_extra("torch")
    require_extra("onnx")
    from siamese_sdk.format.manifest import read_manifest
    from siamese_sdk.providers import import_onnxruntime

    import_onnxruntime()  # one intact onnxruntime build, or the one-line fix
    from .options import ExportOptions
    from .pipeline import export_bundle

    passphrase = None
    if sign_key is not None:  # a bad or locked key fails now, not after the export
        from siamese_sdk.security.signing import key_is_encrypted, load_private_key

        if key_is_encrypted(sign_key):
            passphrase = click.prompt(f"Passphrase for {sign_key}", hide_input=True)
        load_private_key(sign_key, passphrase)
    names = tuple(n for p in profiles for n in p.split(",") if n.strip()) or ("cpu",)
    opts = ExportOptions(
        calibration=calibration,
        validation=validation,
        int8=int8,
        calibration_images=calibration_images,
        int8_weight_bits=int(int8_weight_bits),
        log=click.echo,
        profiles=names,
        fixed_batch=fixed_batch,
        tta=tta,
        members=checkpoints[1:],
        sign=sign_key,
        sign_passphrase=passphrase,
        threshold_support=threshold_support,
        compatible_with=compatible_with,
    )
    path = export_bundle(checkpoints[0], out, opts)
    click.echo(report(read_manifest(path), path))


if __name__ == "__main__":
    main()
