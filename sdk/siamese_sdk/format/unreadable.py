"""Image files that cannot be decoded: one error that lists them all, or a report of what was left out.

Whatever decodes image files (``pixels.to_batch``, ``tools.stream.prefetch``, the folder commands) goes on past
a file it cannot read, collects ``(path, reason)`` for each one, and then either raises
``UnreadableImagesError`` naming the first ``SHOWN`` of them and how many there are, so one run finds them all,
or, when asked to skip them (``--skip-unreadable`` on ``siamese gallery``, ``embed``, ``bench``, ``calibrate``),
leaves them out and says so with ``skipped_line``. A missing path is not "unreadable": it stops at once
(``image not found``), as a typo should.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InputError

#: how many unreadable files a message names before it only counts the rest
SHOWN = 5

#: ``(path, reason)`` of one file that could not be decoded
Failure = tuple[str, str]


class UnreadableImageError(InputError):
    """One image file that exists but cannot be decoded; ``path`` and a short ``reason``."""

    def __init__(self, message: str, path: str, reason: str):
        super().__init__(message)
        self.path, self.reason = path, reason


class UnreadableImagesError(InputError):
    """Image files that cannot be decoded: ``failed`` holds ``(path, reason)`` of every one found.

    ``skip_hint``: the message names ``--skip-unreadable`` (for commands that have it).
    """

    def __init__(self, failed: Sequence[Failure], total: int | None = None, skip_hint: bool = True):
        self.failed = tuple(failed)
        it = "it" if len(self.failed) == 1 else "them"
        fix = f"fix or remove {it}" + (f", or leave {it} out with --skip-unreadable" if skip_hint else "")
        super().__init__(f"{_count(self.failed, total)} {'is' if len(self.failed) == 1 else 'are'} unreadable: {_named(self.failed)}; {fix}")


def skipped_line(failed: Sequence[Failure], total: int | None = None) -> str:
    """The one line a command prints after leaving unreadable images out (``""`` when none were):
    ``"left out 2 of 40 images as unreadable: a.png (reason), b.png (reason)"``."""
    if not failed:
        return ""
    return f"left out {_count(failed, total)} as unreadable: {_named(failed)}"


def _count(failed: Sequence[Failure], total: int | None) -> str:
    n = len(failed)
    return f"{n}{f' of {total}' if total is not None else ''} image{'' if n == 1 and total in (None, 1) else 's'}"


def _named(failed: Sequence[Failure]) -> str:
    """The first ``SHOWN`` as ``path (reason)``, then how many more."""
    named = ", ".join(f"{path} ({reason})" for path, reason in failed[:SHOWN])
    return named + (f", and {len(failed) - SHOWN} more" if len(failed) > SHOWN else "")
