"""``siamese oneshot``: N-way k-shot accuracy of a bundle on unseen classes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import BUNDLE, PROVIDER, THREADS, VARIANT, json_text, load_model


@click.command()
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
    from ..atomic import write_text_atomic
    from ..errors import InputError
    from ..eval import oneshot as os_
    from ..tools.imagefolder import ImageFolder

    model = load_model(bundle, variant, providers, threads)
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
        used = os_.used_images(eps)
        with click.progressbar(length=used.size, label=f"embedding {used.size} images", file=sys.stderr) as bar:
            table = os_.embed_used(model.embed, folder.paths, model.embedding_dim, used, progress=bar.update)
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
        write_text_atomic(json_out, json_text(result, indent=2) + "\n")
