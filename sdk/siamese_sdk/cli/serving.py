"""``siamese serve``: the verification service over HTTP (extra ``serve``; ``siamese_sdk.serve`` holds it)."""

from __future__ import annotations

from pathlib import Path

import click

from .common import BUNDLE, PROVIDER, THREADS, VARIANT, FriendlyCommand, friendly_errors, load_model


@click.command("serve", cls=FriendlyCommand)
@BUNDLE
@click.option(
    "--store",
    "store_uri",
    default=None,
    metavar="URI",
    help="Where enrolments live: PATH.npz, milvus:PATH.db (Milvus Lite) or milvus:http://HOST:PORT. None: no gallery routes.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; another than loopback needs --api-key-file (or --insecure).",
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Keys clients send as Authorization: Bearer KEY, one a line.",
)
@click.option(
    "--max-image-bytes",
    default=10 << 20,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest accepted image upload (413 above it).",
)
@click.option("--insecure", is_flag=True, help="Allow a non-loopback --host without --api-key-file.")
@VARIANT
@PROVIDER
@THREADS
def serve(
    bundle: Path,
    store_uri: str | None,
    host: str,
    port: int,
    api_key_file: Path | None,
    max_image_bytes: int,
    insecure: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """Serve BUNDLE over HTTP: embed, verify, and enrol/search/remove identities in a store. OpenAPI at /docs.

    \b
    Examples:
      siamese serve bundle/ --store gallery.npz
      siamese serve bundle/ --store milvus:gallery.db --host 0.0.0.0 --api-key-file keys.txt
    """

    def run() -> None:
        from ..gallery.stores import open_store
        from ..serve import create_app  # ExtraMissingError in one line without the serve extra
        from ..serve.auth import check_bind, read_api_keys

        keys = read_api_keys(api_key_file) if api_key_file else frozenset()
        check_bind(host, keys, insecure)
        model = load_model(bundle, variant, providers, threads)
        store = open_store(store_uri, model) if store_uri else None
        app = create_app(model, store, api_keys=keys, max_image_bytes=max_image_bytes)
        import uvicorn

        click.echo(f"serving {bundle} ({model.variant}) at http://{host}:{port}  (API: /docs; store: {store_uri or 'none'})")
        try:
            uvicorn.run(app, host=host, port=port, log_level="info")
        finally:
            if store is not None:
                store.close()

    friendly_errors(run)
