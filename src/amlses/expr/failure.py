"""Where an expression failed, and how that becomes an :class:`~amlses.errors.ExpressionError`.

Failures inside the expression package carry an offset into the text being evaluated
(:class:`~amlses.values.Fail`); the public functions turn them into ``ExpressionError`` with a
:class:`~amlses.source.Position` at the offending token.  Parse and check results are cached, and
an exception cannot be cached (re-raising one instance would grow its traceback on every loop
pass), so cached results hold a :class:`Problem` instead.  It sits at the bottom of the
package, because the scanner, the evaluator and the checks all report through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ExpressionError
from ..source import Position
from ..values import Fail


@dataclass(frozen=True, slots=True)
class Problem:
    """A cached, position-free description of an error (exceptions are not cached: re-raising
    one instance would grow its traceback on every loop pass)."""

    message: str
    offset: int
    opened: int | None = None  # where an unclosed '(' was opened: "… at column 4"
    suffix: str = ""  # follows the "at column 4" part

    def fail(self) -> Fail:
        return Fail(self.message, self.offset, self.opened, self.suffix)

    def moved(self, mapper: Callable[[int], int]) -> Problem:
        opened = None if self.opened is None else mapper(self.opened)
        return Problem(self.message, mapper(self.offset), opened, self.suffix)


def _where(text: str, offset: int, position: Position | None, error_line: int) -> str:
    """``column 4`` (or ``line 2, column 4``) for a place referred to inside a message."""
    if position is None:
        place = Position("", 1, 1).shifted(text, offset)
    else:
        place = position.shifted(text, offset)
    if place.line == error_line:
        return f"column {place.column}"
    return f"line {place.line}, column {place.column}"


def render(text: str, fail: Fail | Problem, position: Position | None) -> tuple[str, int]:
    """The message (with any 'opened at' place spelled out) and the offset it points at."""
    offset = fail.offset if fail.offset is not None else 0
    offset = min(max(offset, 0), len(text))
    message = fail.message
    if fail.opened is not None:
        base = position if position is not None else Position("", 1, 1)
        line = base.shifted(text, offset).line
        message += f" at {_where(text, fail.opened, position, line)}"
    return message + fail.suffix, offset


def located(text: str, fail: Fail, position: Position | None) -> ExpressionError:
    """The ``ExpressionError`` for ``fail`` in ``text``, at its place in the task file when
    ``position`` (where ``text`` starts) is known."""
    message, offset = render(text, fail, position)
    where = position.shifted(text, offset) if position is not None else None
    return ExpressionError(message, position=where)
