"""``siamese gallery`` and ``siamese search``: enrol image files into a 1:N gallery, and search it;
``siamese gallery upgrade``: move a gallery onto a newer, compatible bundle (``siamese_sdk.gallery.upgrade``).

``siamese gallery BUNDLE PATHS... -o OUT`` builds a gallery as it always did: ``gallery`` is a group whose
default command is that build (a first argument other than ``upgrade`` is the bundle; a bundle folder named
``upgrade`` is written ``./upgrade``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError
from .common import (
    BATCH_SIZE,
    BRANCH,
    BUNDLE,
    PROVIDER,
    SKIP_UNREADABLE,
    THREADS,
    TRUSTED_KEY,
    VARIANT,
    FriendlyGroup,
    closer,
    comparison,
    json_text,
    load_model,
    operating_point,
    score_name,
)

GALLERY_KEY = click.option(
    "--gallery-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The gallery's key: a file of 32 raw bytes, or a passphrase (the file's text, final newline dropped). "
    "The gallery is written sealed (authenticated) and must load sealed with it.",
)


def read_key_file(path: Path | None) -> bytes | str | None:
    """The gallery key in ``path``: its bytes when exactly 32 (a raw key), else its UTF-8 text without the final
    newline (a passphrase); None without a path. ``InputError`` for an empty or non-UTF-8 passphrase file."""
    if path is None:
        return None
    data = path.read_bytes()
    if len(data) == 32:
        return data
    try:
        text = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise InputError(f"--gallery-key-file {path} is neither 32 raw key bytes nor a UTF-8 passphrase") from None
    if not text:
        raise InputError(f"--gallery-key-file {path} is empty; write 32 random bytes or a passphrase into it")
    return text


class GalleryGroup(FriendlyGroup):
    """``siamese gallery``: ``upgrade`` is a subcommand; anything else (help included) is the build command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = [BUILD, *args]
        return super().parse_args(ctx, args)


#: the name of the default (build) command inside the ``gallery`` group
BUILD = "build"


@click.group("gallery", cls=GalleryGroup)
def gallery_cmd() -> None:
    """Build a 1:N search gallery (siamese gallery BUNDLE PATHS... -o OUT), or upgrade one (siamese gallery upgrade)."""


@gallery_cmd.command(BUILD, hidden=True)
@BUNDLE
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the gallery (.npz).",
)
@click.option(
    "--storage",
    default="float32",
    show_default=True,
    type=click.Choice(["float32", "float16", "int8"]),
    help="Vector storage: float16 halves it, int8 quarters it (small recall cost, see docs/deploy.md).",
)
@BATCH_SIZE
@VARIANT
@PROVIDER
@THREADS
@BRANCH
@TRUSTED_KEY
@GALLERY_KEY
@click.option(
    "--encrypt",
    is_flag=True,
    help="Also encrypt the sealed gallery (AES-256-GCM; needs --gallery-key-file and the signing extra).",
)
@SKIP_UNREADABLE
def build(
    bundle: Path,
    paths: tuple[Path, ...],
    output: Path,
    storage: str,
    batch_size: int,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
    branch: str | None,
    gallery_key_file: Path | None,
    encrypt: bool,
    skip_unreadable: bool,
) -> None:
    """Build a 1:N search gallery from image files and folders (recursively); ids are the file paths.

    The gallery is bound to this bundle's encoder and variant: search it with the same ones (or with a newer
    bundle trained compatible with it: siamese-train --compatible-with).

    \b
    Example:
      siamese gallery bundle/ enrolled/ -o gallery.npz --storage float16
    """
    from ..format.unreadable import skipped_line
    from ..tools.enrol import enrol
    from ..tools.files import find_images

    key = read_key_file(gallery_key_file)
    if encrypt and key is None:
        raise InputError("--encrypt needs --gallery-key-file (the key that seals and encrypts the gallery)")
    model = load_model(bundle, variant, providers, threads)
    files = find_images(paths)
    with click.progressbar(length=len(files), label=f"embedding {len(files)} images", file=sys.stderr) as bar:
        skipped: list | None = [] if skip_unreadable else None
        g = enrol(model, files, storage, batch_size, branch, progress=bar.update, skipped=skipped)
    if skipped:
        click.echo(skipped_line(skipped, len(files)), err=True)
    g.save(output, key=key, encrypt=encrypt)
    sealed = ", sealed and encrypted" if encrypt else ", sealed" if key is not None else ""
    click.echo(
        f"wrote {output} ({len(g)} x {g.embedding_dim} {storage}, {g.metric}, encoder {g.fingerprint}, variant {model.variant}{sealed})"
    )


