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

from .bundle import VARIANTS
from .errors import InputError, SiameseError


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
    "--variant",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *VARIANTS]),
    help="Encoder variant (auto: the bundle's profile for the first provider).",
)
PROVIDER = click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Execution provider, repeatable, in priority order (cpu, cuda, ...). Default: cpu.",
)
THREADS = click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads (default: all cores).")
BRANCH = click.option(
    "--branch",
    type=click.Choice(["a", "b"]),
    default=None,
    help="Pseudo-Siamese bundles: the branch (encoder) that embeds these images (required there).",
)


def _load(bundle: Path, variant: str, providers: tuple[str, ...], threads: int | None, images_only: bool = True):
    from .model import load

    model = load(bundle, variant=variant, providers=list(providers) or None, threads=threads)
    kinds = sorted({model.input_spec(b).kind for b in model.branches} if model.branches else {model.input.kind})
    if images_only and kinds != ["image"]:
        command = click.get_current_context().info_name
        raise InputError(
            f"siamese {command} reads image files; {bundle} is a {'/'.join(kinds)} bundle: use siamese verify or model.embed(...)"
        )
    return model


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="siamese-sdk")
def main() -> None:
    """Run exported Siamese/Triplet bundles with ONNX Runtime: no torch needed.

    \b
    Examples:
      siamese info bundle/
      siamese embed bundle/ photos/ -o embeddings.npy
      siamese verify bundle/ a.png b.png --operating-point far_1e-3
      siamese gallery bundle/ enrolled/ -o gallery.npz
      siamese search bundle/ gallery.npz probe.png -k 5
      siamese doctor --provider cuda
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


def _input_line(label: str, spec: Any) -> str:
    """One ``info`` line describing an input spec (``siamese_sdk.inputs``)."""
    pp = getattr(spec, "preprocess", None)
    if pp is None:
        return f"{label:<12}{spec.kind}: tokens (N, T) int64 + lengths (N,) int64, tokenizer {spec.tokenizer_file}"
    return (
        f"{label:<12}{spec.name} (N, {pp.channels}, {pp.size[0]}, {pp.size[1]}) float32, NCHW; "
        f"{'gray' if pp.channels == 1 else 'RGB'}, {pp.resample} resize, x*{pp.scale:.6g}, mean {list(pp.mean)}, std {list(pp.std)}"
    )


def report(m: Any, bundle: Path) -> str:
    """A short human-readable summary of a manifest (used by ``info`` and the demo)."""
    validated = m.validation.get("split") or (
        f"{m.validation.get('classes', '?')} unseen classes, {m.validation.get('images', '?')} images"
    )
    inputs = [_input_line(f"input {b}", br.input_spec) for b, br in sorted(m.branches.items())]
    lines = [
        f"bundle      {bundle}",
        *(inputs or [_input_line("input", m.input_spec)]),
        f"embedding   {m.embedding_dim}-d{' (L2-normalised)' if m.normalized else ''}, metric {m.metric} "
        f"({'higher' if m.higher_is_closer else 'lower'} score = closer)",
        f"arch        {m.provenance.get('arch', '?')}, loss {m.provenance.get('loss', '?')}"
        + (f", test-time augmentation {m.provenance['tta']}" if m.provenance.get("tta", "none") != "none" else "")
        + (f", ensemble of {len(m.provenance['ensemble'])} checkpoints" if m.provenance.get("ensemble") else ""),
        f"validation  {validated}, {m.validation.get('pairs', '?')} pairs",
        f"{'variant':<12}{'size':>10}{'AUC':>9}{'EER':>8}{'TAR@1e-2':>10}{'TAR@1e-3':>10}   thresholds (eer / far 1e-2 / far 1e-3)",
    ]
    for name, v in m.variants.items():
        own = [br.variants[name].file for br in m.branches.values()] or [v.file]
        size = sum((bundle / f).stat().st_size for f in own if (bundle / f).exists())
        t = v.thresholds
        mm = v.metrics
        lines.append(
            f"{name + ('*' if name == m.default_variant else ''):<12}{size / 1024:>8.1f}KB{mm.get('auc', float('nan')):>9.4f}"
            f"{mm.get('eer', float('nan')):>8.4f}{mm.get('tar_at_far_1e-2', float('nan')):>10.4f}{mm.get('tar_at_far_1e-3', float('nan')):>10.4f}"
            f"   {t.get('eer', float('nan')):.4f} / {t.get('far_1e-2', float('nan')):.4f} / {t.get('far_1e-3', float('nan')):.4f}"
        )
    lines.append("            * default variant on CPU")
    for name, prof in m.profiles.items():
        why = f" ({prof.notes})" if prof.variant == "fp32" and prof.notes else ""
        lines.append(f"profile     {name}: {prof.variant} on {', '.join(prof.providers)}{why}")
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
@click.option("--no-resume", is_flag=True, help="Start over even when an interrupted run of the same inputs can be resumed.")
@VARIANT
@PROVIDER
@THREADS
def embed(
    bundle: Path,
    paths: tuple[Path, ...],
    output: Path,
    batch_size: int,
    no_resume: bool,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
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
    from .stream import embed_to_npy, scan_images

    model = _load(bundle, variant, providers, threads)
    if model.branches:
        raise InputError("siamese embed streams one-encoder bundles; for a pseudo-Siamese bundle use model.embed(x, branch='a'|'b')")
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
        )
    click.echo(f"wrote {output} ({run.rows} x {run.dim} float32, variant {model.variant})")


@main.command("gallery")
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
    help="Vector storage: float16 halves it, int8 quarters it (small recall cost, see the README).",
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@VARIANT
@PROVIDER
@THREADS
@BRANCH
def gallery_cmd(
    bundle: Path,
    paths: tuple[Path, ...],
    output: Path,
    storage: str,
    batch_size: int,
    variant: str,
    providers: tuple[str, ...],
    threads: int | None,
    branch: str | None,
) -> None:
    """Build a 1:N search gallery from image files and folders (recursively); ids are the file paths.

    The gallery is bound to this bundle's encoder and variant: search it with the same ones.

    \b
    Example:
      siamese gallery bundle/ enrolled/ -o gallery.npz --storage float16
    """
    import contextlib

    from .gallery import Gallery
    from .preprocess import find_images
    from .stream import prefetch

    model = _load(bundle, variant, providers, threads)
    files = find_images(paths)
    g = Gallery.for_model(model, storage=storage)
    with click.progressbar(length=len(files), label=f"embedding {len(files)} images", file=sys.stderr) as bar:
        with contextlib.closing(prefetch(files, model.preprocess_spec(branch), batch_size)) as batches:
            for row, x in batches:
                g.add(model.embed(x, batch_size=x.shape[0], branch=branch), [str(f) for f in files[row : row + x.shape[0]]])
                bar.update(x.shape[0])
    g.save(output)
    click.echo(
        f"wrote {output} ({len(g)} x {g.embedding_dim} {storage}, {g.metric}, encoder {g.fingerprint}, variant {model.variant})"
    )


@main.command()
@BUNDLE
@click.argument("gallery_path", metavar="GALLERY", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-k", "k", default=5, show_default=True, type=click.IntRange(min=1), help="Hits per query.")
@click.option(
    "--operating-point",
    default=None,
    type=click.Choice(["eer", "far_1e-2", "far_1e-3"]),
    help="Calibrated threshold that marks a hit as a match (default: the bundle's).",
)
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
) -> None:
    """Find the K closest GALLERY entries of each QUERY image (files or folders).

    Scores are distances (lower = closer), or p(same) for a learned head (higher = closer), best first;
    hits on the close side of the bundle's calibrated threshold are matches (*).

    \b
    Example:
      siamese search bundle/ gallery.npz probe.png -k 5 --json
    """
    import contextlib

    from .gallery import Gallery
    from .preprocess import find_images
    from .stream import prefetch

    model = _load(bundle, variant, providers, threads)
    g = Gallery.load(gallery_path, model=model, index=index)
    files = find_images(queries)
    op = operating_point or model.manifest.default_operating_point
    t = model.threshold(op)
    hic = model.manifest.higher_is_closer
    results = []
    with contextlib.closing(prefetch(files, model.preprocess_spec(branch), 64)) as batches:
        for row, x in batches:
            ids, scores = g.search(model.embed(x, batch_size=x.shape[0], branch=branch), k)
            for f, id_row, score_row in zip(files[row : row + x.shape[0]], ids, scores, strict=True):
                hits = [
                    {"id": str(i), "score": float(s), "same": bool(s >= t if hic else s <= t)} for i, s in zip(id_row, score_row, strict=True) if i
                ]
                results.append({"query": str(f), "hits": hits})
    if as_json:
        meta = {"metric": g.metric, "threshold": t, "operating_point": op, "variant": model.variant, "k": k}
        click.echo(json.dumps({**meta, "results": results}))
        return
    for r in results:
        click.echo(r["query"])
        for rank, h in enumerate(r["hits"], 1):
            click.echo(f"  {rank:>3}. {h['score']:.4f}{' *' if h['same'] else '  '} {h['id']}")
    what = f"{_score_name(model.manifest.metric)}, {'higher' if hic else 'lower'} = closer"
    click.echo(f"scores: {what}; * = match ({'>=' if hic else '<='} {t:.4f}, {op}, variant {model.variant})")


def _score_name(metric: str) -> str:
    return "learned head p(same)" if metric == "learned" else f"{metric} distance"


@main.command()
@BUNDLE
@click.argument("a")
@click.argument("b")
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

    \b
    Examples:
      siamese verify bundle/ sig_ref.png sig_new.png --operating-point far_1e-3
      siamese verify text-bundle/ "how do i reset my password" "how can i change my password"
      siamese verify dialog-bundle/ '["hi", "my card is lost"]' '["hello", "i lost my card"]'
    """
    model = _load(bundle, variant, providers, threads, images_only=False)
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
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    word = "SAME" if result["same"] else "DIFFERENT"
    cmp = ("<=" if result["same"] else ">") if not r.higher_is_closer else (">=" if result["same"] else "<")
    click.echo(
        f"{word}: {_score_name(model.manifest.metric)} {result['score']:.4f} {cmp} threshold {r.threshold:.4f} "
        f"({r.operating_point or 'custom'}, {model.variant})"
    )


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
            raise InputError(f"a dialog bundle takes each dialog as a JSON list of turns, got {arg[:60]!r}; e.g. '[\"hi\", \"hello\"]'")
        return [turns]
    return [Path(arg)]


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
    "--paired-drawers/--random-drawers",
    default=None,
    help="Same image rank (Omniglot: drawer) for all supports and for all queries of an episode, as Lake et al. "
    "Default: paired with --within-alphabet, random otherwise.",
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
    paired_drawers: bool | None,
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
        eps = os_.sample_episodes(folder.labels, folder.classes, way, shot, episodes, within_alphabet, seed, paired_drawers)
        used = np.unique(np.concatenate([np.concatenate([e.support, e.query]) for e in eps]))
        table = np.zeros((len(folder), model.embedding_dim), dtype=np.float32)
        with click.progressbar(range(0, used.size, 256), label=f"embedding {used.size} images", file=sys.stderr) as bar:
            for i in bar:
                ix = used[i : i + 256]
                table[ix] = model.embed([folder.paths[j] for j in ix])
        res = os_.evaluate(table, eps, model.distance_matrix, hic)
        result.update(
            res.to_dict(),
            protocol="within-alphabet" if within_alphabet else "random-classes",
            paired_drawers=bool(within_alphabet if paired_drawers is None else paired_drawers),
            data=str(data),
            seed=seed,
        )
        if within_alphabet:
            groups = os_.per_group(res, eps)
            result["per_alphabet"] = {g: {"accuracy": acc, "episodes": n} for g, (acc, n) in groups.items()}
            click.echo("per alphabet: " + ", ".join(f"{g} {acc * 100:.1f} % ({n})" for g, (acc, n) in groups.items()))
    click.echo(
        f"{res.way}-way {res.shot}-shot accuracy: {res.accuracy * 100:.2f} % ± {res.ci95 * 100:.2f} (95 % CI, {res.episodes} "
        f"{'runs' if lake_runs else 'episodes'}, {result['protocol']}, variant {model.variant})"
    )
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(result, indent=2) + "\n")


