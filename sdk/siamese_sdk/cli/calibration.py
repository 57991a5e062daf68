"""``siamese calibrate``: a bundle's thresholds recomputed on the user's own labelled folder."""

from __future__ import annotations

from pathlib import Path

import click

from .common import BUNDLE, SKIP_UNREADABLE, report, threshold_support_option


@click.command()
@BUNDLE
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Bundle directory to write (default: BUNDLE, replaced atomically).",
)
@click.option(
    "--drop-signature",
    is_flag=True,
    help="Recalibrate a signed bundle: the new manifest is written without manifest.sig (re-sign it with siamese sign).",
)
@threshold_support_option("DATA")
@SKIP_UNREADABLE
def calibrate(
    bundle: Path, data: Path, out: Path | None, drop_signature: bool, threshold_support: str, skip_unreadable: bool
) -> None:
    """Recompute every variant's thresholds (eer, far_1e-2, far_1e-3) on DATA, a folder of class sub-folders
    (one per identity) from the domain the bundle is deployed in, and write the bundle with its manifest
    re-hashed. The previous calibration is kept in the manifest's calibration_history.

    \b
    Example:
      siamese calibrate bundle/ my_faces/ -o bundle-calibrated
    """
    from ..format.manifest import read_manifest
    from ..tools.calibrate import calibrate_bundle

    path = calibrate_bundle(
        bundle, data, out, drop_signature, threshold_support, log=click.echo, skip_unreadable=skip_unreadable
    )
    click.echo(report(read_manifest(path), path))
