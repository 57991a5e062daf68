"""The gates every derived variant passes, and the profile each target gets: one place for every model kind.

1. **AUC gate**: a derived variant (int8, fp16, fp16-fixed, w8a16-fixed) ships only if its validation AUC is
   within ``MAX_AUC_DROP`` of fp32's.
2. **Speed gate** (variants marked ``speed_gate`` in ``variants.VARIANTS``: int8): timed against fp32 at
   batch 64 on this CPU, it must reach ``INT8_MIN_SPEEDUP``. The timing speaks only for the targets in
   ``SPEED_GATED_TARGETS`` (the exporting CPU); a slower variant that another requested target wants (int8
   for openvino) is kept for that target and only the cpu profile falls back to fp32.
3. **Profiles**: each requested target's variant, or fp32 with a note when its own was not shipped.

With several encoders (two-branch bundles) the speed gate takes the slowest branch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import onnxruntime as ort
from siamese_sdk.errors import InputError
from siamese_sdk.format.manifest import Profile, Variant
from siamese_sdk.profiles import TARGETS

from .onnx.graphs import INPUT_NAME

#: every derived variant ships only within this validation AUC drop of fp32
MAX_AUC_DROP = 0.005
INT8_MAX_AUC_DROP = MAX_AUC_DROP
#: int8 must be at least this fast relative to fp32 (1.0 = not slower; a 3 % allowance absorbs timer noise)
INT8_MIN_SPEEDUP = 0.97
#: the targets the speed gate decides: it times the exporting CPU with the CPU provider
SPEED_GATED_TARGETS = ("cpu",)
SPEEDUP_KEY = "speedup_vs_fp32_b64"


def check_profiles(profiles: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The requested profile names, stripped, lower-cased, deduplicated (default ``("cpu",)``); ``InputError`` if unknown."""
    names = tuple(dict.fromkeys(p.strip().lower() for p in profiles if p.strip())) or ("cpu",)
    unknown = [p for p in names if p not in TARGETS]
    if unknown:
        raise InputError(f"profile(s) {unknown} unknown; expected any of {list(TARGETS)} (repeat --profile or give a comma list)")
    return names


def targets_of(variant: str) -> str:
    """The targets (comma list) whose profile runs ``variant``."""
    return ", ".join(t.name for t in TARGETS.values() if t.variant == variant)


def speedup(
    root: Path, variants: dict[str, Variant], images: np.ndarray | dict[str, np.ndarray], rounds: int = 7, variant: str = "int8"
) -> float:
    """fp32 time / ``variant`` time for one batch of 64, interleaved rounds, medians (robust to a noisy CPU).

    ``images``: image inputs (resized to a batch of 64), or a ready feed of 64 items (token inputs).
    """
    feed = images if isinstance(images, dict) else {INPUT_NAME: np.ascontiguousarray(np.resize(images, (64, *images.shape[1:])))}
    sessions = {
        n: ort.InferenceSession(
            str(root / variants[n].file), providers=["CPUExecutionProvider"], disabled_optimizers=variants[n].disabled_optimizers
        )
        for n in ("fp32", variant)
    }
    times: dict[str, list[float]] = {n: [] for n in sessions}
    for s in sessions.values():
        s.run(None, feed)  # warm-up
    reps = 3
    for _ in range(rounds):
        for n, s in sessions.items():
            t0 = time.perf_counter()
            for _ in range(reps):
                s.run(None, feed)
            times[n].append(time.perf_counter() - t0)
    return float(np.median(times["fp32"]) / np.median(times[variant]))


