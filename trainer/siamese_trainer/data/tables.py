"""Training data as CSV tables: labelled items, pairs or triplets, of texts, dialogs or images.

The header (first row; names are case-insensitive, extra columns are ignored) says what a file holds:

- ``text,label``: one text per row and its class (any string); trained with the P x K sampler.
- ``dialog,label``: one dialog per row, a JSON list of turns (``["hi", "my card is lost"]``), and its class.
- ``a,b,label``: pairs; ``label`` is 1 (same / duplicate) or 0 (different); trained with the contrastive loss.
- ``anchor,positive,negative``: triplets; trained with the triplet loss.

In pair and triplet files every cell is of one kind: a dialog (a JSON list of strings), an image path
(relative to the CSV file's folder, with an image suffix), or else a text. Any problem (empty file, a
missing column, a bad label, an empty cell, a missing image, mixed kinds, a malformed line) is one
``InputError`` naming the file, the row (the line a record starts on) and the fix. The file is read with
``csv`` over a stream opened with ``newline=""``: a quoted newline, U+2028 or U+0085 stays inside its cell,
CRLF and a UTF-8 BOM are read as such; only the whitespace around a cell is trimmed.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from siamese_sdk.errors import InputError
from siamese_sdk.tools.files import IMAGE_SUFFIXES

LAYOUTS: dict[str, tuple[str, ...]] = {
    "pairs": ("a", "b", "label"),
    "triplets": ("anchor", "positive", "negative"),
    "text": ("text", "label"),
    "dialog": ("dialog", "label"),
}
_EXPECTED = " | ".join(",".join(c) for c in LAYOUTS.values())


def is_table(data: str | Path | None) -> bool:
    """Whether ``--data`` names a CSV table (by its suffix) rather than an image folder."""
    return data is not None and str(data).lower().endswith(".csv")


@dataclass(frozen=True)
class Table:
    """A parsed CSV.

    Attributes:
        path: the CSV file.
        layout: ``labelled``, ``pairs`` or ``triplets``.
        kind: what an item is: ``text``, ``dialog`` (a list of str) or ``image`` (an absolute path str).
        columns: the item columns, each a list with one item per row (``text``/``dialog``; ``a``, ``b``;
            ``anchor``, ``positive``, ``negative``).
        labels: ``(N,) int64``: class index per row (labelled; ``classes[i]`` its name) or 1/0 same/different (pairs);
            empty for triplets.
        classes: class names of a labelled table, sorted.
    """

    path: Path
    layout: str
    kind: str
    columns: dict[str, list]
    labels: np.ndarray
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def items(self) -> list:
        """Every item of every row (for building a vocabulary), column by column."""
        return [x for col in self.columns.values() for x in col]


def read_table(path: str | Path) -> Table:
    """Parse and check a training CSV; raises ``InputError`` in one line naming the row and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file not found: {path}; pass a CSV with header {_EXPECTED}, or an image folder")
    rows, lines = _read_rows(path)
    if not rows:
        raise InputError(f"{path} is empty; expected a header row ({_EXPECTED}) and data rows")
    header = [h.strip().lower() for h in rows[0]]
    layout = next((name for name, cols in LAYOUTS.items() if set(cols) <= set(header)), None)
    if layout is None:
        near = max(LAYOUTS.values(), key=lambda cols: len(set(cols) & set(header)))
        missing = [c for c in near if c not in header]
        raise InputError(f"{path} header {header} lacks column(s) {missing}; expected one of: {_EXPECTED}")
    if len(rows) < 2:
        raise InputError(f"{path} has a header but no data rows; add rows")
    index = {c: header.index(c) for c in LAYOUTS[layout]}
    cells: dict[str, list[str]] = {c: [] for c in LAYOUTS[layout]}
    for n, row in zip(lines[1:], rows[1:], strict=True):
        if len(row) != len(header):
            raise InputError(f"{path} row {n} has {len(row)} fields, the header {len(header)}; quote cells that contain commas")
        for c, i in index.items():
            value = row[i].strip()
            if not value:
                raise InputError(f"{path} row {n}: column {c!r} is empty; fill it or drop the row")
            cells[c].append(value)
    if layout in ("text", "dialog"):
        return _labelled(path, layout, cells, lines[1:])
    item_cols = [c for c in LAYOUTS[layout] if c != "label"]
    kind = _item_kind(path, [cells[c] for c in item_cols])
    columns = {c: [_item(path, kind, v, n, c) for n, v in zip(lines[1:], cells[c], strict=True)] for c in item_cols}
    if layout == "pairs":
        labels = np.array([_pair_label(path, v, n) for n, v in zip(lines[1:], cells["label"], strict=True)], dtype=np.int64)
        if labels.min() == labels.max():
            raise InputError(f"{path}: every pair has label {labels[0]}; a pairs CSV needs both same (1) and different (0) pairs")
        return Table(path, "pairs", kind, columns, labels)
    return Table(path, "triplets", kind, columns, np.zeros(0, dtype=np.int64))


