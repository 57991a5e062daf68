"""``siamese keygen`` and ``siamese sign``: a publisher's key pair, and the signature of a bundle (``docs/security.md``)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import BUNDLE


@click.command()
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Name of the key pair: writes NAME.key (private, mode 0600) and NAME.pub.",
)
@click.option("--passphrase", is_flag=True, help="Encrypt the private key file with a passphrase (asked for, hidden).")
def keygen(out: Path, passphrase: bool) -> None:
    """Make an Ed25519 key pair for signing bundles (needs the signing extra); never overwrites a key.

    Keep NAME.key off the devices that verify; ship NAME.pub to them (load(trusted_keys=[...]),
    SIAMESE_TRUSTED_KEYS or ~/.config/siamese/trusted_keys/).

    \b
    Example:
      siamese keygen -o publisher
    """
    from ..security import key_id
    from ..security import keygen as make_keys

    secret = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True) if passphrase else None
    private, public = make_keys(out, passphrase=secret)
    click.echo(f"wrote {private} (private key{', encrypted' if secret else ''}, mode 0600: keep it secret)")
    click.echo(f"wrote {public} (public key: the trusted key to ship)")
    click.echo(f"key id {key_id(public)}")


@click.command()
@BUNDLE
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The private key (NAME.key from siamese keygen); asks for its passphrase when it is encrypted.",
)
def sign(bundle: Path, key_path: Path) -> None:
    """Sign BUNDLE's manifest (which pins every file's sha256, the thresholds and the preprocessing).

    Checks the files against the manifest first, then writes BUNDLE/manifest.sig atomically (replacing an
    older signature).

    \b
    Example:
      siamese sign bundle/ --key publisher.key
    """
    from ..format.manifest import read_manifest
    from ..security import sign_bundle
    from ..security.signing import key_is_encrypted, parse_signature

    read_manifest(bundle)  # never sign a bundle whose files already differ from its manifest
    secret = None
    if key_is_encrypted(key_path):
        secret = click.prompt(f"Passphrase for {key_path}", hide_input=True)
    sig = sign_bundle(bundle, key_path, passphrase=secret)
    click.echo(f"wrote {sig} (signed by key {parse_signature(sig.read_bytes(), str(sig))['key_id']})")
