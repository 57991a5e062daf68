"""How sure a calibrated threshold is: the identities and pairs behind each operating point, and a bootstrap
interval over identities.

Pairs of the same two people are not independent (every pair of A's and B's photos shares A and B), so the
unit of resampling is the identity (class), not the pair: each resample draws the classes with replacement,
weights every pair by how often its classes were drawn (a genuine pair of class ``a`` by ``w_a``, an impostor
pair of ``a`` and ``b`` by ``w_a * w_b``), and recomputes the threshold and the FAR / FRR that the original
threshold achieves on the resampled set. ``BOOTSTRAP_RESAMPLES`` resamples, fixed seed, a ``LEVEL`` (90 %)
percentile interval. Pairs without identities (a CSV of pairs) are resampled pair by pair.

An operating point is *supported* when the set has at least ``MIN_IDENTITIES`` identities and, for a FAR
target ``f``, at least ``10 / f`` impostor pairs (else the threshold is set by a handful of impostor scores);
the EER point needs ``MIN_GENUINE_PAIRS`` genuine pairs, the max-accuracy point as many genuine and as many
impostor pairs. Pairs without identities (a pairs CSV) say nothing of identities: their verdict rests on the
pair counts alone. numpy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import InputError
from .metrics import _closeness, _signed, summarize

#: operating points (the manifest's threshold names) and their FAR targets (None: EER or max accuracy)
OPERATING_POINTS: dict[str, float | None] = {"eer": None, "far_1e-2": 1e-2, "far_1e-3": 1e-3, "max_accuracy": None}
#: fewer identities than this: pairs of the same few people say little about the next person
MIN_IDENTITIES = 10
#: impostor pairs needed per unit of FAR target (10 / FAR: about ten accepted impostors at the threshold)
IMPOSTORS_PER_FAR = 10.0
MIN_GENUINE_PAIRS = 10
BOOTSTRAP_RESAMPLES = 200
LEVEL = 0.90
SEED = 0
#: candidate thresholds of a resample's EER (quantiles of the scores)
EER_GRID = 4096


def threshold_support(
    scores: np.ndarray,
    same: np.ndarray,
    pair_classes: tuple[np.ndarray, np.ndarray] | None = None,
    higher_is_closer: bool = False,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
    thresholds: dict[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per operating point: ``{identities, genuine_pairs, impostor_pairs, interval, far_interval, frr_interval,
    supported, reason}``.

    ``scores``, ``same``: ``(P,)`` as in ``metrics``; ``pair_classes``: ``(P,)`` int class of each pair's two
    sides, or None (resample pairs; ``identities`` None). ``interval`` is the threshold's, ``far_interval`` /
    ``frr_interval`` what the original threshold achieves, each ``[lo, hi]`` at ``level``. ``thresholds``: the
    ones ``metrics.summarize`` gave for these scores, when the caller has them (else computed here).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    same = np.asarray(same, dtype=bool).ravel()
    gen, imp = _closeness(scores, same, higher_is_closer)  # validates
    if thresholds is None:
        _, thresholds = summarize(scores, same, higher_is_closer)
    ci, cj, identities = _units(pair_classes, scores.size)
    boot = _bootstrap(gen, imp, ci[same], cj[same], ci[~same], cj[~same], identities,
                      {k: float(_signed(v, higher_is_closer)) for k, v in thresholds.items()}, resamples, seed)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out: dict[str, dict[str, Any]] = {}
    for op, far in OPERATING_POINTS.items():
        t, fa, fr = (_interval(x, q) for x in boot[op])
        lo_hi = sorted(float(_signed(x, higher_is_closer)) for x in t)
        ok, reason = _verdict(identities, gen.size, imp.size, far, op)
        out[op] = {
            "identities": identities,
            "genuine_pairs": int(gen.size),
            "impostor_pairs": int(imp.size),
            "interval": lo_hi,
            "far_interval": fa,
            "frr_interval": fr,
            "supported": ok,
            "reason": reason,
        }
    return out


def _interval(x: np.ndarray, q: list[float]) -> list[float]:
    """``[lo, hi]`` percentiles of the measured resamples (NaN: a draw left out); ``[nan, nan]`` never: 0s if none."""
    x = x[~np.isnan(x)]
    return [float(v) for v in np.percentile(x, q)] if x.size else [0.0, 0.0]


def _verdict(identities: int | None, n_gen: int, n_imp: int, far: float | None, op: str = "") -> tuple[bool, str]:
    """Whether a set of this size supports an operating point, and why not."""
    why = []
    if identities is not None and identities < MIN_IDENTITIES:
        why.append(f"{identities} identities < {MIN_IDENTITIES}")
    if far is not None and n_imp < IMPOSTORS_PER_FAR / far:
        why.append(f"{n_imp} impostor pairs < {IMPOSTORS_PER_FAR / far:.0f} (10/FAR)")
    if far is None and n_gen < MIN_GENUINE_PAIRS:
        why.append(f"{n_gen} genuine pairs < {MIN_GENUINE_PAIRS}")
    if op == "max_accuracy" and n_imp < MIN_GENUINE_PAIRS:
        why.append(f"{n_imp} impostor pairs < {MIN_GENUINE_PAIRS}")
    return not why, "; ".join(why)


def _bootstrap(
    gen: np.ndarray,
    imp: np.ndarray,
    gi: np.ndarray,
    gj: np.ndarray,
    ii: np.ndarray,
    ij: np.ndarray,
    n_units: int | None,
    t0: dict[str, float],
    resamples: int,
    seed: int,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per operating point ``(thresholds, far at t0, frr at t0)``, each ``(resamples,)``; distances throughout."""
    og, oi = np.argsort(gen, kind="stable"), np.argsort(imp, kind="stable")
    gs, is_ = gen[og], imp[oi]
    gi, gj, ii, ij = gi[og], gj[og], ii[oi], ij[oi]
    cand = np.unique(np.concatenate([gs, is_]))
    if cand.size > EER_GRID:  # EER on a quantile grid of the scores: the interval, not the point, is measured here
        cand = np.unique(np.quantile(cand, np.linspace(0, 1, EER_GRID)))
    pos_g, pos_i = np.searchsorted(gs, cand, side="right"), np.searchsorted(is_, cand, side="right")
    at0 = {k: (np.searchsorted(gs, v, side="right"), np.searchsorted(is_, v, side="right")) for k, v in t0.items()}
    rng = np.random.default_rng(seed)
    res = {k: (np.empty(resamples), np.empty(resamples), np.empty(resamples)) for k in OPERATING_POINTS}
    for r in range(resamples):
        wg, wi = _draw(rng, n_units, gi, ii, ij, gs.size, is_.size)
        cg, cw = np.concatenate([[0.0], np.cumsum(wg)]), np.concatenate([[0.0], np.cumsum(wi)])
        ng, ni = cg[-1], cw[-1]
        if ng == 0 or ni == 0:  # a draw without genuine or impostor pairs measures nothing: left out
            for k in res:
                res[k][0][r] = res[k][1][r] = res[k][2][r] = np.nan
            continue
        far, frr = cw[pos_i] / ni, 1.0 - cg[pos_g] / ng
        for k, f in OPERATING_POINTS.items():
            if k == "max_accuracy":  # most pairs right: accepted genuine + rejected impostor weight
                t = cand[int(np.argmax(cg[pos_g] + ni - cw[pos_i]))]
            elif f is None:
                t = cand[int(np.argmin(np.abs(far - frr)))]
            else:  # loosest threshold with weighted FAR <= f: just below the first impostor that passes f
                m = int(np.searchsorted(cw[1:], f * ni * (1 + 1e-12), side="right"))
                t = float(np.nextafter(is_[m], -np.inf)) if m < is_.size else float(is_[-1])
            pg, pi = at0[k]
            res[k][0][r], res[k][1][r], res[k][2][r] = t, cw[pi] / ni, 1.0 - cg[pg] / ng
    return res