@click.command()
@BUNDLE
@click.argument("gallery_path", metavar="GALLERY", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="Hits per query.")
@operating_point("Calibrated threshold that marks a hit as a match (default: the bundle's).")
@click.option(
    "--index",
    default="flat",
    show_default=True,
    type=click.Choice(["flat", "faiss-flat", "faiss-hnsw"]),
    help="Search index; faiss-* need the [faiss] extra (hnsw is approximate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@VARIANT
@PROVIDER
@THREADS
@BRANCH
@TRUSTED_KEY
@GALLERY_KEY
def search(
    bundle: Path,
    gallery_path: Path,
    queries: tuple[Path, ...],
    k: int,
    operating_point: str | None,
    index: str,
    as_json: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
    branch: str | None,
    gallery_key_file: Path | None,
) -> None:
    """Find the K closest GALLERY entries of each QUERY image (files or folders).

    Scores are distances (lower = closer), or p(same) for a learned head (higher = closer), best first;
    hits on the close side of the bundle's calibrated threshold are matches (*).

    \b
    Example:
      siamese search bundle/ gallery.npz probe.png -k 5 --json
    """
    from ..gallery import Gallery
    from ..tools.enrol import search_files
    from ..tools.files import find_images

    model = load_model(bundle, variant, providers, threads)
    g = Gallery.load(gallery_path, model=model, index=index, key=read_key_file(gallery_key_file))
    files = find_images(queries)
    op = operating_point or model.manifest.default_operating_point
    t = model.threshold(op)
    results = search_files(model, g, files, k, t, branch)
    if as_json:
        meta = {"metric": g.metric, "threshold": t, "operating_point": op, "variant": model.variant, "k": k}
        click.echo(json_text({**meta, "results": results}))
        return
    for r in results:
        click.echo(r["query"])
        for rank, h in enumerate(r["hits"], 1):
            click.echo(f"  {rank:>3}. {h['score']:.4f}{' *' if h['same'] else '  '} {h['id']}")
    what = f"{score_name(model.manifest.metric)}, {closer(model.manifest.higher_is_closer)} = closer"
    click.echo(f"scores: {what}; * = match ({comparison(model.manifest.metric, True)} {t:.4f}, {op}, variant {model.variant})")


@gallery_cmd.command("upgrade")
@click.argument("gallery_path", metavar="GALLERY", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "bundle",
    required=True,
    type=click.Path(path_type=Path),
    help="The newer bundle, trained with siamese-train --compatible-with or --map-from the gallery's bundle.",
)
@click.option(
    "--images",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of the enrolled images: each old row whose image is still there is embedded again by the new bundle.",
)
@click.option("--map", "use_map", is_flag=True, help="Convert every old row through the bundle's learned map (no images).")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the upgraded gallery (default: replace GALLERY, atomically).",
)
@BATCH_SIZE
@VARIANT
@PROVIDER
@THREADS
@TRUSTED_KEY
@GALLERY_KEY
def upgrade_cmd(
    gallery_path: Path,
    bundle: Path,
    images: Path | None,
    use_map: bool,
    output: Path | None,
    batch_size: int,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
    gallery_key_file: Path | None,
) -> None:
    """Move GALLERY onto a newer bundle: re-embed the rows whose images still exist (--images DIR), or convert
    every row through the bundle's learned map (--map). Ids and row order are kept; says how many rows remain on
    old templates (a bundle marked compatible searches those as they are).

    \b
    Examples:
      siamese gallery upgrade gallery.npz --to new-bundle/ --images enrolled/
      siamese gallery upgrade gallery.npz --to mapped-bundle/ --map -o gallery-new.npz
    """
    from ..gallery.upgrade import upgrade

    key = read_key_file(gallery_key_file)
    model = load_model(bundle, variant, providers, threads)
    g, rep = upgrade(gallery_path, model, images, use_map, key=key, batch_size=batch_size)
    out = output or gallery_path
    g.save(out, key=key, encrypt=_encrypted(gallery_path))  # an encrypted gallery stays encrypted
    click.echo(f"wrote {out}: {rep.summary()}")


def _encrypted(path: Path) -> bool:
    """Whether the sealed gallery at ``path`` is also encrypted (from its header)."""
    from ..security.sealed import HEADER_BYTES, MODE_AESGCM, MODES, sealed_info

    with open(path, "rb") as f:
        return sealed_info(f.read(HEADER_BYTES)).get("mode") == MODES[MODE_AESGCM]
