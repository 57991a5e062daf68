"""``siamese info``: describe a bundle, and its signature."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import BundleError
from .common import BUNDLE, TRUSTED_KEY, json_text, report, trusted_keys


@click.command()
@BUNDLE
@click.option("--json", "as_json", is_flag=True, help='Print the whole manifest as JSON, with a "signature" object.')
@TRUSTED_KEY
def info(bundle: Path, as_json: bool) -> None:
    """Describe a bundle: input, metric, variants, thresholds, validation results and signature.

    Checks every file's sha256 first, and the signature (manifest.sig) against --trusted-key or the
    configured trusted keys (SIAMESE_TRUSTED_KEYS); exit code 1 when the signature is refused.

    \b
    Example:
      siamese info runs/demo/bundle --trusted-key publisher.pub
    """
    from ..format.manifest import read_manifest
    from ..security import signature_status

    m = read_manifest(bundle)
    sig = signature_status(bundle, trusted_keys())
    if as_json:
        click.echo(json_text({**m.to_dict(), "signature": sig}, indent=2))
    else:
        click.echo(report(m, bundle))
        click.echo(f"{'signature':<12}{sig['summary']}")
    if sig["verified"] is False:
        raise BundleError(sig["error"])