def shortfalls(same: np.ndarray, pair_classes: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, str]:
    """Operating point -> why these pairs cannot support it (no scores needed: only counts), for those they cannot."""
    same = np.asarray(same, dtype=bool).ravel()
    ids = None if pair_classes is None else int(np.unique(np.concatenate([np.ravel(c) for c in pair_classes])).size)
    out = {op: _verdict(ids, int(same.sum()), int((~same).sum()), far, op) for op, far in OPERATING_POINTS.items()}
    return {op: why for op, (ok, why) in out.items() if not ok}


#: what ``--threshold-support`` may say when a set cannot support an operating point
MODES = ("warn", "refuse")


def check_mode(mode: str) -> str:
    """``mode`` when it is one of ``MODES``; else ``InputError`` naming ``--threshold-support``."""
    if mode not in MODES:
        raise InputError(f"threshold support {mode!r} unknown; pass --threshold-support warn or refuse")
    return mode


def check(bad: dict[str, str], mode: str, subject: str, fix: str, log: Callable[[str], None]) -> None:
    """Warn about (``mode`` "warn") or refuse (``"refuse"``: ``InputError``) the operating points a set cannot
    support (``bad``: operating point -> why, from ``shortfalls``); ``subject`` names the set in the refusal."""
    check_mode(mode)
    if not bad:
        return
    what = "; ".join(f"{op}: {why}" for op, why in bad.items())
    if mode == "refuse":
        raise InputError(f"{subject} too small for thresholds ({what}); {fix}")
    log(f"warning: thresholds recorded as supported: false ({what}); {fix}")


