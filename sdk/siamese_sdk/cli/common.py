"""The CLI machinery shared by ``siamese``, ``siamese-train`` and ``siamese-export``: one-line errors, the shared
options, the bundle loader of the image commands and the manifest summary (``report``).

Heavy imports (onnxruntime, numpy) happen inside commands so ``siamese --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import metric as metric_mod
from ..errors import InputError, SiameseError
from ..format.manifest import OPERATING_POINTS, VARIANTS

#: the line a Ctrl-C prints, unless the command names its own (``FriendlyCommand(interrupted=...)``)
INTERRUPTED = "interrupted; nothing was written (outputs appear only when complete): rerun the command"


class _Interrupt:
    """This process's Ctrl-C state: whether SIGINT came (``sigint_watch``) and the line the running command prints."""

    seen = False
    line = INTERRUPTED


def _on_sigint(signum: int, frame: Any) -> None:
    _Interrupt.seen = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigint_watch(line: str = INTERRUPTED) -> Iterator[None]:
    """Note every SIGINT while the block runs (as Python's default handler, it raises ``KeyboardInterrupt``), so an
    error it causes in another type (an interrupted ``import torch`` can end in ``ImportError``) is an interrupt
    too; restores the previous handler. A handler set by the caller is left alone, as outside the main thread."""
    _Interrupt.seen, _Interrupt.line = False, line
    mine = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if mine:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    except SystemExit as e:
        if _Interrupt.seen and e.code != 130:  # click's own "Aborted!" (a Ctrl-C in click's code around the command)
            _exit_interrupted()
        raise
    finally:
        if mine:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        _Interrupt.seen = False


def _exit_interrupted() -> NoReturn:
    """Print the running command's Ctrl-C line and exit 130 (a second Ctrl-C is ignored meanwhile)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is _on_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # sigint_watch puts the default handler back
    click.echo(_Interrupt.line, err=True)
    sys.exit(130)


class _Interruptible:
    """``main`` and ``make_context`` of the friendly commands: SIGINT is watched for the whole run, and a Ctrl-C
    while the arguments are parsed prints the interrupt line too (not click's ``Aborted!``)."""

    interrupted = INTERRUPTED

    def main(self, *args: Any, **kwargs: Any) -> Any:
        with sigint_watch(self._interrupt_line(args[0] if args else kwargs.get("args"))):
            return super().main(*args, **kwargs)  # type: ignore[misc]

    def _interrupt_line(self, args: Any) -> str:
        """The Ctrl-C line of this run: a group's is its command's, found in ``args`` (default: ``sys.argv[1:]``)."""
        commands = getattr(self, "commands", {})
        words = sys.argv[1:] if args is None else list(args)
        cmd = next((commands[w] for w in words if isinstance(w, str) and w in commands), None)
        return getattr(cmd, "interrupted", self.interrupted)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)  # type: ignore[misc]
        except KeyboardInterrupt:
            _exit_interrupted()


