"""Test-time augmentation baked into the exported encoder: one graph that embeds shifted views and averages.

``siamese-export --tta shift9`` wraps the encoder so that each image is embedded at its own position and
shifted by one pixel (of the encoder's input) in each of the 8 directions; the 9 embeddings are averaged
and, for L2-normalised encoders, re-normalised. ``shift5`` uses the 4 axis-aligned shifts. The bundle stays
one encoder graph with the usual ``(B, C, H, W) -> (B, D)`` signature, so thresholds, the int8 gate,
``verify``, ``search`` and ``oneshot`` all measure and use the averaged embedding, at ``views`` times the
encoder's cost per image. Shifted-in edges repeat the border pixel (the background of stroke images), as
the training augmentation fills them.

``--tta auto`` (the default) is a gate (``choose``): it measures the validation EER of the fp32 encoder with each
mode and ships a shifted mode only when it pays: at least ``MIN_GAIN`` EER points and ``MIN_RELATIVE_GAIN`` of the
single view's EER better, and better in at least ``MIN_SHARE`` of bootstrap resamples of the validation identities
(paired: the same draws for both, so a handful of people can show a consistent change though not a level).
Measured (docs/results/tta.md): it ships ``shift9`` on Omniglot-like 28 px strokes (held-out alphabets: +2.9
points of 20-way within-alphabet accuracy) and where a face run's validation people gain robustly (Extended Yale B offset 1: held-out
-2.25 points), and keeps one view where the gain is small or mixed (faces and signatures: -0.8 to +0.6 points).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from siamese_sdk.eval import support
from siamese_sdk.eval.metrics import equal_error_rate
from siamese_sdk.metric import get as get_metric

#: name -> (dy, dx) pixel offsets of the views, the unshifted view first
SHIFTS: dict[str, tuple[tuple[int, int], ...]] = {
    "none": ((0, 0),),
    "shift5": ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    "shift9": ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}
#: what ``--tta`` accepts: a mode, or ``auto`` (the gate picks one)
MODES = ("auto", *SHIFTS)
#: the gate: a shifted mode ships when it lowers the validation EER by at least this much (absolute: 0.1 points) ...
MIN_GAIN = 0.001
#: ... and by at least this share of the single view's EER ...
MIN_RELATIVE_GAIN = 0.05
#: ... in at least this share of bootstrap resamples of the validation identities (``support.lower_eer_share``).
#: Set on six runs (docs/results/tta.md): Omniglot 2.72 -> 2.54 % in 100 % of resamples ships (held out: +2.9
#: points of 20-way within-alphabet accuracy); Extended Yale B offset 2, 23.84 -> 22.26 % in 95.5 %, does not
#: (held out: +0.55 EER points, worse)
MIN_SHARE = 0.99
#: fewer validation identities than this cannot be resampled meaningfully: one view, unmeasured
MIN_IDENTITIES = 3
#: images per forward pass while the gate embeds the validation set
GATE_BATCH = 256
#: up to this many validation images the gate scores pairs through one (N, N) distance matrix
MATRIX_MAX_IMAGES = 4096


class ShiftTTA(torch.nn.Module):
    """``encoder`` applied to ``len(SHIFTS[mode])`` one-pixel shifts of each image, embeddings averaged.

    Input ``(B, C, H, W) float32``, output ``(B, D) float32`` (unit vectors again when ``normalize``).
    """

    def __init__(self, encoder: torch.nn.Module, mode: str, normalize: bool):
        super().__init__()
        self.encoder, self.shifts, self.normalize = encoder, SHIFTS[mode], normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.encoder(torch.cat(shifted(x, self.shifts))).reshape(len(self.shifts), x.shape[0], -1).mean(0)
        return F.normalize(e, dim=1) if self.normalize else e


def shifted(x: torch.Tensor, shifts: tuple[tuple[int, int], ...]) -> list[torch.Tensor]:
    """The views of ``x`` ``(B, C, H, W)``: view ``(dy, dx)`` reads pixel ``(i + dy, j + dx)``, the border repeated."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return [padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in shifts]


