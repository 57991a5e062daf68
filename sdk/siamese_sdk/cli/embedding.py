"""``siamese embed`` and ``siamese verify``: images (or texts, dialogs) to embeddings and same/different decisions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from .common import (
    BATCH_SIZE,
    BUNDLE,
    PROVIDER,
    SKIP_UNREADABLE,
    THREADS,
    TRUSTED_KEY,
    VARIANT,
    FriendlyCommand,
    comparison,
    json_text,
    load_model,
    operating_point,
    score_name,
)


@click.command(
    cls=FriendlyCommand, interrupted="interrupted; the rows embedded so far are kept: rerun the same command to resume"
)
@BUNDLE
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the (N, D) float32 .npy.",
)
@BATCH_SIZE
@click.option("--no-resume", is_flag=True, help="Start over even when an interrupted run of the same inputs can be resumed.")
@VARIANT
@PROVIDER
@THREADS
@TRUSTED_KEY
@SKIP_UNREADABLE
def embed(
    bundle: Path,
    paths: tuple[Path, ...],
    output: Path,
    batch_size: int,
    no_resume: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
    skip_unreadable: bool,
) -> None:
    """Embed image files and folders (recursively) into an (N, D) float32 .npy.

    Row i belongs to the i-th image, in the order listed in OUTPUT with suffix .paths.txt.
    Both files are written atomically. Any number of images streams to disk with flat memory
    (OUTPUT.partial.npy + OUTPUT.partial.json); an interrupted run resumes when rerun with the same
    inputs and bundle, and starts over (saying why) when they changed.

    \b
    Example:
      siamese embed bundle/ faces/ extra.png -o emb.npy
    """
    from ..tools.stream import embed_to_npy, scan_images

    model = load_model(bundle, variant, providers, threads)
    if model.branches:
        raise InputError(
            "siamese embed streams one-encoder bundles; for a pseudo-Siamese bundle use model.embed(x, branch='a'|'b')"
        )
    scan = scan_images(paths)  # the paths are walked lazily, never held in memory
    with click.progressbar(length=scan.count, label=f"embedding {scan.count} images", file=sys.stderr) as bar:
        shown = [0]

        def progress(done: int, total: int) -> None:
            bar.update(done - shown[0])
            shown[0] = done

        run = embed_to_npy(
            model,
            paths,
            output,
            batch_size,
            resume=not no_resume,
            progress=progress,
            log=lambda m: click.echo(m, err=True),
            scan=scan,
            skip_unreadable=skip_unreadable,
        )
    if run.skipped:
        from ..format.unreadable import skipped_line

        click.echo(skipped_line(run.skipped, scan.count), err=True)
    click.echo(f"wrote {output} ({run.rows} x {run.dim} float32, variant {model.variant})")


@click.command()
@BUNDLE
@click.argument("a")
@click.argument("b")
@operating_point("Calibrated threshold to use (default: the bundle's).")
@click.option("--threshold", type=float, default=None, help="Your own score threshold instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@VARIANT
@PROVIDER
@THREADS
@TRUSTED_KEY
def verify(
    bundle: Path,
    a: str,
    b: str,
    operating_point: str | None,
    threshold: float | None,
    as_json: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """Decide whether A and B (two images, texts or dialogs, as the bundle takes) show the same identity.

    Image bundles take two image paths, text bundles two strings, dialog bundles two JSON lists of turns.
    Prints the score, the threshold and the decision; exit code 0 either way (read the output or --json).
    A threshold the bundle's validation set cannot support (siamese info: NOT SUPPORTED) adds a warning line
    on stderr (--json: "unsupported") saying how to calibrate it on your own data (siamese calibrate).

    \b
    Examples:
      siamese verify bundle/ sig_ref.png sig_new.png --operating-point far_1e-3
      siamese verify text-bundle/ "how do i reset my password" "how can i change my password"
      siamese verify dialog-bundle/ '["hi", "my card is lost"]' '["hello", "i lost my card"]'
    """
    model = load_model(bundle, variant, providers, threads, images_only=False)
    branch_a, branch_b = ("a", "b") if model.branches else (None, None)  # pseudo-Siamese: A goes to branch a, B to b
    x1, x2 = _cli_item(model, a, branch_a), _cli_item(model, b, branch_b)
    r = model.verify(x1, x2, threshold=threshold, operating_point=operating_point)
    result = {
        "same": bool(r.same[0]),
        "score": float(r.scores[0]),
        "threshold": r.threshold,
        "operating_point": r.operating_point,
        "metric": model.manifest.metric,
        "variant": model.variant,
        "unsupported": r.unsupported,
    }
    if as_json:
        click.echo(json_text(result))
        return
    word = "SAME" if result["same"] else "DIFFERENT"
    cmp = comparison(model.manifest.metric, result["same"])
    click.echo(
        f"{word}: {score_name(model.manifest.metric)} {result['score']:.4f} {cmp} threshold {r.threshold:.4f} "
        f"({r.operating_point or 'custom'}, {model.variant})"
    )
    if r.unsupported:
        click.echo(f"warning: {r.unsupported}", err=True)


def _cli_item(model: Any, arg: str, branch: str | None = None) -> list[Any]:
    """One command-line argument as a one-item ``embed`` input of the bundle's (or ``branch``'s) kind."""
    kind = model.input_spec(branch).kind
    if kind == "text":
        return [arg]
    if kind == "dialog":
        try:
            turns = json.loads(arg)
        except json.JSONDecodeError:
            turns = None
        if not isinstance(turns, list):
            raise InputError(
                f'a dialog bundle takes each dialog as a JSON list of turns, got {arg[:60]!r}; e.g. \'["hi", "hello"]\''
            )
        return [turns]
    return [Path(arg)]