class FriendlyGroup(_Interruptible, click.Group):
    """A click group that turns the package's errors into one-line messages and exit code 1, and a Ctrl-C
    anywhere in it (its commands' imports included) into the ``INTERRUPTED`` line (or the command's) and exit 130."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        _Interrupt.line = getattr(cmd, "interrupted", INTERRUPTED)  # from here on, a Ctrl-C prints the command's line
        return name, cmd, rest

    def invoke(self, ctx: click.Context) -> Any:
        return friendly_errors(super().invoke, ctx)


class FriendlyCommand(_Interruptible, click.Command):
    """A click command with the same error handling as ``FriendlyGroup``; ``interrupted``: its Ctrl-C line,
    naming how to continue (default ``INTERRUPTED``)."""

    def __init__(self, *args: Any, interrupted: str = INTERRUPTED, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.interrupted = interrupted

    def invoke(self, ctx: click.Context) -> Any:
        return friendly_errors(super().invoke, ctx, interrupted=self.interrupted)


def friendly_errors(fn: Callable[..., Any], *args: Any, interrupted: str | None = None) -> Any:
    """Run ``fn``; print our errors (and OS errors) as ``Error: ...`` in one line, exit 1, no traceback.

    A Ctrl-C (a ``KeyboardInterrupt``, or any error raised after a SIGINT that ``sigint_watch`` saw) prints
    ``interrupted`` (default: the running command's line) and exits 130.
    """
    if interrupted is not None:
        _Interrupt.line = interrupted
    try:
        return fn(*args)
    except KeyboardInterrupt:
        _exit_interrupted()
    except click.exceptions.Exit:
        raise
    except SiameseError as e:
        if _Interrupt.seen:
            _exit_interrupted()
        raise click.ClickException(str(e)) from None
    except OSError as e:
        if _Interrupt.seen:
            _exit_interrupted()
        raise click.ClickException(
            f"{e.strerror or e} ({e.filename or ''}); check the path, free space and permissions"
        ) from None
    except Exception:
        if _Interrupt.seen:
            _exit_interrupted()
        raise


BUNDLE = click.argument("bundle", type=click.Path(path_type=Path))
VARIANT = click.option(
    "--variant",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *VARIANTS]),
    help="Encoder variant (auto: the bundle's profile for the first provider).",
)
PROVIDER = click.option(
    "--provider",
    "providers",
    multiple=True,
    metavar="NAME",
    help="Execution provider, repeatable, in priority order (cpu, cuda, ...). Default: cpu.",
)
THREADS = click.option("--threads", type=click.IntRange(min=1), default=None, help="Intra-op threads (default: all cores).")
BATCH_SIZE = click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
SKIP_UNREADABLE = click.option(
    "--skip-unreadable",
    is_flag=True,
    help="Leave out images that cannot be decoded, saying how many and which (default: stop, naming them all).",
)
#: the calibrated thresholds a bundle ships, by operating point


def threshold_support_option(subject: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--threshold-support warn|refuse`` (``eval.support.MODES``): what to do when ``subject`` cannot support a threshold."""
    from ..eval.support import MODES

    return click.option(
        "--threshold-support",
        type=click.Choice(list(MODES)),
        default="warn",
        show_default=True,
        help=f"When {subject} is too small for an operating point (fewer than 10 identities, or fewer than 10/FAR "
        "impostor pairs): warn and record the threshold as supported: false, or refuse.",
    )


def operating_point(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--operating-point`` option (one of ``OPERATING_POINTS``, default: the bundle's), with its command's help."""
    return click.option("--operating-point", default=None, type=click.Choice(list(OPERATING_POINTS)), help=help)


BRANCH = click.option(
    "--branch",
    type=click.Choice(["a", "b"]),
    default=None,
    help="Pseudo-Siamese bundles: the branch (encoder) that embeds these images (required there).",
)


_KEYS = "siamese.trusted_keys"


def _remember_keys(ctx: click.Context, _param: click.Parameter, value: tuple[Path, ...]) -> None:
    ctx.meta[_KEYS] = list(value) if value else None


#: ``--trusted-key PATH`` (repeatable) on the commands that load a bundle: ``load_model`` and ``trusted_keys``
#: read it from the click context, so the commands' signatures do not carry it.
TRUSTED_KEY = click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    metavar="PATH",
    type=click.Path(path_type=Path),
    expose_value=False,
    callback=_remember_keys,
    help="Refuse the bundle unless one of these public keys (.pub, or a directory of them) signed it; "
    "repeatable. Default: SIAMESE_TRUSTED_KEYS or ~/.config/siamese/trusted_keys/, else no signature check.",
)


def trusted_keys() -> list[Path] | None:
    """The current command's ``--trusted-key`` paths; None when none was given (then the configured ones apply)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_KEYS) if ctx is not None else None


def load_model(bundle: Path, variant: str, providers: tuple[str, ...], threads: int | None, images_only: bool = True) -> Any:
    """Load ``bundle`` for a command (checked against ``--trusted-key``, else the configured trusted keys);
    ``images_only``: refuse text/dialog bundles, naming the command."""
    from ..runtime.model import load

    model = load(bundle, variant=variant, providers=list(providers) or None, threads=threads, trusted_keys=trusted_keys())
    kinds = sorted({model.input_spec(b).kind for b in model.branches} if model.branches else {model.input.kind})
    if images_only and kinds != ["image"]:
        command = click.get_current_context().info_name
        raise InputError(
            f"siamese {command} reads image files; {bundle} is a {'/'.join(kinds)} bundle: use siamese verify or model.embed(...)"
        )
    return model


def _input_line(label: str, spec: Any) -> str:
    """One ``info`` line describing an input spec (``siamese_sdk.format.inputs``)."""
    pp = getattr(spec, "preprocess", None)
    if pp is None:
        return f"{label:<12}{spec.kind}: tokens (N, T) int64 + lengths (N,) int64, tokenizer {spec.tokenizer_file}"
    geometry = {"stretch": "", "letterbox": f" {pp.resize} (fill {pp.fill})", "crop": f" {pp.resize}"}[pp.resize]
    return (
        f"{label:<12}{spec.name} (N, {pp.channels}, {pp.size[0]}, {pp.size[1]}) float32, NCHW; "
        f"{'gray' if pp.channels == 1 else 'RGB'}, {'ink ' + pp.ink + ', ' if pp.ink != 'none' else ''}"
        f"{pp.resample}{geometry} resize, x*{pp.scale:.6g}, mean {list(pp.mean)}, std {list(pp.std)}"
    )


def report(m: Any, bundle: Path) -> str:
    """A short human-readable summary of a manifest (used by ``info`` and the demo)."""
    validated = m.validation.get("split") or (
        f"{m.validation.get('classes', '?')} unseen classes, {m.validation.get('images', '?')} images"
    )
    if "calibrated_utc" in m.validation:  # siamese calibrate: the user's own classes
        validated = f"recalibrated {m.validation['calibrated_utc']} on {m.validation.get('source', '?')}: {validated.replace(' unseen', '')}"
    inputs = [_input_line(f"input {b}", br.input_spec) for b, br in sorted(m.branches.items())]
    lines = [
        f"bundle      {bundle}",
        *(inputs or [_input_line("input", m.input_spec)]),
        f"embedding   {m.embedding_dim}-d{' (L2-normalised)' if m.normalized else ''}, metric {m.metric} "
        f"({closer(m.higher_is_closer)} score = closer)",
        f"arch        {m.provenance.get('arch', '?')}, loss {m.provenance.get('loss', '?')}"
        + (f", test-time augmentation {m.provenance['tta']}" if m.provenance.get("tta", "none") != "none" else "")
        + (f", ensemble of {len(m.provenance['ensemble'])} checkpoints" if m.provenance.get("ensemble") else ""),
        f"validation  {validated}" + ("" if "pairs" in validated else f", {m.validation.get('pairs', '?')} pairs"),
        f"{'variant':<12}{'size':>10}{'AUC':>9}{'EER':>8}{'TAR@1e-2':>10}{'TAR@1e-3':>10}   thresholds (eer / far 1e-2 / far 1e-3)",
    ]
    for name, v in m.variants.items():
        own = [br.variants[name].file for br in m.branches.values()] or [v.file]
        size = sum((bundle / f).stat().st_size for f in own if (bundle / f).exists())
        t = v.thresholds
        mm = v.metrics
        lines.append(
            f"{name + ('*' if name == m.default_variant else ''):<12}{size / 1024:>8.1f}KB{mm.get('auc', float('nan')):>9.4f}"
            f"{mm.get('eer', float('nan')):>8.4f}{mm.get('tar_at_far_1e-2', float('nan')):>10.4f}{mm.get('tar_at_far_1e-3', float('nan')):>10.4f}"
            f"   {t.get('eer', float('nan')):.4f} / {t.get('far_1e-2', float('nan')):.4f} / {t.get('far_1e-3', float('nan')):.4f}"
        )
    lines.append("            * default variant on CPU")
    lines.append(decision_line(m))
    lines += support_lines(m.default_variant, m.variants[m.default_variant].support)
    for name, prof in m.profiles.items():
        why = f" ({prof.notes})" if prof.variant == "fp32" and prof.notes else ""
        lines.append(f"profile     {name}: {prof.variant} on {', '.join(prof.providers)}{why}")
    lines += [f"note        {n}" for n in m.notes]
    return "\n".join(lines)


def decision_line(m: Any) -> str:
    """The ``info`` line of the default operating point: its threshold and, when recorded, its validation accuracy
    and the share of pairs it accepts against the genuine share (the balance of the decision)."""
    op, v = m.default_operating_point, m.variants[m.default_variant]
    line = f"{'decision':<12}{op} (default), threshold {v.thresholds.get(op, float('nan')):.4g}"
    mm = v.metrics
    if f"accuracy_at_{op}" in mm and mm.get("pairs_genuine", 0) + mm.get("pairs_impostor", 0) > 0:
        share = mm["pairs_genuine"] / (mm["pairs_genuine"] + mm["pairs_impostor"])
        line += (
            f": validation accuracy {mm[f'accuracy_at_{op}']:.1%}, {mm[f'accepted_at_{op}']:.1%} of pairs accepted, "
            f"{share:.1%} genuine (always answering the majority: {max(share, 1 - share):.1%})"
        )
    return line


def support_lines(variant: str, support: dict[str, dict]) -> list[str]:
    """One ``info`` line per operating point: the threshold's bootstrap interval, the FAR it achieves, what it rests on."""
    lines = []
    for op, s in support.items():
        ids = s.get("identities")
        lo, hi = s.get("interval", [float("nan")] * 2)
        flo, fhi = s.get("far_interval", [float("nan")] * 2)
        verdict = "" if s.get("supported", True) else f"; NOT SUPPORTED: {s.get('reason', '')}"
        who = f"{ids} identities, " if ids is not None else ""  # pairs of a CSV carry no identities
        lines.append(
            f"{'support':<12}{variant} {op}: threshold in [{lo:.4g}, {hi:.4g}], FAR in [{flo:.2e}, {fhi:.2e}] "
            f"(90% bootstrap over {'identities' if ids is not None else 'pairs'}); {who}"
            f"{s.get('genuine_pairs', '?')} genuine / {s.get('impostor_pairs', '?')} impostor pairs{verdict}"
        )
    return lines


#: how a score is named in messages, by metric (default: "<metric> distance")
_SCORE_NAMES = {"learned": "learned head p(same)"}


def score_name(metric: str) -> str:
    """``"euclidean distance"``, ``"cosine distance"`` or ``"learned head p(same)"``."""
    return _SCORE_NAMES.get(metric, f"{metric} distance")


def closer(higher_is_closer: bool) -> str:
    """``"higher"`` or ``"lower"``: which scores are closer, for messages."""
    return "higher" if higher_is_closer else "lower"


_NEGATED = {"<=": ">", ">=": "<"}


def comparison(metric: str, same: bool) -> str:
    """The comparison a score satisfied against its threshold, for messages: ``<=``/``>`` (distances), ``>=``/``<``."""
    sign = metric_mod.get(metric).sign()
    return sign if same else _NEGATED[sign]


def _finite(v: Any) -> Any:
    """``v`` with every NaN/Inf float replaced by None (JSON has no NaN), containers walked."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as strict JSON for ``--json`` output: a non-finite float prints as ``null``, never ``NaN``."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)
