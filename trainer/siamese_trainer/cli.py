"""``siamese-train``: train a Siamese (contrastive) or Triplet encoder on an image folder.

Needs the ``train`` extra; without it the command says so in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from siamese_sdk.cli import FriendlyCommand
from siamese_sdk.errors import require_extra


@click.command(cls=FriendlyCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--preset",
    type=click.Choice(["omniglot"]),
    default=None,
    help="A tested recipe (architecture, size, loss, augmentation, schedule); flags given explicitly override it.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Image folder, one leaf folder per class (class/img.png or Alphabet/character/img.png), or a CSV table: "
    "text,label | dialog,label | a,b,label (pairs) | anchor,positive,negative (triplets); see README. Default: the embedded Omniglot subset.",
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
    default="contrastive",
    show_default=True,
    help="contrastive (pairs), triplet (mined triplets) or ntxent (softmax over the batch's negatives per positive pair).",
)
@click.option(
    "--arch",
    default="convnet4",
    show_default=True,
    metavar="NAME|MODULE:FACTORY",
    help="Encoder: convnet4 (small 4-block CNN), koch (Koch et al. 2015, 105 px), signet (SigNet, signatures), "
    "or package.module:factory returning any torch nn.Module (its classifier removed, projected to the embedding).",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Local state_dict file for a package.module:factory backbone (loaded weights-only; nothing is downloaded).",
)
@click.option(
    "--head",
    type=click.Choice(["metric", "learned"]),
    default="metric",
    show_default=True,
    help="metric: the --metric distance decides; learned: |a-b| -> FC -> sigmoid trained with BCE on pairs, scores are p(same).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--embedding-dim", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--normalize/--no-normalize", default=None, help="L2-normalise embeddings. Default: on for triplet and ntxent, off for contrastive."
)
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default="euclidean", show_default=True)
@click.option(
    "--margin",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Loss margin. Default: 2.0 contrastive, 0.2 triplet.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=0.1,
    show_default=True,
    help="Softmax temperature of --loss ntxent (on cosine similarities).",
)
@click.option(
    "--mining",
    type=click.Choice(["all", "semihard", "batch_hard"]),
    default="semihard",
    show_default=True,
    help="Triplet mining in the batch.",
)
@click.option("--p", "p", type=click.IntRange(min=2), default=16, show_default=True, help="Classes per batch.")
@click.option("--k", "k", type=click.IntRange(min=2), default=4, show_default=True, help="Images per class in a batch.")
@click.option(
    "--groups-per-batch",
    type=click.IntRange(min=1),
    default=None,
    help="Draw each batch's P classes from this many groups (parent folders, e.g. alphabets): sibling negatives.",
)
@click.option("--batches-per-epoch", type=click.IntRange(min=1), default=None, help="Default: train images // (P*K).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="AdamW learning rate. Default: 1e-3; 1e-4 for signet.")
@click.option(
    "--size",
    type=click.IntRange(min=8),
    default=None,
    help="Input size in px (square). Default: 28 convnet4, 105 koch, 112 signet, 64 package.module:factory.",
)
@click.option("--channels", type=click.Choice(["1", "3"]), default="1", show_default=True, help="1 = grayscale, 3 = RGB.")
@click.option(
    "--width",
    type=click.IntRange(min=4),
    default=None,
    help="Channels per block (convnet4, default 64), of SigNet's first conv (others scale with it; default 96), "
    "or token and LSTM size (CSV text/dialog, default 64).",
)
@click.option(
    "--max-length", type=click.IntRange(min=1), default=None, help="CSV text/dialog: tokens kept per item. Default: 64 text, 128 dialog."
)
@click.option("--vocab-size", type=click.IntRange(min=4), default=20000, show_default=True, help="CSV text/dialog: vocabulary cap.")
@click.option(
    "--norm",
    type=click.Choice(["batch", "group", "lrn"]),
    default=None,
    help="Normalisation. convnet4: batch (default) or group (batch-independent; exact multi-process training on CPU); "
    "signet: lrn (default, the paper's local response normalisation) or batch (BatchNorm, folded away at export: faster).",
)
@click.option("--pseudo", is_flag=True, help="Pseudo-Siamese: two branches with unshared weights, --data (branch a) and --data-b.")
@click.option(
    "--data-b",
    type=click.Path(path_type=str),
    default=None,
    help="Branch b's image folder (pseudo-Siamese): the same class names as --data, another domain (e.g. sketches).",
)
@click.option("--arch-b", default=None, metavar="NAME|MODULE:FACTORY", help="Branch b's encoder (default: --arch).")
@click.option("--size-b", type=click.IntRange(min=8), default=None, help="Branch b's input size in px (default: its arch's).")
@click.option("--channels-b", type=click.Choice(["1", "3"]), default=None, help="Branch b's channels (default: --channels).")
@click.option(
    "--rotate-classes/--no-rotate-classes",
    default=False,
    show_default=True,
    help="Add each class rotated by 90/180/270 degrees as three new classes (Omniglot-style).",
)
@click.option(
    "--select",
    type=click.Choice(["auc", "oneshot"]),
    default="auc",
    show_default=True,
    help="Validation metric that picks best.pt: ROC AUC, or 20-way 1-shot accuracy.",
)
@click.option(
    "--patience", type=click.IntRange(min=1), default=None, help="Stop after this many epochs without a better --select metric."
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Fraction of classes held out for validation (never seen in training).",
)
@click.option("--augment/--no-augment", default=True, show_default=True, help="Random rotation/scale/shift.")
@click.option(
    "--thickness",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Stroke-width augmentation: blend each image with its 3x3 dilation or erosion by up to this weight (with --augment).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights, sampling and augmentation (and the split, unless --split-seed).")
@click.option(
    "--split-seed",
    type=int,
    default=None,
    help="Seed of the train/validation split only (default: --seed). Ensemble members share it: --seed 1 --split-seed 0.",
)
@click.option("--device", default="cpu", show_default=True, help="torch device (cpu, cuda, cuda:1).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads.")
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="DataLoader worker processes decoding images (use for folders too large to preload; see README).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out after its last completed epoch (its saved settings are used; --epochs may be raised).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def main(preset: str | None, data: Path | None, out: Path, channels: str, resume: bool, quiet: bool, **kwargs) -> None:
    """Train an encoder; writes RUN_DIR/model.pt (last epoch) and RUN_DIR/best.pt (best validation) after every epoch, atomically.

    \b
    Examples:
      siamese-train --out runs/demo                      # embedded Omniglot subset, contrastive
      siamese-train --data faces/ --out runs/faces --loss triplet --mining batch_hard --epochs 30
      siamese-train --preset omniglot --data omniglot/train --out runs/omniglot
      siamese-train --out runs/demo --resume --epochs 20 # continue an interrupted or finished run
      siamese-train --data questions.csv --out runs/text # text,label | dialog,label | a,b,label | anchor,positive,negative
      torchrun --nproc-per-node 2 -m siamese_trainer.cli --out runs/ddp   # DistributedDataParallel
    Then: siamese-export runs/demo/model.pt -o runs/demo/bundle
    """
    require_extra("torch")
    from .train import TrainConfig, train

    ctx = click.get_current_context()
    if preset is not None:  # the preset fills every flag the user did not type
        kwargs = {k: v for k, v in kwargs.items() if ctx.get_parameter_source(k) == click.core.ParameterSource.COMMANDLINE}
        if ctx.get_parameter_source("channels") == click.core.ParameterSource.COMMANDLINE:
            kwargs["channels"] = int(channels)
    else:
        kwargs["channels"] = int(channels)
    if kwargs.get("channels_b") is not None:
        kwargs["channels_b"] = int(kwargs["channels_b"])
    config = TrainConfig.from_preset(preset, data=None if data is None else str(data), out=str(out), **kwargs)
    path = train(config, resume=resume, log=click.echo, progress=not quiet)
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 reports
        click.echo(f"checkpoint: {path} (best validation epoch: {path.parent / 'best.pt'})")


if __name__ == "__main__":
    main()