def validation_scores(
    encoder: torch.nn.Module, images: np.ndarray, pairs: tuple[np.ndarray, np.ndarray], metric: str, normalize: bool
) -> dict[str, np.ndarray]:
    """Per mode of ``SHIFTS``: ``(P,) float64`` distances (lower = closer) of the validation ``pairs`` ``(vi, vj)``
    of ``images`` ``(N, C, H, W) float32``, fp32 torch, scored with ``metric``'s numpy formula.

    Each of the 9 shifted views is embedded once; a mode averages its views (``ShiftTTA``'s arithmetic, so the
    same embeddings up to float rounding)."""
    m = get_metric(metric)
    vi, vj = pairs
    views = SHIFTS["shift9"]
    with torch.no_grad():
        per_view = [
            torch.cat([encoder(v[s : s + GATE_BATCH]) for s in range(0, len(v), GATE_BATCH)])
            for v in shifted(torch.from_numpy(images), views)
        ]
    out: dict[str, np.ndarray] = {}
    for mode, shifts in SHIFTS.items():
        e = torch.stack([per_view[views.index(s)] for s in shifts]).mean(0)
        e = (F.normalize(e, dim=1) if normalize else e).numpy()
        if len(e) <= MATRIX_MAX_IMAGES:  # all pairs of a folder: one matrix, then the pairs' entries
            d = m.numpy_matrix(e, e)[vi, vj]
        else:  # a long table's pairs, a chunk at a time
            d = np.concatenate([m.numpy_pairwise(e[vi[c : c + 65536]], e[vj[c : c + 65536]]) for c in range(0, len(vi), 65536)])
        out[mode] = m.as_distance(d)
    return out


def choose(eers: dict[str, float], share: Callable[[str], float]) -> tuple[str, str]:
    """The gate's rule: ``(mode, why)`` from the validation EERs (0-1) of each mode; ``share(mode)``: the share of
    identity resamples in which ``mode``'s EER is below one view's (``support.lower_eer_share``)."""
    best = min(SHIFTS, key=lambda k: (eers[k], len(SHIFTS[k])))
    gain = eers["none"] - eers[best]
    figures = f"validation EER {100 * eers['none']:.2f} % -> {100 * eers[best]:.2f} % with {best}"
    if best == "none" or gain < MIN_GAIN or gain < MIN_RELATIVE_GAIN * eers["none"]:
        return "none", (
            f"no shifted view lowers the validation EER {100 * eers['none']:.2f} % by >= {100 * MIN_GAIN:.1f} points "
            f"and {100 * MIN_RELATIVE_GAIN:.0f} % (best {best} {100 * eers[best]:.2f} %)"
        )
    lower = share(best)
    if lower < MIN_SHARE:
        return "none", f"{figures}, but lower in only {100 * lower:.0f} % of resamples (< {100 * MIN_SHARE:.0f} %)"
    return best, f"{figures}, lower in {100 * lower:.0f} % of resamples"


def describe(eers: dict[str, float]) -> str:
    """``none 4.10 %, shift5 3.72 %, shift9 3.55 %``."""
    return ", ".join(f"{k} {100 * v:.2f} %" for k, v in eers.items())


def gate(
    encoder: torch.nn.Module,
    images: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    pair_classes: tuple[np.ndarray, np.ndarray] | None,
    metric: str,
    normalize: bool,
    log: Callable[[str], None],
) -> tuple[str, dict[str, float], str]:
    """``--tta auto``: ``(mode, eers, why)`` on the validation ``pairs`` ``(vi, vj, same)``; ``pair_classes``: the
    class of each pair's sides (None for a pairs table: pairs are resampled). A learned head (no numpy formula)
    or fewer than ``MIN_IDENTITIES`` validation identities keep one view, unmeasured."""
    if get_metric(metric).numpy_pairwise is None:
        return "none", {}, "a learned head: the gate measures metric distances only"
    vi, vj, same = pairs
    if pair_classes is not None:
        identities = np.unique(np.concatenate(pair_classes)).size
        if identities < MIN_IDENTITIES:
            return "none", {}, f"{identities} validation identities are too few to resample (< {MIN_IDENTITIES})"
    scores = validation_scores(encoder, images, (vi, vj), metric, normalize)
    eers = {k: float(equal_error_rate(v, same)[0]) for k, v in scores.items()}
    mode, why = choose(eers, lambda m: support.lower_eer_share(scores["none"], scores[m], same, pair_classes))
    log(f"      test-time augmentation gate: {describe(eers)} -> {mode}")
    return mode, eers, why
