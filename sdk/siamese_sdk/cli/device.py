"""``siamese bench`` and ``siamese doctor``: measure a bundle on this device, and check the device itself."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import InputError
from ..format.manifest import VARIANTS
from .common import BUNDLE, PROVIDER, SKIP_UNREADABLE, THREADS, TRUSTED_KEY, json_text, trusted_keys


@click.command()
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
    help="Write the report as JSON (keys in docs/deploy.md).",
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
@TRUSTED_KEY
@SKIP_UNREADABLE
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
    skip_unreadable: bool,
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
    from ..atomic import write_text_atomic
    from ..tools import bench as bench_
    from ..tools.bench_report import markdown

    try:
        sizes = tuple(int(b) for b in batches.split(",") if b.strip())
    except ValueError:
        raise InputError(f"--batch {batches!r} is not a comma list of integers, e.g. 1,8,64") from None
    if not sizes or min(sizes) < 1:
        raise InputError(f"--batch {batches!r} needs positive batch sizes, e.g. 1,8,64")
    if plots_dir is not None and data is None:
        raise InputError("--plots needs --data (a labelled folder) to draw ROC curves and histograms")
    if plots_dir is not None:
        bench_.pyplot()  # matplotlib missing: refused before any work
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
        trusted_keys=trusted_keys(),
        skip_unreadable=skip_unreadable,
    )
    click.echo(markdown(report), nl=False)
    if json_out is not None:
        write_text_atomic(json_out, json_text(report, indent=2) + "\n")
    if md_out is not None:
        write_text_atomic(md_out, markdown(report))
    if plots_dir is not None:
        from ..format.manifest import read_manifest

        for p in bench_.plots(scored, report, plots_dir, read_manifest(bundle, verify=False).higher_is_closer):
            click.echo(f"wrote {p}")


@click.command()
@click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Provider to check, repeatable (cpu, cuda, tensorrt, openvino, coreml, qnn, ...). Default: every available one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def doctor(providers: tuple[str, ...], as_json: bool) -> None:
    """Check this machine: onnxruntime build(s), providers that really initialise, int8 CPU features, GPUs, and
    the trusted keys for signed bundles.

    Exit code 1 when something is wrong (no or conflicting onnxruntime builds, a provider that does not
    initialise or computes wrong numbers, a broken SIAMESE_TRUSTED_KEYS or trusted-keys directory); each
    problem is printed with its fix.

    \b
    Examples:
      siamese doctor
      siamese doctor --provider cuda --provider tensorrt --json
    """
    from ..tools import doctor as doctor_

    result = doctor_.run_checks(list(providers) or None)
    click.echo(json_text(result, indent=2) if as_json else doctor_.format_report(result))
    if not result["ok"]:
        sys.exit(1)