def apply_gates(
    root: Path,
    profiles: tuple[str, ...],
    metrics: dict[str, dict],
    files: dict[str | None, dict[str, Variant]],
    feeds: dict[str | None, np.ndarray | dict[str, np.ndarray]],
    speed_gated: set[str],
    drop: Callable[[str], None],
    notes: list[str],
    log: Callable[[str], None],
) -> set[str]:
    """Run the AUC gate on every measured variant, then the speed gate on those in ``speed_gated``.

    ``metrics``: variant -> its validation metrics (gains ``speedup_vs_fp32_b64``; a variant not shipped is
    removed, with ``drop(name)`` called to remove its files); ``files``: encoder
    (``None`` for one-encoder bundles, else the branch) -> variant -> ``Variant`` in ``root``; ``feeds``:
    encoder -> its timing inputs; each encoder's ``Variant`` in ``files`` gains its own speed-up in its
    metrics. Returns the variants kept although slower than fp32 here.
    """
    log(f"[4/5] gating: AUC drop <= {MAX_AUC_DROP} for every variant; int8 also not slower than fp32 on this CPU")
    for name in [n for n in metrics if n != "fp32"]:
        auc_drop = metrics["fp32"]["auc"] - metrics[name]["auc"]
        if auc_drop > MAX_AUC_DROP:
            notes.append(f"{name} not shipped: validation AUC drop {auc_drop:.4f} > {MAX_AUC_DROP}")
            log(f"      {notes[-1]}")
            drop(name)
            del metrics[name]
        elif name not in speed_gated:
            log(f"      {name} ships: AUC drop {auc_drop:+.4f} (no speed gate: measured on CPU, built for {targets_of(name)})")
    slow: set[str] = set()
    for name in [n for n in metrics if n in speed_gated]:
        auc_drop = metrics["fp32"]["auc"] - metrics[name]["auc"]
        speeds = {enc: speedup(root, files[enc], feeds[enc], variant=name) for enc in files}
        for enc, v in speeds.items():
            files[enc][name].metrics[SPEEDUP_KEY] = v
        s = min(speeds.values())
        per_branch = "" if list(files) == [None] else ", ".join(f"branch {b} {v:.2f}x" for b, v in speeds.items())
        metrics[name][SPEEDUP_KEY] = s
        metrics["fp32"][SPEEDUP_KEY] = 1.0
        slower = f"{s:.2f}x the speed of fp32 at batch 64 on this CPU (slower" + (f"; {per_branch})" if per_branch else ")")
        keepers = [p for p in profiles if p not in SPEED_GATED_TARGETS and TARGETS[p].variant == name]
        if s >= INT8_MIN_SPEEDUP:
            log(
                f"      {name} ships: AUC drop {auc_drop:+.4f}, {s:.2f}x fp32 speed at batch 64"
                + (f" ({per_branch})" if per_branch else "")
            )
        elif keepers:
            slow.add(name)
            notes.append(f"{name} not used on CPU: {slower}; kept for {', '.join(keepers)}")
            log(f"      {notes[-1]}")
        else:
            notes.append(f"{name} not shipped: {slower}")
            log(f"      {notes[-1]}; shipping fp32 only")
            drop(name)
            del metrics[name]
    return slow


def choose_profiles(profiles: tuple[str, ...], shipped: Collection[str], slow: set[str]) -> dict[str, Profile]:
    """The manifest's ``profiles``: each requested target's variant (fp32 when its own was not shipped).

    A bundle that ships a speed-gated target's variant (int8) always records that target (``cpu``) too,
    since whether int8 is the CPU choice (the speed gate) must be written down for ``variant="auto"``.
    ``shipped``: the variant names shipped; ``slow``: those shipped although slower than fp32 here (not used by ``SPEED_GATED_TARGETS``).
    """
    extra = [t for t in SPEED_GATED_TARGETS if TARGETS[t].variant in shipped and t not in profiles]
    out = {}
    for name in [*profiles, *extra]:
        target = TARGETS[name]
        too_slow = name in SPEED_GATED_TARGETS and target.variant in slow
        if target.variant in shipped and not too_slow:
            out[name] = Profile(variant=target.variant, providers=target.providers, notes=target.notes)
        else:
            why = "slower than fp32 on the exporting CPU" if too_slow else "not shipped, see notes"
            out[name] = Profile(variant="fp32", providers=target.providers, notes=f"fp32: {target.variant} {why}")
    return out
