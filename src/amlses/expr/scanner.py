"""Scanning ``%…%``: an attribute value split into literal text and expression parts.

Automate hands the text between a pair of ``%`` signs to its BASIC interpreter and splices the
result back (spec/aml-core.md §3, aml-reference.md §3.2); ``%%`` is a literal ``%``, in text and
inside an expression.  The rule for finding the closing ``%`` is needed by the scanner, by the
tokenizer (string literals and ``%…%`` parts of conditions) and by Simple-mode conditions, so it
lives here once, with the map from decoded (``%%`` → ``%``) indexes back to raw offsets that
lets every error point into the text as written.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..errors import ExpressionError
from .failure import Problem, render

UNTERMINATED = "unterminated '%': no closing '%' for the expression that starts here"
UNTERMINATED_SUFFIX = " (write '%%' for a literal percent sign)"
EMPTY = "nothing between the '%' signs (write '%%' for a literal percent sign)"


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of an attribute value, as :func:`scan` splits it.

    ``kind`` is ``"text"`` for literal text (``text`` has ``%%`` already turned into ``%``) or
    ``"expr"`` for an expression (``text`` is what is between the signs, with ``%%`` turned
    into ``%``).  ``start`` and ``end`` are the raw span in the scanned value; an ``expr``
    span includes both ``%`` signs.
    """

    kind: Literal["text", "expr"]
    text: str
    start: int
    end: int


def find_close(text: str, start: int) -> int:
    """The ``%`` that closes an expression whose content starts at ``start``, or -1.

    Automate reads ``%%`` as a literal ``%`` even inside an expression, which is why
    ``%a%%b%`` is the one expression ``a%b`` (aml-reference.md §3.2).
    """
    while True:
        close = text.find("%", start)
        if close < 0 or not text.startswith("%%", close):
            return close
        start = close + 2


Offsets: TypeAlias = int | list[int]  # decoded index -> raw offset: a base, or a table


def inner_offsets(text: str, start: int, end: int) -> Offsets:
    """How indexes into ``text[start:end]`` with ``%%`` decoded map back to offsets in
    ``text``: just ``start`` when nothing was decoded (the common case)."""
    if text.find("%%", start, end) < 0:
        return start
    table, i = [], start
    while i < end:
        table.append(i)
        i += 2 if text.startswith("%%", i) else 1
    table.append(end)
    return table


def mapped(offsets: Offsets, index: int) -> int:
    """The raw offset of decoded ``index``, by a map from :func:`inner_offsets`."""
    if isinstance(offsets, int):
        return offsets + index
    return offsets[min(max(index, 0), len(offsets) - 1)]


@functools.lru_cache(maxsize=4096)
def scan_with_problem(text: str) -> tuple[tuple[Segment, ...], Problem | None]:
    """Segments up to the first unterminated ``%`` (and that problem), linear in ``text``.

    :func:`scan` raises the problem; substitution and the static checks want the segments
    before it as well, and the result is cached because loops scan the same text repeatedly.
    """
    segments: list[Segment] = []
    pieces: list[str] = []
    literal_start = i = 0
    while True:
        sign = text.find("%", i)
        if sign < 0:
            pieces.append(text[i:])
            break
        if text.startswith("%%", sign):
            pieces.append(text[i : sign + 1])
            i = sign + 2
            continue
        pieces.append(text[i:sign])
        literal = "".join(pieces)
        if literal:
            segments.append(Segment("text", literal, literal_start, sign))
        pieces = []
        close = find_close(text, sign + 1)
        if close < 0:
            problem = Problem(UNTERMINATED, sign, suffix=UNTERMINATED_SUFFIX)
            return tuple(segments), problem
        inner = text[sign + 1 : close].replace("%%", "%")
        segments.append(Segment("expr", inner, sign, close + 1))
        literal_start = i = close + 1
    literal = "".join(pieces)
    if literal:
        segments.append(Segment("text", literal, literal_start, len(text)))
    return tuple(segments), None


def scan(text: str) -> list[Segment]:
    """Split an attribute value into literal text and ``%expr%`` parts, in order.

    ``%%`` is a literal ``%`` (in text and inside an expression); a ``%`` with no closing
    partner raises :class:`~amlses.errors.ExpressionError` whose message names the offset.
    """
    segments, problem = scan_with_problem(text)
    if problem is not None:
        message, offset = render(text, problem, None)
        raise ExpressionError(f"{message} (at offset {offset})")
    return list(segments)