def unsupported(support: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Operating point -> reason, for those the set cannot support."""
    return {op: s["reason"] for op, s in support.items() if not s.get("supported", True)}


def lower_eer_share(
    base: np.ndarray,
    new: np.ndarray,
    same: np.ndarray,
    pair_classes: tuple[np.ndarray, np.ndarray] | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> float:
    """Share (0-1) of bootstrap resamples in which the distances ``new`` have a lower EER than ``base``.

    ``base``, ``new``: ``(P,)`` distances (lower = closer) of the same pairs (two models or two views of one);
    ``same``, ``pair_classes``: as in ``threshold_support``. Paired: each resample weights both by the same drawn
    identities (pairs when ``pair_classes`` is None), so it measures the change, not the level, whose spread over
    the choice of people is far larger. Draws without genuine or impostor pairs count as no gain.
    """
    same = np.asarray(same, dtype=bool).ravel()
    curves = [_eer_curve(np.asarray(s, dtype=np.float64).ravel(), same) for s in (base, new)]
    ci, cj, n_units = _units(pair_classes, same.size)
    gi, ii, ij, n_gen = ci[same], ci[~same], cj[~same], int(same.sum())
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(resamples):
        wg, wi = _draw(rng, n_units, gi, ii, ij, n_gen, same.size - n_gen)
        if wg.sum() == 0 or wi.sum() == 0:
            continue
        eer_base, eer_new = (_weighted_eer(c, wg, wi) for c in curves)
        wins += eer_new < eer_base
    return wins / resamples


def _units(pair_classes: tuple[np.ndarray, np.ndarray] | None, size: int) -> tuple[np.ndarray, np.ndarray, int | None]:
    """``(class code of each pair's first side, of its second, number of classes)`` for ``size`` pairs; without
    ``pair_classes`` each pair is its own unit and the count is None. ``InputError`` if the classes do not fit."""
    if pair_classes is None:
        return np.arange(size), np.arange(size), None
    ci, cj = (np.asarray(c).ravel() for c in pair_classes)
    if ci.shape != (size,) or cj.shape != (size,):
        raise InputError("pair_classes must give one class per side of every pair")
    _, codes = np.unique(np.concatenate([ci, cj]), return_inverse=True)
    return codes[:size], codes[size:], int(codes.max()) + 1


def _draw(
    rng: np.random.Generator, n_units: int | None, gi: np.ndarray, ii: np.ndarray, ij: np.ndarray, n_gen: int, n_imp: int
) -> tuple[np.ndarray, np.ndarray]:
    """One resample's pair weights ``(genuine (n_gen,), impostor (n_imp,))``: identities drawn with replacement
    (``n_units`` of them; a genuine pair of class ``a`` weighs ``w_a``, an impostor pair ``w_a * w_b``; ``gi``, ``ii``,
    ``ij``: the pairs' classes), or with ``n_units`` None the genuine and impostor pairs themselves."""
    if n_units is not None:
        w = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units).astype(np.float64)
        return w[gi], w[ii] * w[ij]
    wg = np.bincount(rng.integers(0, n_gen, n_gen), minlength=n_gen).astype(np.float64)
    return wg, np.bincount(rng.integers(0, n_imp, n_imp), minlength=n_imp).astype(np.float64)


def _eer_curve(d: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(genuine order, impostor order, positions of the candidate thresholds in each)`` of distances ``d``."""
    gen, imp = d[same], d[~same]
    og, oi = np.argsort(gen, kind="stable"), np.argsort(imp, kind="stable")
    cand = np.unique(d)
    if cand.size > EER_GRID:
        cand = np.unique(np.quantile(cand, np.linspace(0, 1, EER_GRID)))
    return og, oi, np.searchsorted(gen[og], cand, side="right"), np.searchsorted(imp[oi], cand, side="right")


def _weighted_eer(curve: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], wg: np.ndarray, wi: np.ndarray) -> float:
    """The EER of one ``_eer_curve`` with pair weights ``wg`` (genuine) and ``wi`` (impostor), in pair order."""
    og, oi, pos_g, pos_i = curve
    cg, cw = np.concatenate([[0.0], np.cumsum(wg[og])]), np.concatenate([[0.0], np.cumsum(wi[oi])])
    far, frr = cw[pos_i] / cw[-1], 1.0 - cg[pos_g] / cg[-1]
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2)
