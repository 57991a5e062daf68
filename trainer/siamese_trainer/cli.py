"""``siamese-train``: train a Siamese encoder (NT-Xent, contrastive or triplet loss) on an image folder or a CSV table.

Needs the ``train`` extra; without it the command says so in one line.
"""

from __future__ import annotations

import sys

try:  # Ctrl-C while the command starts up: one line, no traceback
    import os
    from pathlib import Path
    from typing import Any

    import click
    from siamese_sdk import __version__
    from siamese_sdk.cli import FriendlyCommand
    from siamese_sdk.errors import InputError, require_extra

    from .config import ARCH_DEFAULTS, DEFAULT_AUGMENT, FACTORY_DEFAULTS
    from .config import FIELD_DEFAULTS as D
except KeyboardInterrupt:
    sys.stderr.write("interrupted while starting; nothing was written: rerun the command\n")
    raise SystemExit(130) from None

#: batch-size spellings of other trainers: a batch here is --p classes x --k images
BATCH_FLAGS = ("--batch-size", "--batch_size", "--batch", "--bs")


class TrainCommand(FriendlyCommand):
    """``FriendlyCommand`` that answers a batch-size flag with ``--p`` / ``--k``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as e:
            if e.option_name.split("=")[0] not in BATCH_FLAGS:
                raise
            raise click.NoSuchOption(
                e.option_name,
                f"No such option: {e.option_name}. A batch is --p classes x --k images per class "
                f"(default --p {D['p']} --k {D['k']} = {D['p'] * D['k']} images); e.g. --p 32 --k 2",
                ctx=ctx,
            ) from None


def _examples(ctx: click.Context, _: click.Parameter, dest: Path | None) -> None:
    """``--examples DIR``: copy a few embedded images out and exit (no training, no torch)."""
    if dest is None or ctx.resilient_parsing:
        return
    from siamese_sdk.cli.common import friendly_errors

    from .embedded import copy_examples

    paths = friendly_errors(copy_examples, dest)
    for p in paths:
        click.echo(str(p))
    click.echo(f"two classes, {len(paths) // 2} images each (Omniglot, MIT licence: {dest / 'LICENSE.omniglot'}); try:")
    click.echo(f"  siamese verify runs/demo/bundle {paths[0]} {paths[1]}   # same character")
    click.echo(f"  siamese verify runs/demo/bundle {paths[0]} {paths[-1]}   # different characters")
    ctx.exit(0)


def _interrupted(out: Path) -> None:
    """Ctrl-C during a run: say how to continue in one line, exit 130."""
    if (out / "model.pt").exists():
        msg = f"interrupted; {out / 'model.pt'} holds the last completed epoch: rerun with --resume to continue"
    else:
        msg = "interrupted before the first epoch was saved; nothing to resume: rerun the command to start again"
    click.echo(msg, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # not sys.exit: a Ctrl-C inside torch's own import leaves it half-initialised, and the interpreter's shutdown then
    # ends the process by SIGINT instead of 130; the run lock and atomic writes are already settled here
    os._exit(130)


def _choice(name: str) -> str | None:
    """A numeric ``TrainConfig`` default as its ``click.Choice`` string."""
    return None if D[name] is None else str(D[name])


def _floats(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    """``--mean 0.485,0.456,0.406`` -> a tuple of floats."""
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma list of numbers, one per channel; e.g. 0.485,0.456,0.406") from None


def _lr(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")


#: the per-arch defaults of --size and --lr, written from the arch table
SIZE_DEFAULTS = ", ".join([f"{d.size} {a}" for a, d in ARCH_DEFAULTS.items()] + [f"{FACTORY_DEFAULTS.size} package.module:factory"])
LR_DEFAULTS = "; ".join(
    [_lr(FACTORY_DEFAULTS.lr)] + [f"{_lr(d.lr)} for {a}" for a, d in ARCH_DEFAULTS.items() if d.lr != FACTORY_DEFAULTS.lr]
)


@click.command(cls=TrainCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="siamese-train")
@click.option(
    "--examples",
    type=click.Path(file_okay=False, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_examples,
    help="Copy a few embedded images (two classes: DIR/a1.png ... DIR/b3.png) into DIR for `siamese verify`, and exit.",
)
@click.option(
    "--preset",
    type=click.Choice(["omniglot"]),
    default=D["preset"],
    help="A tested recipe (architecture, size, loss, augmentation, schedule); flags given explicitly override it.",
)
@click.option(
    "--recipe",
    "recipe_mode",
    type=click.Choice(["auto", "off"]),
    default="auto",
    show_default=True,
    help="auto: read the image folder (sizes, aspect, colour, strokes or photos, classes) and pick size, resize, "
    "augmentation, loss, batch shape and schedule, printed with reasons; off: the fixed defaults. Flags you pass win; "
    "--preset and --resume use no recipe.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=D["data"],
    help="Image folder, one leaf folder per class (class/img.png or Alphabet/character/img.png), or a CSV table: "
    "text,label | dialog,label | a,b,label (pairs) | anchor,positive,negative (triplets); see docs/training.md. Default: the embedded Omniglot subset.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Run directory: model.pt and metrics.json go here.",
)
@click.option(
    "--loss",
    type=click.Choice(["contrastive", "triplet", "ntxent"]),
    default=D["loss"],
    show_default=True,
    help="contrastive (pairs), triplet (mined triplets) or ntxent (softmax over the batch's negatives per positive pair).",
)
@click.option(
    "--arch",
    default=D["arch"],
    show_default=True,
    metavar="NAME|MODULE:FACTORY",
    help="Encoder: convnet4 (small 4-block CNN), koch (Koch et al. 2015, 105 px), signet (SigNet, signatures), signet-small (compact SigNet for CPUs), "
    "or package.module:factory returning any torch nn.Module (its classifier removed, projected to the embedding).",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=str),
    default=D["weights"],
    help="Local state_dict file for a package.module:factory backbone (loaded weights-only; nothing is downloaded).",
)
@click.option(
    "--backbone-lr-mult",
    type=click.FloatRange(min=0),
    default=D["backbone_lr_mult"],
    show_default=True,
    help="The backbone (everything before the embedding layer) trains at --lr x this; the embedding head at --lr.",
)
@click.option(
    "--freeze-epochs",
    type=click.IntRange(min=0),
    default=D["freeze_epochs"],
    show_default=True,
    help="Freeze the backbone (eval mode, no gradient) for the first N epochs while the head warms up, then train it.",
)
@click.option(
    "--freeze-bn",
    is_flag=True,
    default=D["freeze_bn"],
    help="Keep the backbone's BatchNorm running statistics as loaded (eval mode); their affine weights still train.",
)
@click.option(
    "--mean",
    callback=_floats,
    default=D["mean"],
    metavar="M[,M,M]",
    help="Input normalisation mean per channel on [0, 1] pixels (recorded in the bundle). Default: the factory's declared mean, else 0.5.",
)
@click.option(
    "--std",
    callback=_floats,
    default=D["std"],
    metavar="S[,S,S]",
    help="Input normalisation std per channel (e.g. ImageNet's 0.229,0.224,0.225). Default: the factory's declared std, else 0.5.",
)
@click.option(
    "--head",
    type=click.Choice(["metric", "learned"]),
    default=D["head"],
    show_default=True,
    help="metric: the --metric distance decides; learned: |a-b| -> FC -> sigmoid trained with BCE on pairs, scores are p(same).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=D["epochs"], show_default=True)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=D["embedding_dim"], show_default=True)
@click.option(
    "--normalize/--no-normalize", default=D["normalize"], help="L2-normalise embeddings. Default: on for triplet and ntxent, off for contrastive."
)
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default=D["metric"], show_default=True)
@click.option(
    "--margin",
    type=click.FloatRange(min=0, min_open=True),
    default=D["margin"],
    help="Loss margin. Default: 2.0 contrastive, 0.2 triplet.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=D["temperature"],
    show_default=True,
    help="Softmax temperature of --loss ntxent (on cosine similarities).",
)
@click.option(
    "--mining",
    type=click.Choice(["all", "semihard", "batch_hard"]),
    default=D["mining"],
    show_default=True,
    help="Triplet mining in the batch.",
)
@click.option("--p", "p", type=click.IntRange(min=2), default=D["p"], show_default=True, help="Classes per batch.")
@click.option("--k", "k", type=click.IntRange(min=2), default=D["k"], show_default=True, help="Images per class in a batch.")
@click.option(
    "--groups-per-batch",
    type=click.IntRange(min=1),
    default=D["groups_per_batch"],
    help="Draw each batch's P classes from this many groups (parent folders, e.g. alphabets): sibling negatives.",
)
@click.option("--batches-per-epoch", type=click.IntRange(min=1), default=D["batches_per_epoch"], help="Default: train images // (P*K).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=D["lr"], help=f"AdamW learning rate. Default: {LR_DEFAULTS}.")
@click.option(
    "--size",
    default=D["size"],
    metavar="N|H,W",
    help=f"Input size in px: N (square), H,W or HxW (height first, e.g. 112,92). Default: {SIZE_DEFAULTS}.",
)
@click.option(
    "--resize",
    type=click.Choice(["stretch", "letterbox", "crop"]),
    default=D["resize"],
    show_default=True,
    help="How images meet --size: stretch (aspect ratio lost), letterbox (fit inside, centred, padded with --fill) "
    "or crop (cover, centre crop). The bundle records it; every runtime does the same.",
)
@click.option(
    "--fill",
    type=click.IntRange(0, 255),
    default=D["fill"],
    show_default=True,
    help="--resize letterbox: the raw pixel value (0..255, every channel) of the padding, before normalisation.",
)
@click.option(
    "--ink",
    type=click.Choice(["none", "normalize-crop"]),
    default=D["ink"],
    show_default=True,
    help="Grey strokes: normalize-crop makes the paper white, stretches the ink to black and crops to the ink box "
    "before --resize (so paper and scanner brightness carry no identity); the bundle records it. The recipe picks "
    "it for wide, detailed strokes (signatures, words).",
)
@click.option("--channels", type=click.Choice(["1", "3"]), default=_choice("channels"), show_default=True, help="1 = grayscale, 3 = RGB.")
@click.option(
    "--width",
    type=click.IntRange(min=4),
    default=D["width"],
    help="Channels per block (convnet4, default 64), of SigNet's first conv (others scale with it; default 96), "
    "or token and LSTM size (CSV text/dialog, default 64).",
)
@click.option(
    "--max-length", type=click.IntRange(min=1), default=D["max_length"], help="CSV text/dialog: tokens kept per item. Default: 64 text, 128 dialog."
)
@click.option(
    "--vocab-size",
    type=click.IntRange(min=4),
    default=D["vocab_size"],
    help="CSV text/dialog: vocabulary cap. Default: 8000 subword pieces (unigram may learn fewer), 20000 words (--tokenizer word).",
)
@click.option(
    "--tokenizer",
    type=click.Choice(["unigram", "bpe", "wordpiece", "word"]),
    default=D["tokenizer"],
    show_default=True,
    help="CSV text/dialog: a subword tokenizer (Hugging Face tokenizers, trained on the training text; digits split "
    "one by one) or word: whole words, unknown ones all <unk>.",
)
@click.option("--cased", is_flag=True, default=D["cased"], help="CSV text/dialog: keep case (default: fold to lower case).")
@click.option(
    "--token-dropout",
    type=click.FloatRange(0.0, 0.5),
    default=D["token_dropout"],
    show_default=True,
    help="CSV text/dialog: share of each training item's tokens dropped at random (augmentation).",
)
@click.option(
    "--pool",
    type=click.Choice(["mean", "max", "meanmax"]),
    default=D["pool"],
    show_default=True,
    help="CSV text: how the BiLSTM's outputs become one vector (mean, max, or both side by side).",
)
@click.option(
    "--in-batch-negatives",
    is_flag=True,
    default=D["in_batch_negatives"],
    help="Pairs CSV: also train each row's a against the next row's b in the batch as a different pair.",
)
@click.option(
    "--norm",
    type=click.Choice(["batch", "group", "lrn"]),
    default=D["norm"],
    help="Normalisation. convnet4: batch (default) or group (batch-independent; exact multi-process training on CPU); "
    "signet: lrn (default, the paper's local response normalisation) or batch (BatchNorm, folded away at export: faster).",
)
@click.option("--pseudo", is_flag=True, default=D["pseudo"], help="Pseudo-Siamese: two branches with unshared weights, --data (branch a) and --data-b.")
@click.option(
    "--data-b",
    type=click.Path(path_type=str),
    default=D["data_b"],
    help="Branch b's image folder (pseudo-Siamese): the same class names as --data, another domain (e.g. sketches).",
)
@click.option("--arch-b", default=D["arch_b"], metavar="NAME|MODULE:FACTORY", help="Branch b's encoder (default: --arch).")
@click.option("--size-b", default=D["size_b"], metavar="N|H,W", help="Branch b's input size in px, as --size (default: its arch's).")
@click.option("--channels-b", type=click.Choice(["1", "3"]), default=_choice("channels_b"), help="Branch b's channels (default: --channels).")
@click.option(
    "--rotate-classes/--no-rotate-classes",
    default=D["rotate_classes"],
    show_default=True,
    help="Add each class rotated by 90/180/270 degrees as three new classes (Omniglot-style).",
)
@click.option(
    "--select",
    type=click.Choice(["auc", "oneshot", "last"]),
    default=D["select"],
    show_default=True,
    help="What picks best.pt: validation ROC AUC, 20-way 1-shot accuracy, or last (the last epoch: for a validation "
    "set too small to choose by; *best then marks the best validation AUC so far).",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=D["patience"],
    help="Stop after this many epochs without a better --select metric. Default: never; 2 for CSV text/dialog runs.",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=D["val_fraction"],
    show_default=True,
    help="Fraction of classes held out for validation (never seen in training); of the rows, for a pairs/triplets CSV.",
)
@click.option(
    "--augment",
    is_flag=False,
    flag_value=DEFAULT_AUGMENT,
    default=D["augment"],
    metavar="strokes|photos|none",
    help="Augmentation family: strokes (handwriting, signatures: rotation/scale/shift, --thickness), photos (faces, "
    f"objects: flip, resized crop, small rotation, brightness/contrast/gamma), none. Bare --augment: {DEFAULT_AUGMENT}. "
    f"Default: {DEFAULT_AUGMENT}.",
)
@click.option("--no-augment", is_flag=True, help="The same as --augment none.")
@click.option(
    "--thickness",
    type=click.FloatRange(0, 1),
    default=D["thickness"],
    show_default=True,
    help="Stroke-width augmentation: blend each image with its 3x3 dilation or erosion by up to this weight (with --augment strokes).",
)
@click.option("--seed", type=int, default=D["seed"], show_default=True, help="Seeds weights, sampling and augmentation (and the split, unless --split-seed).")
@click.option(
    "--split-seed",
    type=int,
    default=D["split_seed"],
    help="Seed of the train/validation split only (default: --seed). Ensemble members share it: --seed 1 --split-seed 0.",
)
@click.option("--device", default=D["device"], show_default=True, help="torch device (cpu, cuda, cuda:1).")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=D["threads"],
    help="torch CPU threads. Default: the CPUs not busy with other work (at most 8; split between torchrun processes).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=D["workers"],
    show_default=True,
    help="DataLoader worker processes decoding images (use for folders too large to preload; see docs/training.md).",
)
@click.option(
    "--time-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=D["time_budget"],
    metavar="MINUTES",
    help="Size the recipe's schedule to fill this many minutes of training, from a few timed training steps on this "
    "machine (recorded with the schedule). Default: the batches the data needs, capped at 15 minutes.",
)
@click.option(
    "--search",
    type=click.IntRange(min=0),
    default=D["search"],
    show_default=True,
    metavar="TRIALS",
    help="Spend half the time budget on this many Optuna trials over the recipe's learning rate, width, size and "
    "temperature, scored on the validation classes (cross-validated over identities when they are fewer than 10), "
    "pruned by a median rule; the winner trains. Needs the tune extra.",
)
@click.option(
    "--init",
    type=click.Path(path_type=str),
    default=D["init"],
    metavar="RUN_DIR|CHECKPOINT",
    help="Start a new run from an earlier run's encoder weights (a run folder's best.pt, or a checkpoint): its "
    "architecture, size, channels and preprocessing come with it (a flag that contradicts them is refused); loss, "
    "head, optimizer and schedule start fresh. Pretrain on a larger set of the domain, then fine-tune on yours.",
)
@click.option(
    "--compatible-with",
    type=click.Path(exists=True, path_type=str),
    default=D["compatible_with"],
    metavar="OLD",
    help="Train embeddings comparable with an older model's (run folder, checkpoint or bundle): galleries it enrolled "
    "are searched by the new bundle without re-enrolling. Its embedding size, metric and normalisation carry over.",
)
@click.option(
    "--map-from",
    type=click.Path(exists=True, path_type=str),
    default=D["map_from"],
    metavar="OLD",
    help="After training, learn a small old -> new embedding map on the training images (OLD: run folder, checkpoint "
    "or bundle); the bundle ships it so siamese gallery upgrade --map converts old galleries without images.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out after its last completed epoch with its saved settings; --epochs (re-plans the "
    "schedule), --patience, --device, --threads, --workers apply, any other flag that differs is refused.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(
    preset: str | None, recipe_mode: str, data: Path | None, out: Path, channels: str, resume: bool, quiet: bool, **kwargs: Any
) -> None:
    """Train an encoder; writes RUN_DIR/model.pt (last epoch) and RUN_DIR/best.pt (best validation) after every epoch, atomically.

    Without --preset or --recipe off, the recipe reads the data first and picks size, augmentation, loss
    (NT-Xent for most folders), batch shape and schedule, printing each pick and why; flags you pass win.
    An epoch's line ends with *best when its validation --select metric is the best so far (with --select
    last: its validation AUC; best.pt is then the last epoch).

    \b
    Examples:
      siamese-train --out runs/demo                      # embedded Omniglot subset; the recipe picks (NT-Xent)
      siamese-train --data faces/ --out runs/faces --loss triplet --mining batch_hard --epochs 30
      siamese-train --preset omniglot --data omniglot/train --out runs/omniglot
      siamese-train --out runs/demo --resume --epochs 20 # continue an interrupted or finished run
      siamese-train --data questions.csv --out runs/text # text,label | dialog,label | a,b,label | anchor,positive,negative
      torchrun --nproc-per-node 2 -m siamese_trainer.cli --out runs/ddp   # DistributedDataParallel
    Then: siamese-export runs/demo      # the run folder: its best.pt -> runs/demo/bundle
    """
    try:
        _run(preset, recipe_mode, data, out, channels, resume, quiet, kwargs)
    except KeyboardInterrupt:
        _interrupted(out)


def _run(
    preset: str | None, recipe_mode: str, data: Path | None, out: Path, channels: str, resume: bool, quiet: bool, kwargs: dict[str, Any]
) -> None:
    require_extra("torch")
    from .train import TrainConfig, train

    ctx = click.get_current_context()
    source = click.core.ParameterSource.COMMANDLINE
    given = {n for n in ctx.params if ctx.get_parameter_source(n) == source} - {"out", "resume", "quiet", "recipe_mode"}
    if kwargs.pop("no_augment"):  # the old spelling of --augment none
        if kwargs["augment"] not in (None, "none"):
            raise click.UsageError(f"--augment {kwargs['augment']} and --no-augment contradict each other; pass one")
        kwargs["augment"] = "none"
        given = (given - {"no_augment"}) | {"augment"}
    if preset is not None:  # the preset fills every flag the user did not type
        kwargs = {k: v for k, v in kwargs.items() if k in given}
        if ctx.get_parameter_source("channels") == click.core.ParameterSource.COMMANDLINE:
            kwargs["channels"] = int(channels)
    else:
        kwargs["channels"] = int(channels)
    if kwargs.get("channels_b") is not None:
        kwargs["channels_b"] = int(kwargs["channels_b"])
    kwargs["data"] = None if data is None else str(data)
    if kwargs.get("init") and not resume:  # the earlier encoder's fields count as typed: the recipe leaves them
        from .pretrained import INHERITED, inherit

        kwargs = inherit(kwargs, given)
        given |= set(INHERITED)
    config = TrainConfig.from_preset(preset, out=str(out), **kwargs)
    is_main = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 reports
    # no recipe for a run folder that train() refuses (it holds a run: pass --resume) or bad flags
    for flag in ("time_budget", "search"):
        if kwargs.get(flag) and (preset is not None or recipe_mode == "off"):
            mode = f"--preset {preset}" if preset else "--recipe off"
            raise InputError(f"--{flag.replace('_', '-')} tunes the recipe's picks and schedule; {mode} has its own: drop one")
    if preset is None and recipe_mode == "auto" and not resume and not (out / "model.pt").exists():
        config.resolved()  # bad flags fail before the recipe reads the data
        from .recipe import apply

        config = TrainConfig(**apply(kwargs, given, click.echo if is_main else lambda _: None), out=str(out))
    path = train(config, resume=resume, log=click.echo, progress=not quiet, given=given)
    if is_main:
        click.echo(f"checkpoint: {path} (best validation epoch: {path.parent / 'best.pt'})")


if __name__ == "__main__":
    main()
