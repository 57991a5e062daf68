"""``siamese``: the runtime command line (needs only the SDK install).

Heavy imports (onnxruntime, numpy) happen inside commands so ``siamese --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .errors import SiameseError


class FriendlyGroup(click.Group):
    """A click group that turns the package's errors into one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        return friendly_errors(super().invoke, ctx)


class FriendlyCommand(click.Command):
    """A click command with the same error handling as ``FriendlyGroup``."""

    def invoke(self, ctx: click.Context) -> Any:
        return friendly_errors(super().invoke, ctx)


def friendly_errors(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn``; print our errors (and OS errors) as ``Error: ...`` in one line, exit 1, no traceback."""
    try:
        return fn(*args)
    except SiameseError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(
            f"{e.strerror or e} ({e.filename or ''}); check the path, free space and permissions"
        ) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


BUNDLE = click.argument("bundle", type=click.Path(path_type=Path))
VARIANT = click.option(
    "--variant", default="auto", show_default=True, type=click.Choice(["auto", "int8", "fp32"]), help="Encoder variant."
)
PROVIDER = click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Execution provider, repeatable, in priority order (cpu, cuda, ...). Default: cpu.",
)
THREADS = click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads (default: all cores).")


def _load(bundle: Path, variant: str, providers: tuple[str, ...], threads: int | None):
    from .model import load

    return load(bundle, variant=variant, providers=list(providers) or None, threads=threads)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="siamese-sdk")
def main() -> None:
    """Run exported Siamese/Triplet bundles with ONNX Runtime: no torch needed.

    \b
    Examples:
      siamese info bundle/
      siamese embed bundle/ photos/ -o embeddings.npy
      siamese verify bundle/ a.png b.png --operating-point far_1e-3
    """


@main.command()
@BUNDLE
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def info(bundle: Path, as_json: bool) -> None:
    """Describe a bundle: input, metric, variants, thresholds and validation results.

    Checks every file's sha256 first.

    \b
    Example:
      siamese info runs/demo/bundle
    """
    from .bundle import read_manifest

    m = read_manifest(bundle)
    if as_json:
        click.echo(m.to_json(), nl=False)
        return
    click.echo(report(m, bundle))


def report(m: Any, bundle: Path) -> str:
    """A short human-readable summary of a manifest (used by ``info`` and the demo)."""
    pp = m.preprocess
    lines = [
        f"bundle      {bundle}",
        f"input       {m.input_name} (N, {pp.channels}, {pp.size[0]}, {pp.size[1]}) float32, NCHW; "
        f"{'gray' if pp.channels == 1 else 'RGB'}, {pp.resample} resize, x*{pp.scale:.6g}, mean {list(pp.mean)}, std {list(pp.std)}",
        f"embedding   {m.embedding_dim}-d{' (L2-normalised)' if m.normalized else ''}, metric {m.metric} "
        f"({'higher' if m.higher_is_closer else 'lower'} score = closer)",
        f"arch        {m.provenance.get('arch', '?')}, loss {m.provenance.get('loss', '?')}",
        f"validation  {m.validation.get('classes', '?')} unseen classes, {m.validation.get('images', '?')} images, "
        f"{m.validation.get('pairs', '?')} pairs",
        f"{'variant':<8}{'size':>10}{'AUC':>9}{'EER':>8}{'TAR@1e-2':>10}{'TAR@1e-3':>10}   thresholds (eer / far 1e-2 / far 1e-3)",
    ]
    for name, v in m.variants.items():
        size = (bundle / v.file).stat().st_size if (bundle / v.file).exists() else 0
        t = v.thresholds
        mm = v.metrics
        lines.append(
            f"{name + ('*' if name == m.default_variant else ''):<8}{size / 1024:>8.1f}KB{mm.get('auc', float('nan')):>9.4f}"
            f"{mm.get('eer', float('nan')):>8.4f}{mm.get('tar_at_far_1e-2', float('nan')):>10.4f}{mm.get('tar_at_far_1e-3', float('nan')):>10.4f}"
            f"   {t.get('eer', float('nan')):.4f} / {t.get('far_1e-2', float('nan')):.4f} / {t.get('far_1e-3', float('nan')):.4f}"
        )
    lines.append("            * default variant on CPU")
    lines += [f"note        {n}" for n in m.notes]
    return "\n".join(lines)


@main.command()
@BUNDLE
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the (N, D) float32 .npy.",
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@VARIANT
@PROVIDER
@THREADS
def embed(
    bundle: Path,
    paths: tuple[Path, ...],
    output: Path,
    batch_size: int,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """Embed image files and folders (recursively) into an (N, D) float32 .npy.

    Row i belongs to the i-th image, in the order listed in OUTPUT with suffix .paths.txt.
    Both files are written atomically.

    \b
    Example:
      siamese embed bundle/ faces/ extra.png -o emb.npy
    """
    import numpy as np

    from .atomic import write_atomic, write_text_atomic
    from .preprocess import find_images

    model = _load(bundle, variant, providers, threads)
    files = find_images(paths)
    out = np.empty((len(files), model.embedding_dim), dtype=np.float32)
    with click.progressbar(range(0, len(files), batch_size), label=f"embedding {len(files)} images", file=sys.stderr) as bar:
        for i in bar:
            out[i : i + batch_size] = model.embed(files[i : i + batch_size], batch_size=batch_size)
    write_atomic(output, lambda p: np.save(open(p, "wb"), out))
    write_text_atomic(output.with_suffix(".paths.txt"), "".join(f"{f}\n" for f in files))
    click.echo(f"wrote {output} ({out.shape[0]} x {out.shape[1]} float32, variant {model.variant})")


@main.command()
@BUNDLE
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "--operating-point",
    default=None,
    type=click.Choice(["eer", "far_1e-2", "far_1e-3"]),
    help="Calibrated threshold to use (default: the bundle's).",
)
@click.option("--threshold", type=float, default=None, help="Your own score threshold instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@VARIANT
@PROVIDER
@THREADS
def verify(
    bundle: Path,
    a: Path,
    b: Path,
    operating_point: str | None,
    threshold: float | None,
    as_json: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """Decide whether images A and B show the same identity.

    Prints the score, the threshold and the decision; exit code 0 either way (read the output or --json).

    \b
    Example:
      siamese verify bundle/ sig_ref.png sig_new.png --operating-point far_1e-3
    """
    model = _load(bundle, variant, providers, threads)
    r = model.verify([a], [b], threshold=threshold, operating_point=operating_point)
    result = {
        "same": bool(r.same[0]),
        "score": float(r.scores[0]),
        "threshold": r.threshold,
        "operating_point": r.operating_point,
        "metric": model.manifest.metric,
        "variant": model.variant,
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    word = "SAME" if result["same"] else "DIFFERENT"
    cmp = ("<=" if result["same"] else ">") if not r.higher_is_closer else (">=" if result["same"] else "<")
    click.echo(
        f"{word}: {model.manifest.metric} distance {result['score']:.4f} {cmp} threshold {r.threshold:.4f} "
        f"({r.operating_point or 'custom'}, {model.variant})"
    )


@main.command()
@BUNDLE
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--way", default=20, show_default=True, type=click.IntRange(min=2))
@click.option("--shot", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--episodes", default=400, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--within-alphabet", is_flag=True, help="All classes of an episode from one alphabet (parent folder): the harder protocol."
)
@click.option(
    "--lake-runs",
    type=click.Path(path_type=Path),
    default=None,
    help="Lake et al.'s one-shot runs folder (run01..run20) instead of DATA.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the result as JSON here."
)
@VARIANT
@PROVIDER
@THREADS
def oneshot(
    bundle: Path,
    data: Path | None,
    way: int,
    shot: int,
    episodes: int,
    within_alphabet: bool,
    lake_runs: Path | None,
    seed: int,
    json_out: Path | None,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """N-way k-shot accuracy by nearest support embedding, with a 95 % confidence interval.

    DATA is a class-per-folder image set (Omniglot layout Alphabet/character/img.png for --within-alphabet),
    with classes never seen in training.

    \b
    Examples:
      siamese oneshot bundle/ omniglot/images_evaluation --within-alphabet
      siamese oneshot bundle/ --lake-runs all_runs/
    """
    import numpy as np

    from . import oneshot as os_
    from .atomic import write_text_atomic
    from .errors import InputError
    from .imagefolder import ImageFolder

    model = _load(bundle, variant, providers, threads)
    hic = model.manifest.higher_is_closer
    result: dict[str, Any] = {"bundle": str(bundle), "variant": model.variant}
    if lake_runs is not None:
        runs = os_.read_lake_runs(lake_runs)
        res, per_run = os_.evaluate_lake_runs(runs, lambda paths: model.embed(paths), model.distance_matrix, hic)
        for name, acc in per_run.items():
            click.echo(f"{name}: {acc * 100:.1f} %")
        result.update(res.to_dict(), protocol="lake-runs", per_run=per_run)
    else:
        if data is None:
            raise InputError("pass DATA (a class-per-folder image set) or --lake-runs DIR")
        folder = ImageFolder.scan(data)
        eps = os_.sample_episodes(folder.labels, folder.classes, way, shot, episodes, within_alphabet, seed)
        used = np.unique(np.concatenate([np.concatenate([e.support, e.query]) for e in eps]))
        table = np.zeros((len(folder), model.embedding_dim), dtype=np.float32)
        with click.progressbar(range(0, used.size, 256), label=f"embedding {used.size} images", file=sys.stderr) as bar:
            for i in bar:
                ix = used[i : i + 256]
                table[ix] = model.embed([folder.paths[j] for j in ix])
        res = os_.evaluate(table, eps, model.distance_matrix, hic)
        result.update(
            res.to_dict(), protocol="within-alphabet" if within_alphabet else "random-classes", data=str(data), seed=seed
        )
    click.echo(
        f"{res.way}-way {res.shot}-shot accuracy: {res.accuracy * 100:.2f} % ± {res.ci95 * 100:.2f} (95 % CI, {res.episodes} "
        f"{'runs' if lake_runs else 'episodes'}, {result['protocol']}, variant {model.variant})"
    )
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(result, indent=2) + "\n")