@main.command()
@BUNDLE
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Labelled image folder (class per leaf folder) for accuracy and FAR/FRR at the shipped thresholds.",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    type=click.Choice(list(VARIANTS)),
    help="Variant(s) to measure (default: every shipped one).",
)
@click.option(
    "--batch", "batches", default="1,8,64", show_default=True, help="Batch sizes for the throughput sweep (comma list)."
)
@click.option(
    "--runs", default=50, show_default=True, type=click.IntRange(min=5), help="Timed runs per measurement (after warm-up)."
)
@click.option(
    "--torch",
    "torch_checkpoint",
    type=click.Path(path_type=Path),
    default=None,
    help="Also time this checkpoint's encoder in torch eager (needs the train extra).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as JSON (format in the README).",
)
@click.option(
    "--markdown",
    "md_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report as a Markdown table.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write ROC/DET and distance histograms as PNG (needs --data and matplotlib).",
)
@click.option(
    "--per-provider",
    is_flag=True,
    help="Also time every variant on each --provider alone (the main table uses them as one priority list).",
)
@PROVIDER
@THREADS
def bench(
    bundle: Path,
    data: Path | None,
    variants: tuple[str, ...],
    batches: str,
    runs: int,
    torch_checkpoint: Path | None,
    json_out: Path | None,
    md_out: Path | None,
    plots_dir: Path | None,
    per_provider: bool,
    providers: tuple[str, ...],
    threads: int | None,
) -> None:
    """Measure a bundle on this device: latency, throughput, cold start, memory, size, accuracy.

    Ratios (int8 / fp32, int8 / torch, fp32 / torch) are measured in the same run, next to the absolute
    numbers, because absolute times on a shared or throttled machine are noisy.

    \b
    Examples:
      siamese bench bundle/
      siamese bench bundle/ --data val_faces/ --plots report/ --json bench.json --markdown bench.md
      siamese bench bundle/ --torch runs/demo/model.pt --threads 2
      siamese bench bundle/ --provider cuda --provider cpu --per-provider
    """
    from . import bench as bench_
    from .atomic import write_text_atomic

    try:
        sizes = tuple(int(b) for b in batches.split(",") if b.strip())
    except ValueError:
        raise InputError(f"--batch {batches!r} is not a comma list of integers, e.g. 1,8,64") from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"--batch {batches!r} needs positive batch sizes, e.g. 1,8,64")
    if plots_dir is not None and data is None:
        raise InputError("--plots needs --data (a labelled folder) to draw ROC curves and histograms")
    report, scored = bench_.run(
        bundle,
        list(variants) or None,
        list(providers) or None,
        threads,
        sizes,
        runs,
        data,
        torch_checkpoint,
        progress=lambda s: click.echo(f"  {s}", err=True),
        per_provider=per_provider,
    )
    click.echo(bench_.markdown(report), nl=False)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(report, indent=2) + "\n")
    if md_out is not None:
        write_text_atomic(md_out, bench_.markdown(report))
    if plots_dir is not None:
        from .bundle import read_manifest

        for p in bench_.plots(scored, report, plots_dir, read_manifest(bundle, verify=False).higher_is_closer):
            click.echo(f"wrote {p}")


@main.command()
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Provider to check, repeatable (cpu, cuda, tensorrt, openvino, coreml, qnn, ...). Default: every available one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(providers: tuple[str, ...], as_json: bool) -> None:
    """Check this machine: onnxruntime build(s), providers that really initialise, int8 CPU features, GPUs.

    Exit code 1 when something is wrong (no or conflicting onnxruntime builds, a provider that does not
    initialise or computes wrong numbers); each problem is printed with its fix.

    \b
    Examples:
      siamese doctor
      siamese doctor --provider cuda --provider tensorrt --json
    """
    from . import doctor as doctor_

    result = doctor_.run_checks(list(providers) or None)
    click.echo(json.dumps(result, indent=2) if as_json else doctor_.format_report(result))
    if not result["ok"]:
        sys.exit(1)
