"""``siamese info``: describe a bundle."""

from __future__ import annotations

from pathlib import Path

import click

from .common import BUNDLE, report


@click.command()
@BUNDLE
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def info(bundle: Path, as_json: bool) -> None:
    """Describe a bundle: input, metric, variants, thresholds and validation results.

    Checks every file's sha256 first.

    \b
    Example:
      siamese info runs/demo/bundle
    """
    from ..format.manifest import read_manifest

    m = read_manifest(bundle)
    if as_json:
        click.echo(m.to_json(), nl=False)
        return
    click.echo(report(m, bundle))