def _labelled(path: Path, layout: str, cells: dict[str, list[str]], lines: list[int]) -> Table:
    col = layout  # "text" or "dialog"
    items = [_item(path, col, v, n, col) for n, v in zip(lines, cells[col], strict=True)]
    classes = tuple(sorted(set(cells["label"])))
    lookup = {c: i for i, c in enumerate(classes)}
    labels = np.array([lookup[c] for c in cells["label"]], dtype=np.int64)
    if len(classes) < 2:
        raise InputError(f"{path}: all rows have label {classes[0]!r}; a labelled CSV needs at least 2 classes (4 to train and validate)")
    return Table(path, "labelled", col, {col: items}, labels, classes)


def _read_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """The non-blank records of a CSV and the line each starts on (1-based), every byte of every cell kept.

    ``csv`` reads a stream opened with ``newline=""``: a quoted newline stays in its cell, U+2028 / U+0085
    are characters like any other (``str.splitlines`` would break lines there), CRLF and a UTF-8 BOM are
    read as such. ``strict`` quoting: a malformed record is one ``InputError`` naming its row and column.
    """
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            start = 1
            try:
                for row in reader:
                    if any(c.strip() for c in row):
                        rows.append(row)
                        lines.append(start)
                    start = reader.line_num + 1
            except csv.Error as e:
                header = [h.strip().lower() for h in rows[0]] if rows else []
                raise InputError(_malformed(path, start, header, str(e))) from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; save the CSV as UTF-8") from None
    return rows, lines


def _malformed(path: Path, line: int, header: list[str], why: str) -> str:
    """The one-line message for a record ``csv`` cannot parse: its row, and the column where it breaks."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rest = "".join(f.readlines()[line - 1 :])
    column, quoted, i = 0, False, 0
    at_start = True
    while i < len(rest):
        ch = rest[i]
        if quoted:
            if ch == '"' and rest[i + 1 : i + 2] == '"':
                i += 1
            elif ch == '"':
                quoted = False
                nxt = rest[i + 1 : i + 2]
                if nxt not in ("", ",", "\r", "\n"):
                    break  # text after a closing quote
        elif ch == ",":
            column, at_start = column + 1, True
            i += 1
            continue
        elif ch in "\r\n":
            break
        elif ch == '"' and at_start:
            quoted = True
        elif ch == "\0":
            break
        at_start = False
        i += 1
    name = f" ({header[column]!r})" if column < len(header) else ""
    return (
        f"{path} row {line}, column {column + 1}{name}: malformed CSV ({why}); "
        'quote a cell that holds commas, quotes or newlines, and double the quotes inside it ("" for ")'
    )


def _is_dialog(value: str) -> bool:
    if not value.startswith("["):
        return False
    try:
        turns = json.loads(value)
    except json.JSONDecodeError:
        return False
    return isinstance(turns, list) and all(isinstance(t, str) for t in turns)


def _item_kind(path: Path, columns: list[list[str]]) -> str:
    values = [v for col in columns for v in col]
    dialogs = sum(map(_is_dialog, values))
    images = sum(Path(v).suffix.lower() in IMAGE_SUFFIXES for v in values)
    if dialogs == len(values):
        return "dialog"
    if images == len(values):
        return "image"
    if dialogs or images:
        what = "dialogs (JSON lists)" if dialogs else "image paths"
        raise InputError(f"{path} mixes {what} with other cells; a pairs/triplets CSV holds one kind: texts, dialogs or image paths")
    return "text"


def _item(path: Path, kind: str, value: str, row: int, column: str) -> str | list[str]:
    if kind == "dialog":
        try:
            turns = json.loads(value)
        except json.JSONDecodeError:
            turns = None
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise InputError(
                f"{path} row {row}: column {column!r} is not a dialog; write a JSON list of non-empty turns, e.g. [\"hi\", \"hello\"]"
            )
        return turns
    if kind == "image":
        p = Path(value) if Path(value).is_absolute() else path.parent / value
        if not p.is_file():
            raise InputError(f"{path} row {row}: image {value!r} not found (paths are relative to the CSV's folder: {path.parent})")
        return str(p)
    return value


def _pair_label(path: Path, value: str, row: int) -> int:
    v = value.strip().lower()
    if v in ("1", "1.0", "true", "same"):
        return 1
    if v in ("0", "0.0", "false", "different"):
        return 0
    raise InputError(f"{path} row {row}: label {value!r} invalid; use 1 (same / duplicate) or 0 (different)")


def split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out rows of a pairs/triplets table: ``(train_rows, val_rows)``, sorted; at least 1 each."""
    if not 0.0 < val_fraction < 1.0:
        raise InputError(f"--val-fraction {val_fraction} must be in (0, 1)")
    if n < 4:
        raise InputError(f"only {n} rows; a pairs/triplets CSV needs at least 4 (some to train, some to validate)")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(2, round(val_fraction * n)), n - 2)
    return np.sort(order[n_val:]), np.sort(order[:n_val])
