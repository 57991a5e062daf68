"""Which calibrated threshold a bundle decides with by default (manifest ``default_operating_point``).

The rule: ``eer`` (false accepts and false rejects equally likely), except for a pairs CSV (``a,b,label``)
whose validation pairs are imbalanced, i.e. whose genuine share lies outside ``BALANCED`` (40-60 %): there
the given pairs are a sample of what the model will be asked, and ``max_accuracy`` (the threshold that
decides most validation pairs right) is the point a user of such data expects. On 2/3 genuine pairs the
EER point rejects about a third of the genuine ones, falling below always answering "same"; the
max-accuracy point leans to the majority instead. Class folders and labelled/triplet CSVs build their
validation pairs (all pairs of held-out classes; one genuine and one impostor per triplet), so their
balance says nothing about deployment: ``eer`` there. Users pick any other point with ``operating_point=``.
"""

from __future__ import annotations

import numpy as np

#: genuine share of the validation pairs still called balanced (inclusive)
BALANCED = (0.4, 0.6)


def default_operating_point(same: np.ndarray, layout: str | None) -> str:
    """``max_accuracy`` for an imbalanced pairs CSV (``layout == "pairs"``), else ``eer``; ``same``: ``(P,) bool``."""
    share = float(np.mean(same)) if np.size(same) else 0.5
    if layout == "pairs" and not BALANCED[0] <= share <= BALANCED[1]:
        return "max_accuracy"
    return "eer"


def describe(op: str, metrics: dict[str, float], same: np.ndarray) -> str:
    """One log line: the default point with its validation accuracy and the share of pairs it accepts."""
    share = float(np.mean(same))
    if f"accuracy_at_{op}" not in metrics:
        return f"default operating point: {op}"
    return (
        f"default operating point: {op} (validation: {share:.1%} genuine pairs; accuracy {metrics[f'accuracy_at_{op}']:.1%}, "
        f"{metrics[f'accepted_at_{op}']:.1%} of pairs accepted; majority answer {max(share, 1 - share):.1%})"
    )
