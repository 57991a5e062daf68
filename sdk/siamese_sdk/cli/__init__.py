"""``siamese``: the runtime command line (needs only the SDK install).

Each command is a thin function (parse, call the library, print) in a module of this package: ``describe``
(info), ``calibration`` (calibrate), ``embedding`` (embed, verify), ``enrol`` (gallery, search), ``evaluate`` (oneshot), ``device`` (bench,
doctor), ``serving`` (serve) and ``trust`` (keygen, sign); the shared options, error handling and the manifest summary are in ``common``. (The modules are not
named after their commands: ``siamese_sdk.cli.verify`` and friends stay the click commands, as before.)
Heavy imports happen inside commands so ``siamese --help`` stays fast.
"""

from __future__ import annotations

import click

from .. import __version__
from .calibration import calibrate
from .common import BRANCH, BUNDLE, PROVIDER, THREADS, VARIANT, FriendlyCommand, FriendlyGroup, friendly_errors, report
from .describe import info
from .device import bench, doctor
from .embedding import embed, verify
from .enrol import gallery_cmd, search
from .evaluate import oneshot
from .serving import serve
from .trust import keygen, sign


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siamese")
def main() -> None:
    """Run exported Siamese/Triplet bundles with ONNX Runtime: no torch needed.

    \b
    Examples:
      siamese info bundle/
      siamese embed bundle/ photos/ -o embeddings.npy
      siamese verify bundle/ a.png b.png --operating-point far_1e-3
      siamese gallery bundle/ enrolled/ -o gallery.npz
      siamese search bundle/ gallery.npz probe.png -k 5
      siamese calibrate bundle/ my_faces/ -o bundle-calibrated
      siamese serve bundle/ --store gallery.npz
      siamese doctor --provider cuda
      siamese keygen -o publisher && siamese sign bundle/ --key publisher.key
    """


for _command in (info, embed, gallery_cmd, search, verify, oneshot, calibrate, bench, doctor, keygen, sign, serve):
    main.add_command(_command)

__all__ = [
    "BRANCH",
    "BUNDLE",
    "PROVIDER",
    "THREADS",
    "VARIANT",
    "FriendlyCommand",
    "FriendlyGroup",
    "friendly_errors",
    "main",
    "report",
]
