"""One-line warnings, each with its fix, when the data is too small for what a run promises.

Rules of thumb, not measurements of a given data set (``docs/training.md``): an embedding learned from fewer
than ``MIN_TRAIN_CLASSES`` classes tends to separate those classes rather than learn what tells identities
apart; thresholds calibrated on fewer than ``MIN_VAL_CLASSES`` unseen classes rest on pairs of the same few
identities (not independent), so they do not hold on the next person.
"""

from __future__ import annotations

from collections.abc import Callable

from siamese_sdk.eval.support import MIN_IDENTITIES

MIN_TRAIN_CLASSES = 20
#: the number of identities below which ``siamese_sdk.eval.support`` marks a threshold unsupported
MIN_VAL_CLASSES = MIN_IDENTITIES


def class_warnings(train_classes: int, val_classes: int, p_asked: int, p_used: int, csv: bool = False) -> list[str]:
    """The warnings for a run with these class counts and ``--p`` asked / used (classes per batch); ``csv``: the data
    is a labelled CSV (the fixes name a CSV, not class folders)."""
    out = []
    if train_classes < MIN_TRAIN_CLASSES:
        out.append(
            f"warning: only {train_classes} training classes (< {MIN_TRAIN_CLASSES}, a rule of thumb): the embedding may not "
            "generalise to identities it never saw; add classes (more identities matter more than more images each)"
        )
    if p_used < p_asked:
        out.append(
            f"warning: --p {p_asked} capped to {p_used} (the number of training classes); pass --p {p_used} or add classes"
        )
    if val_classes < MIN_VAL_CLASSES:
        out.append(
            f"warning: only {val_classes} validation classes (< {MIN_VAL_CLASSES}): thresholds calibrated on them will not hold; "
            + (
                "export with --validation CSV (a labelled CSV of classes unseen in training)"
                if csv
                else "export with --validation DIR (class folders unseen in training), or run siamese calibrate on your own data"
            )
        )
    return out


def warn_classes(
    log: Callable[[str], None], train_classes: int, val_classes: int, p_asked: int, p_used: int, csv: bool = False
) -> None:
    """Log ``class_warnings``, one line each."""
    for line in class_warnings(train_classes, val_classes, p_asked, p_used, csv):
        log(line)
