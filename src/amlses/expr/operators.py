"""The operators: their VBA precedence, arithmetic, ``&`` and comparisons.

The parser needs the precedence table and the tree nodes the operations, so both import them
from here.  Decisions where Automate's behaviour is not documented:

* ``+`` adds when both sides are numeric (numbers, booleans, or text that reads as a number,
  because AML variables and dataset fields usually hold numbers as text); a date plus a number
  is a date; otherwise ``+`` joins the two texts (VBA's string ``+``; VBA itself would report a
  type mismatch for ``"a" + 1``).  So ``"1" + "2"`` is 3 here, where VBA gives ``"12"``.
* ``Not``, ``And`` and ``Or`` are logical, not VBA's bitwise integer operators: each operand
  must read as true or false (a boolean, ``"True"``/``"False"``, or a number, non-zero meaning
  true) and the result is a boolean.  ``And``/``Or`` evaluate both sides, as VBA does (see
  :class:`~amlses.expr.nodes.Chain`).
* Comparisons are numeric when both sides are numeric (numeric text included: ``"10" > "9"``),
  chronological when both read as dates, and otherwise a case-sensitive text comparison (VBA's
  default ``Option Compare Binary``).
"""

from __future__ import annotations

import datetime

from ..values import (
    Fail,
    Value,
    as_date,
    as_number,
    checked,
    date_from_serial,
    describe,
    joined,
    round_even,
    serial,
    to_text,
)

#: binary operators and their VBA precedence (aml-reference.md §4.1); higher binds tighter
BINARY = {
    "^": 11,
    "*": 9,
    "/": 9,
    "\\": 8,
    "mod": 7,
    "+": 6,
    "-": 6,
    "&": 5,
    "=": 4,
    "<>": 4,
    "<": 4,
    ">": 4,
    "<=": 4,
    ">=": 4,
    "and": 2,
    "or": 1,
}
# Unary minus binds looser than ^ (so -2^2 is -4, as in VBA) and tighter than * and /.
PREFIX = {"-": 10, "+": 10, "not": 3}
COMPARISON = 4
_SPELLING = {"mod": "Mod", "and": "And", "or": "Or", "not": "Not"}


def _add_days(date: datetime.datetime, days: int | float) -> datetime.datetime:
    moved = date_from_serial(serial(date) + days)
    if moved is None:
        raise Fail("the date is out of range (years 100 to 9999)")
    return moved


def arithmetic(op: str, left: object, right: object) -> Value:
    """One of ``^ * / \\ Mod + - &`` applied to two values (the rules are in the module doc)."""
    if op == "&":
        return joined(to_text(left), to_text(right))  # type: ignore[arg-type]
    a, b = as_number(left), as_number(right)
    if op == "+":
        if a is not None and b is not None:
            return checked(a + b)
        if isinstance(left, datetime.datetime) and b is not None:
            return _add_days(left, b)
        if isinstance(right, datetime.datetime) and a is not None:
            return _add_days(right, a)
        return joined(to_text(left), to_text(right))  # type: ignore[arg-type]
    if op == "-" and isinstance(left, datetime.datetime):
        if isinstance(right, datetime.datetime):
            return serial(left) - serial(right)
        if b is not None:
            return _add_days(left, -b)
    spelled = _SPELLING.get(op, op)
    if a is None or b is None:
        bad = left if a is None else right
        raise Fail(f"type mismatch: '{spelled}' needs numbers, got {describe(bad)}")
    if op == "-":
        return checked(a - b)
    if op == "*":
        return checked(a * b)
    if op == "/":
        if b == 0:
            raise Fail("division by zero")
        return checked(a / b)
    if op == "^":
        return _power(a, b)
    # \ and Mod round both sides to whole numbers first, as VBA does.
    x, y = round_even(a), round_even(b)
    if y == 0:
        raise Fail("division by zero")
    quotient = abs(x) // abs(y)
    if op == "\\":
        return quotient if (x < 0) == (y < 0) else -quotient  # truncates toward zero
    remainder = abs(x) % abs(y)
    return -remainder if x < 0 else remainder  # VBA: the sign of the dividend


def _power(a: int | float, b: int | float) -> float:
    if a < 0 and not float(b).is_integer():
        raise Fail("invalid power: a negative number to a fractional power")
    try:
        result = float(a) ** float(b)
    except ZeroDivisionError:
        raise Fail("division by zero: 0 to a negative power") from None
    except OverflowError:
        raise Fail("overflow: the result is too large") from None
    return float(checked(result))


def compare(op: str, left: object, right: object) -> bool:
    """``= <> < > <= >=``: numeric when both sides are numeric (numeric text included),
    chronological when a date meets something that reads as a date, else case-sensitive
    text (spec/aml-core.md §3: VBA's default binary compare)."""
    a, b = as_number(left), as_number(right)
    if a is not None and b is not None:
        order = (a > b) - (a < b)
    else:
        x = y = None
        if isinstance(left, datetime.datetime) or isinstance(right, datetime.datetime):
            x, y = as_date(left), as_date(right)
        if x is not None and y is not None:
            order = (x > y) - (x < y)
        else:
            s, t = to_text(left), to_text(right)  # type: ignore[arg-type]
            order = (s > t) - (s < t)
    if op == "=":
        return order == 0
    if op == "<>":
        return order != 0
    if op == "<":
        return order < 0
    if op == ">":
        return order > 0
    if op == "<=":
        return order <= 0
    return order >= 0
