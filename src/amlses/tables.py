"""Box-drawn text tables for a run's datasets, without rich.

A run draws a table for each dataset a step produced.  rich drew them before, but importing
``rich.console`` and ``rich.table`` costs ~40 ms of a ~0.5 s run — more than everything else
amlses itself does on the way to its first request — for a table with no colours (its output
is usually a file or a pipe).  This module draws the same table with rich's default box
(``HEAVY_HEAD``), in a few dozen lines of plain Python:

    IDList: 2 rows
    ┏━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓
    ┃ Identity          ┃ Type         ┃
    ┡━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩
    │ alice@example.com │ EmailAddress │
    │ example.com       │ Domain       │
    └───────────────────┴──────────────┘

Widths are terminal cells (an East Asian wide character takes two, a combining mark none), a
cell may hold several lines, and a table wider than ``width`` has its widest columns narrowed
and their cells wrapped at spaces (a word longer than its column is cut), as rich did.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

__all__ = ["cell_width", "render_table"]

#: the default width of a table, in terminal cells
WIDTH = 120


def cell_width(text: str) -> int:
    """The terminal cells ``text`` takes (one line, no control characters)."""
    if text.isascii():
        return len(text)
    return sum(_char_width(char) for char in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\ufeff":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def render_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int = WIDTH
) -> str:
    """``title`` on its own line, then the table of ``columns`` and ``rows`` (text already
    made safe for the terminal), lines ending in ``\\n``; at most ``width`` cells wide unless
    its columns cannot be narrowed further (one cell each)."""
    if not columns:
        return f"{title}\n"
    header = [_lines(column) for column in columns]
    body = [[_lines(cell) for cell in _padded(row, len(columns))] for row in rows]
    natural = [
        max(cell_width(line) for cell in (head, *(row[i] for row in body)) for line in cell)
        for i, head in enumerate(header)
    ]
    widths = _fit(natural, width - 3 * len(columns) - 1)
    out = [title, _rule("┏", "━", "┳", "┓", widths)]
    out += _row(header, widths, "┃")
    out.append(_rule("┡", "━", "╇", "┩", widths))
    for row in body:
        out += _row(row, widths, "│")
    out.append(_rule("└", "─", "┴", "┘", widths))
    return "\n".join(out) + "\n"


def _padded(row: Sequence[str], count: int) -> list[str]:
    """A row cut or filled with empty cells to ``count`` columns."""
    return [*row[:count], *([""] * (count - len(row)))]


def _lines(text: str) -> list[str]:
    """A cell's lines, tabs expanded to stops of 8 (as a terminal would show them)."""
    return [line.expandtabs(8) for line in text.split("\n")]


def _fit(natural: list[int], room: int) -> list[int]:
    """Column widths that fit ``room`` cells: the widest columns narrowed first, one cell at a
    time, never below one cell."""
    widths = [max(1, w) for w in natural]
    while sum(widths) > room and max(widths) > 1:
        widest = max(widths)
        # narrow every column of the greatest width to the next width below it, or just
        # enough to fit, whichever is less
        below = max((w for w in widths if w < widest), default=1)
        count = widths.count(widest)
        excess = sum(widths) - room
        step = min(widest - below, -(-excess // count))
        for index, w in enumerate(widths):
            if w == widest and excess > 0:
                widths[index] -= min(step, excess)
                excess -= min(step, excess)
    return widths


def _rule(left: str, line: str, cross: str, right: str, widths: list[int]) -> str:
    return left + cross.join(line * (w + 2) for w in widths) + right


def _row(cells: list[list[str]], widths: list[int], edge: str) -> list[str]:
    """The text lines of one table row: each cell wrapped to its width, the row as tall as
    its tallest cell."""
    wrapped = [_wrap(cell, width) for cell, width in zip(cells, widths, strict=True)]
    height = max(len(cell) for cell in wrapped)
    lines = []
    for index in range(height):
        parts = []
        for cell, width in zip(wrapped, widths, strict=True):
            text = cell[index] if index < len(cell) else ""
            parts.append(f" {text}{' ' * (width - cell_width(text))} ")
        lines.append(edge + edge.join(parts) + edge)
    return lines


def _wrap(lines: list[str], width: int) -> list[str]:
    """Each line broken to at most ``width`` cells: at spaces, and inside a word only when the
    word alone is wider."""
    out: list[str] = []
    for line in lines:
        if cell_width(line) <= width:
            out.append(line)
            continue
        current = ""
        for word in line.split(" "):
            candidate = f"{current} {word}" if current else word
            if cell_width(candidate) <= width:
                current = candidate
                continue
            if current:
                out.append(current)
            current = ""
            while cell_width(word) > width:
                head, word = _cut(word, width)
                out.append(head)
            current = word
        out.append(current)
    return out


def _cut(word: str, width: int) -> tuple[str, str]:
    """The longest head of ``word`` that fits ``width`` cells (at least one character), and
    the rest."""
    used = 0
    for index, char in enumerate(word):
        used += _char_width(char)
        if used > width:
            return word[: max(index, 1)], word[max(index, 1) :]
    return word, ""
