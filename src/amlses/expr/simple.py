"""Simple-mode conditions (spec/aml-core.md §3, aml-reference.md §4.4; the rule is inferred).

An ``AMIF`` or loop ``EXPRESSION`` without ``USECOMPLEXUI="YES"`` is Automate's Simple mode, as
in the seed's ``%IDList.Type%=EmailAddress``: a text with exactly one comparison outside
``%…%``, quotes and parentheses is split there, and each side is read by its own rule (plain text
is text, not a variable).  Anything else, and every Complex-mode condition, is a full expression.
:func:`condition` evaluates both kinds; :mod:`.check` reuses the split to check each side.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..source import Position
from ..values import Fail, Value, describe, number_literal, truth
from .env import Env, Scope
from .evaluator import compiled, substitute_text
from .failure import located
from .lexer import string_end
from .operators import compare
from .scanner import find_close

_NUMBER_SIDE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SIDE_BLANKS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class SimpleComparison:
    """A Simple-mode condition cut at its one top-level comparison."""

    op: str
    left: tuple[int, int]  # trimmed spans of the two sides
    right: tuple[int, int]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _SIDE_BLANKS:
        start += 1
    while end > start and text[end - 1] in _SIDE_BLANKS:
        end -= 1
    return start, end


@functools.lru_cache(maxsize=1024)
def simple_split(text: str) -> SimpleComparison | None:
    """The split of ``text`` at its only comparison outside ``%…%``, quotes and parentheses,
    or None when there is not exactly one (the text is then read as full BASIC)."""
    found: list[tuple[str, int, int]] = []
    depth, i, n = 0, 0, len(text)
    while i < n:
        char = text[i]
        if char == "%":
            if text.startswith("%%", i):
                i += 2
                continue
            close = find_close(text, i + 1)
            if close < 0:
                return None  # the full parse reports the unterminated '%'
            i = close + 1
            continue
        if char in "\"'":
            end = string_end(text, i)
            # An unmatched quote is ordinary text in Simple mode (O'Brien = %name%).
            i = end if end > 0 else i + 1
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and char in "<>=":
            pair = text[i : i + 2]
            width = 2 if pair in ("<>", "<=", ">=") else 1
            found.append((text[i : i + width], i, i + width))
            if len(found) > 1:
                return None
            i += width
            continue
        i += 1
    if len(found) != 1:
        return None
    op, start, end = found[0]
    return SimpleComparison(op, _trimmed(text, 0, start), _trimmed(text, end, n))


def side_kind(side: str) -> str:
    """How a Simple-mode side is read: a quoted string, a number, text with %…%, or text."""
    if side[:1] in ("'", '"') and string_end(side, 0) == len(side):
        return "string"
    if _NUMBER_SIDE.fullmatch(side) and number_literal(side) is not None:
        return "number"
    return "substitute" if "%" in side else "text"


def _simple_side(side: str, env: Env) -> Value:
    """The value of one trimmed side of a Simple-mode condition."""
    kind = side_kind(side)
    if kind == "string":  # may hold %…% parts: "Dear %name%"
        return compiled(side, True).run(env)
    if kind == "number":
        number = number_literal(side)
        assert number is not None
        return number
    if kind == "substitute":
        return substitute_text(side, env)
    return side  # plain text: `EmailAddress` is the text EmailAddress, not a variable


def _condition_value(text: str, env: Env, complex: bool) -> bool:
    """:func:`condition` without the error conversion (offsets are into ``text``)."""
    if not complex:
        split = simple_split(text)
        if split is not None:
            sides = []
            for start, end in (split.left, split.right):
                try:
                    sides.append(_simple_side(text[start:end], env))
                except Fail as fail:
                    raise _shifted(fail, start) from None
            return compare(split.op, sides[0], sides[1])
    value = compiled(text, True).run(env)
    try:
        return truth(value, "the condition")
    except Fail:
        message = f"the condition did not give true or false: it gave {describe(value)}"
        raise Fail(message, 0) from None


def _shifted(fail: Fail, by: int) -> Fail:
    fail.offset = (fail.offset or 0) + by
    if fail.opened is not None:
        fail.opened += by
    return fail


def condition(
    text: str, scope: Scope, position: Position | None = None, *, complex: bool = False
) -> bool:
    """Evaluate an ``AMIF``/loop ``EXPRESSION`` to True or False.

    ``complex=True`` (``USECOMPLEXUI="YES"``): ``text`` is a full expression, as in
    :func:`evaluate`.  Otherwise (Automate's Simple mode, as in the seed's
    ``%IDList.Type%=EmailAddress``) a text with exactly one comparison outside ``%…%``,
    quotes and parentheses is split there; each side, trimmed, is a quoted string, a number,
    text with its ``%…%`` substituted, or plain text (``EmailAddress`` is text, not a
    variable); the sides compare as numbers when both are numeric, else as case-sensitive
    text.  A text that does not split so is evaluated as a full expression.  The result must
    be a boolean, a number (non-zero is true) or the text True/False.
    """
    try:
        return _condition_value(text, Env(scope), complex)
    except Fail as fail:
        raise located(text, fail, position) from None
