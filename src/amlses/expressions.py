"""``%…%`` scanning, substitution and condition evaluation: Automate's BASIC subset, safely.

Automate hands the text between a pair of ``%`` signs to its BASIC interpreter and splices the
result back (spec/aml-core.md §3, aml-reference.md §3.2).  This module is that interpreter, for
the VBA-like subset an SES task needs, and it never calls Python's ``eval``/``exec``:

* :func:`scan` splits an attribute value into literal text and ``%expr%`` parts, with offsets;
* :func:`substitute` evaluates each part and splices it in (a lone ``%x%`` keeps its type);
* :func:`evaluate` runs one full expression, :func:`condition` an ``AMIF``/loop ``EXPRESSION``
  (Simple or Complex mode, spec/aml-reference.md §4.4);
* :func:`problems` and :func:`references` serve ``amlses check``: syntax errors, unknown
  functions and wrong argument counts, and the variable names a text reads, without a scope.

Names are resolved through a :class:`Scope` into *value tokens*.  A value is never pasted into the
expression text and parsed again, so an identity holding quotes, spaces, ``%`` or ``&`` cannot
change what an expression means.  Parsed expressions are cached, because loops evaluate the same
text thousands of times; the tokenizer and parser are linear and bounded in length and nesting
(:data:`MAX_EXPRESSION_LENGTH`, :data:`MAX_DEPTH`), so hostile input fails fast and never with a
``RecursionError``.

Decisions where Automate's behaviour is not documented (each one is marked where it is made):

* Text of a value (:func:`to_text`): ``True``/``False``; integers plainly; other numbers with up
  to 15 significant digits like VBA's ``CStr`` (``5.0`` → ``5``, ``1E+20``); dates as VBA's
  *general date* in the en-US locale (``11/23/2026 10:40:00 AM``, a date without a time as
  ``11/23/2026``, a time on VBA's day zero as ``10:40:00 AM``).
* ``+`` adds when both sides are numeric (numbers, booleans, or text that reads as a number,
  because AML variables and dataset fields usually hold numbers as text); a date plus a number
  is a date; otherwise ``+`` joins the two texts (VBA's string ``+``; VBA itself would report a
  type mismatch for ``"a" + 1``).  So ``"1" + "2"`` is 3 here, where VBA gives ``"12"``.
* ``Not``, ``And`` and ``Or`` are logical, not VBA's bitwise integer operators: each operand
  must read as true or false (a boolean, ``"True"``/``"False"``, or a number, non-zero meaning
  true) and the result is a boolean.  ``And``/``Or`` evaluate both sides, as VBA does; ``IIf``
  evaluates only the branch it returns (VBA evaluates both; this only ever avoids an error).
* ``Split`` returns a list that can only be indexed (``Split(text, ",")(0)``, zero-based as in
  VBA), counted (``UBound``/``LBound``) or joined (``Join``); using the list as a value is a
  static error, so no list ever reaches a step.
* Comparisons are numeric when both sides are numeric (numeric text included: ``"10" > "9"``),
  chronological when both read as dates, and otherwise a case-sensitive text comparison (VBA's
  default ``Option Compare Binary``).
"""

from __future__ import annotations

import datetime
import difflib
import functools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Literal, Protocol, TypeAlias

from .errors import ExpressionError
from .source import Position

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_TEXT_LENGTH",
    "Scope",
    "Segment",
    "KINDS",
    "Value",
    "condition",
    "evaluate",
    "problems",
    "references",
    "scan",
    "substitute",
    "to_text",
]

#: the typed values of AML: text, whole and decimal numbers, booleans and dates
Value: TypeAlias = str | int | float | bool | datetime.datetime

#: the longest expression (one ``%…%`` part, or a whole condition) that is parsed at all
MAX_EXPRESSION_LENGTH = 10_000
#: the deepest nesting of parentheses, calls, operators and ``%…%`` parts in one expression
MAX_DEPTH = 100
#: the longest text an operator or function may build (``Space``, ``Replace``, ``&``, ``+``);
#: SES messages are at most 10 MB, so nothing legitimate comes near it
MAX_TEXT_LENGTH = 10_000_000

#: how problems() and references() read a text: an attribute value, an expression, a condition
KINDS = ("text", "expression", "condition")


class Scope(Protocol):
    """Where names in expressions come from: the run's variables and dataset fields.

    ``resolve`` receives a name as written (``count``, ``IDList.Type``) and raises ``KeyError``
    when it does not exist; matching names case-insensitively is the scope's job.  A scope may
    also offer ``now() -> datetime`` so that ``Now()``, ``Date()`` and ``Time()`` use an injected
    clock (the runtime and tests do); without it the local clock is read.
    """

    def resolve(self, name: str) -> Value: ...


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


# --------------------------------------------------------------------------------------------
# Failures inside this module carry an offset into the text being evaluated; the public
# functions turn them into ExpressionError with a Position at the offending token.


@dataclass(frozen=True, slots=True)
class _Problem:
    """A cached, position-free description of an error (exceptions are not cached: re-raising
    one instance would grow its traceback on every loop pass)."""

    message: str
    offset: int
    opened: int | None = None  # where an unclosed '(' was opened: "… at column 4"
    suffix: str = ""  # follows the "at column 4" part

    def fail(self) -> _Fail:
        return _Fail(self.message, self.offset, self.opened, self.suffix)

    def moved(self, mapper: Callable[[int], int]) -> _Problem:
        opened = None if self.opened is None else mapper(self.opened)
        return _Problem(self.message, mapper(self.offset), opened, self.suffix)


class _Fail(Exception):
    """An error at ``offset`` in the current text; ``None`` until the enclosing node fills it."""

    def __init__(
        self,
        message: str,
        offset: int | None = None,
        opened: int | None = None,
        suffix: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.opened = opened
        self.suffix = suffix


def _where(text: str, offset: int, position: Position | None, error_line: int) -> str:
    """``column 4`` (or ``line 2, column 4``) for a place referred to inside a message."""
    if position is None:
        place = Position("", 1, 1).shifted(text, offset)
    else:
        place = position.shifted(text, offset)
    if place.line == error_line:
        return f"column {place.column}"
    return f"line {place.line}, column {place.column}"


def _render(text: str, fail: _Fail | _Problem, position: Position | None) -> tuple[str, int]:
    """The message (with any 'opened at' place spelled out) and the offset it points at."""
    offset = fail.offset if fail.offset is not None else 0
    offset = min(max(offset, 0), len(text))
    message = fail.message
    if fail.opened is not None:
        base = position if position is not None else Position("", 1, 1)
        line = base.shifted(text, offset).line
        message += f" at {_where(text, fail.opened, position, line)}"
    return message + fail.suffix, offset


def _error(text: str, fail: _Fail, position: Position | None) -> ExpressionError:
    message, offset = _render(text, fail, position)
    where = position.shifted(text, offset) if position is not None else None
    return ExpressionError(message, position=where)


# --------------------------------------------------------------------------------------------
# Text of values


# VBA's day zero: serial 0 is 12/30/1899, and a time without a date lives on that day.
_DAY_ZERO = datetime.datetime(1899, 12, 30)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_WEEKDAYS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split()


def to_text(value: Value) -> str:
    """How ``value`` reads when it is spliced into text (VBA's ``CStr``, en-US).

    ``True``/``False``; integers as digits; other numbers with up to 15 significant digits and
    VBA's exponent form (``2.5``, ``5.0`` → ``5``, ``1E+20``, ``1.5E-07``); dates as VBA's
    general date in the en-US locale — ``11/23/2026 10:40:00 AM``, ``11/23/2026`` when the time
    is midnight, ``10:40:00 AM`` for a time on VBA's day zero (12/30/1899).  Automate itself
    follows the Windows regional settings; amlses pins en-US so runs are reproducible.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime.datetime):
        return _date_text(value)
    return str(value)  # not a Value; shown rather than failing in an error message


def _float_text(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = f"{value:.15g}"  # VBA's CStr shows 15 significant digits
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}E{exponent}"
    return text


def _date_text(value: datetime.datetime) -> str:
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    time = f"{hour}:{value.minute:02d}:{value.second:02d} {half}"
    if value.date() == _DAY_ZERO.date():
        return time
    date = f"{value.month}/{value.day}/{value.year}"
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return date
    return f"{date} {time}"


def _describe(value: object) -> str:
    """A value as an error message shows it: ``text "abc"``, ``empty text``, ``12``."""
    if isinstance(value, tuple):
        return "a list from Split(...)"
    if isinstance(value, str):
        if value == "":
            return "empty text"
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'text "{shown}"'
    if isinstance(value, datetime.datetime):
        return f"the date {_date_text(value)}"
    return to_text(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Conversions (VBA's implicit coercions, made explicit)

_NUMERIC_TEXT = re.compile(
    r"[ \t\r\n]*([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[ \t\r\n]*"
)
_LONGEST_INT = 18  # more digits than this are read as a decimal number, like VBA's Double


def _number_literal(text: str) -> int | float | None:
    """The number ``text`` spells (already matched as one), or None when it is not finite."""
    if "." not in text and "e" not in text and "E" not in text:
        digits = text.lstrip("+-").lstrip("0")
        if len(digits) <= _LONGEST_INT:
            return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _number_from_text(text: str) -> int | float | None:
    """``text`` as a number when all of it reads as one (VBA's ``IsNumeric``), else None."""
    match = _NUMERIC_TEXT.fullmatch(text)
    if match is None:
        return None
    return _number_literal(match.group(1))


def _as_number(value: object) -> int | float | None:
    """The numeric reading of a value: numbers, booleans (True is -1, as in VBA), numeric
    text; None for other text, dates and lists."""
    if isinstance(value, bool):
        return -1 if value else 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return _number_from_text(value)
    return None


def _serial(value: datetime.datetime) -> float:
    """VBA's date serial: days since 12/30/1899, the time as a fraction (of the same sign)."""
    days = (value.date() - _DAY_ZERO.date()).days
    fraction = (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    return days - fraction if days < 0 else days + fraction


def _date_from_serial(serial: float) -> datetime.datetime | None:
    """The date a VBA serial stands for, or None outside VBA's years 100–9999."""
    if not math.isfinite(serial) or not -657434 <= serial < 2958466:
        return None
    whole = math.trunc(serial)
    seconds = round(abs(serial - whole) * 86400)
    try:
        return _DAY_ZERO + datetime.timedelta(days=whole, seconds=seconds)
    except OverflowError:
        return None


_DATE_PART = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})|([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}|[0-9]{2})(?![0-9])"
)
_TIME_PART = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,6})?)?\s*([AaPp][Mm])?")


def _full_year(year: int, written: str) -> int:
    # VBA's two-digit-year window: 00–29 are 2000–2029, 30–99 are 1930–1999.
    if len(written) == 2:
        return year + (2000 if year < 30 else 1900)
    return year


def _date_from_text(text: str) -> datetime.datetime | None:
    """Read a date written ``yyyy-mm-dd`` or ``m/d/yyyy`` (en-US), optionally followed by a
    time ``h:mm[:ss] [AM|PM]`` (also after a ``T``), or a time alone; None otherwise."""
    text = text.strip()
    day: datetime.date | None = None
    match = _DATE_PART.match(text)
    rest = text
    if match is not None:
        try:
            if match.group(1):
                day = datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
            else:
                year = _full_year(int(match.group(6)), match.group(6))
                day = datetime.date(year, int(match.group(4)), int(match.group(5)))
        except ValueError:
            return None
        rest = text[match.end() :]
        if rest and rest[0] not in " T":
            return None
        rest = rest.lstrip(" T")
    if not rest:
        return None if day is None else datetime.datetime(day.year, day.month, day.day)
    time = _TIME_PART.fullmatch(rest)
    if time is None:
        return None
    hour, minute, second = int(time.group(1)), int(time.group(2)), int(time.group(3) or 0)
    if time.group(4):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if time.group(4).lower() == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    day = day or _DAY_ZERO.date()
    return datetime.datetime(day.year, day.month, day.day, hour, minute, second)


def _as_date(value: object) -> datetime.datetime | None:
    """The date reading of a value: dates, date text, numbers as VBA serials; else None."""
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _date_from_serial(value)
    if isinstance(value, str):
        return _date_from_text(value)
    return None


def _truth(value: object, what: str) -> bool:
    """Whether a value counts as true: booleans, ``"True"``/``"False"`` in any case, numbers
    and numeric text (non-zero is true); anything else fails, naming ``what`` needed it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        number = _number_from_text(value)
        if number is not None:
            return number != 0
    raise _Fail(f"{what} needs true or false, got {_describe(value)}")


def _round_even(value: float | int) -> int:
    """VBA's rounding to a whole number: halves go to the even neighbour (banker's)."""
    if isinstance(value, int):
        return value
    try:
        return round(value)
    except (OverflowError, ValueError):
        raise _Fail("overflow: the number is too large") from None


def _checked(number: int | float) -> int | float:
    """An arithmetic result, with VBA's overflow instead of infinities and huge integers."""
    if isinstance(number, int):
        if -(2**63) <= number < 2**63:
            return number
        try:
            number = float(number)  # like VBA promoting a Long that overflows to a Double
        except OverflowError:
            raise _Fail("overflow: the result is too large") from None
    if not math.isfinite(number):
        raise _Fail("overflow: the result is too large")
    return number


def _joined(*parts: str) -> str:
    if sum(len(part) for part in parts) > MAX_TEXT_LENGTH:
        raise _Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    return "".join(parts)


# --------------------------------------------------------------------------------------------
# Operators

#: binary operators and their VBA precedence (aml-reference.md §4.1); higher binds tighter
_BINARY = {
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
_PREFIX = {"-": 10, "+": 10, "not": 3}
_COMPARISON = 4
_SPELLING = {"mod": "Mod", "and": "And", "or": "Or", "not": "Not"}
# In the VBA family, but not implemented: refused rather than guessed (spec/aml-core.md §3).
_UNSUPPORTED = {"like": "Like", "is": "Is", "xor": "Xor", "eqv": "Eqv", "imp": "Imp"}


def _add_days(date: datetime.datetime, days: int | float) -> datetime.datetime:
    moved = _date_from_serial(_serial(date) + days)
    if moved is None:
        raise _Fail("the date is out of range (years 100 to 9999)")
    return moved


def _arithmetic(op: str, left: object, right: object) -> Value:
    """One of ``^ * / \\ Mod + - &`` applied to two values (the rules are in the module doc)."""
    if op == "&":
        return _joined(to_text(left), to_text(right))  # type: ignore[arg-type]
    a, b = _as_number(left), _as_number(right)
    if op == "+":
        if a is not None and b is not None:
            return _checked(a + b)
        if isinstance(left, datetime.datetime) and b is not None:
            return _add_days(left, b)
        if isinstance(right, datetime.datetime) and a is not None:
            return _add_days(right, a)
        return _joined(to_text(left), to_text(right))  # type: ignore[arg-type]
    if op == "-" and isinstance(left, datetime.datetime):
        if isinstance(right, datetime.datetime):
            return _serial(left) - _serial(right)
        if b is not None:
            return _add_days(left, -b)
    spelled = _SPELLING.get(op, op)
    if a is None or b is None:
        bad = left if a is None else right
        raise _Fail(f"type mismatch: '{spelled}' needs numbers, got {_describe(bad)}")
    if op == "-":
        return _checked(a - b)
    if op == "*":
        return _checked(a * b)
    if op == "/":
        if b == 0:
            raise _Fail("division by zero")
        return _checked(a / b)
    if op == "^":
        return _power(a, b)
    # \ and Mod round both sides to whole numbers first, as VBA does.
    x, y = _round_even(a), _round_even(b)
    if y == 0:
        raise _Fail("division by zero")
    quotient = abs(x) // abs(y)
    if op == "\\":
        return quotient if (x < 0) == (y < 0) else -quotient  # truncates toward zero
    remainder = abs(x) % abs(y)
    return -remainder if x < 0 else remainder  # VBA: the sign of the dividend


def _power(a: int | float, b: int | float) -> float:
    if a < 0 and not float(b).is_integer():
        raise _Fail("invalid power: a negative number to a fractional power")
    try:
        result = float(a) ** float(b)
    except ZeroDivisionError:
        raise _Fail("division by zero: 0 to a negative power") from None
    except OverflowError:
        raise _Fail("overflow: the result is too large") from None
    return float(_checked(result))


def _compare(op: str, left: object, right: object) -> bool:
    """``= <> < > <= >=``: numeric when both sides are numeric (numeric text included),
    chronological when a date meets something that reads as a date, else case-sensitive
    text (spec/aml-core.md §3: VBA's default binary compare)."""
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None:
        order = (a > b) - (a < b)
    else:
        x = y = None
        if isinstance(left, datetime.datetime) or isinstance(right, datetime.datetime):
            x, y = _as_date(left), _as_date(right)
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


# --------------------------------------------------------------------------------------------
# Functions (aml-reference.md §4.3), registered by name, case-insensitive

#: what an expression node gives: a value, or the list only Split makes (never a final result)
_Result: TypeAlias = Value | tuple[str, ...]


class _Env:
    """What one evaluation reads: the scope, and the clock (the scope's ``now`` if it has one)."""

    __slots__ = ("scope", "_now")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._now: datetime.datetime | None = None

    def now(self) -> datetime.datetime:
        if self._now is None:  # one reading per evaluation, so Now() agrees with itself
            clock = getattr(self.scope, "now", None)
            moment = clock() if callable(clock) else datetime.datetime.now()
            if not isinstance(moment, datetime.datetime):
                raise _Fail("the scope's clock did not give a date")
            self._now = moment.replace(microsecond=0, tzinfo=None)
        return self._now


@dataclass(frozen=True, slots=True)
class _Function:
    """A built-in: its spelling, how many arguments it takes, and which take Split's list."""

    name: str
    low: int
    high: int
    run: Callable[[_Env, list[_Result]], _Result]
    list_args: frozenset[int] = frozenset()
    gives_list: bool = False

    def arity(self) -> str:
        if self.high == 0:
            return "no arguments"
        if self.low == self.high:
            return f"{self.low} argument{'s' if self.low != 1 else ''}"
        joiner = "or" if self.high == self.low + 1 else "to"
        return f"{self.low} {joiner} {self.high} arguments"


_FUNCTIONS: dict[str, _Function] = {}
# Called without parentheses too (VBA allows `Day(Now)`); Automate forbids variables with
# these names (aml-reference.md §3.1), so a bare `Date` is never a variable.
_BARE_FUNCTIONS = frozenset({"now", "date", "time"})

_Impl = Callable[[_Env, list[_Result]], _Result]


def _function(
    name: str,
    low: int,
    high: int | None = None,
    *,
    lists: Sequence[int] = (),
    gives_list: bool = False,
) -> Callable[[_Impl], _Impl]:
    def register(run: _Impl) -> _Impl:
        _FUNCTIONS[name.lower()] = _Function(
            name, low, low if high is None else high, run, frozenset(lists), gives_list
        )
        return run

    return register


def _value(arg: _Result) -> Value:
    if isinstance(arg, tuple):  # the static check makes this unreachable; keep it loud
        raise _Fail("a list from Split(...) cannot be used as a value here")
    return arg


def _text_arg(arg: _Result) -> str:
    return to_text(_value(arg))


def _number_arg(arg: _Result, fn: str) -> int | float:
    number = _as_number(_value(arg))
    if number is None:
        raise _Fail(f"type mismatch in {fn}: expected a number, got {_describe(arg)}")
    return number


def _whole_arg(arg: _Result, fn: str) -> int:
    return _round_even(_number_arg(arg, fn))


def _count_arg(arg: _Result, fn: str, what: str) -> int:
    count = _whole_arg(arg, fn)
    if count < 0:
        raise _Fail(f"{fn} needs a {what} of 0 or more, got {count}")
    return count


def _date_arg(arg: _Result, fn: str) -> datetime.datetime:
    date = _as_date(_value(arg))
    if date is None:
        raise _Fail(f"type mismatch in {fn}: expected a date, got {_describe(arg)}")
    return date


def _compare_arg(args: list[_Result], index: int, fn: str) -> bool:
    """Whether an optional VBA ``compare`` argument asks for text (case-insensitive) compare."""
    if len(args) <= index:
        return False
    mode = _whole_arg(args[index], fn)
    if mode not in (0, 1):
        raise _Fail(f"{fn}: compare must be 0 (binary) or 1 (text), got {mode}")
    return mode == 1


@_function("Len", 1)
def _len(env: _Env, args: list[_Result]) -> _Result:
    return len(_text_arg(args[0]))


@_function("Left", 2)
def _left(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0])[: _count_arg(args[1], "Left", "length")]


@_function("Right", 2)
def _right(env: _Env, args: list[_Result]) -> _Result:
    text, count = _text_arg(args[0]), _count_arg(args[1], "Right", "length")
    return text[len(text) - count :] if count < len(text) else text


@_function("Mid", 2, 3)
def _mid(env: _Env, args: list[_Result]) -> _Result:
    text, start = _text_arg(args[0]), _whole_arg(args[1], "Mid")
    if start < 1:
        raise _Fail(f"Mid needs a start of 1 or more, got {start}")
    if len(args) == 2:
        return text[start - 1 :]
    return text[start - 1 : start - 1 + _count_arg(args[2], "Mid", "length")]


@_function("UCase", 1)
def _ucase(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0]).upper()


@_function("LCase", 1)
def _lcase(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0]).lower()


# VBA's Trim family removes spaces only, not tabs or line breaks.
@_function("Trim", 1)
def _trim(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0]).strip(" ")


@_function("LTrim", 1)
def _ltrim(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0]).lstrip(" ")


@_function("RTrim", 1)
def _rtrim(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0]).rstrip(" ")


@_function("InStr", 2, 4)
def _instr(env: _Env, args: list[_Result]) -> _Result:
    # InStr(text, find) or InStr(start, text, find[, compare]), 1-based, 0 when absent.
    start = 1
    if len(args) >= 3:
        start = _whole_arg(args[0], "InStr")
        args = args[1:]
        if start < 1:
            raise _Fail(f"InStr needs a start of 1 or more, got {start}")
    text, find = _text_arg(args[0]), _text_arg(args[1])
    if _compare_arg(args, 2, "InStr"):
        text, find = text.lower(), find.lower()
    if text == "":
        return 0
    if find == "":
        return start
    if start > len(text):
        return 0
    return text.find(find, start - 1) + 1


@_function("Replace", 3, 6)
def _replace(env: _Env, args: list[_Result]) -> _Result:
    text, find, by = _text_arg(args[0]), _text_arg(args[1]), _text_arg(args[2])
    start = _whole_arg(args[3], "Replace") if len(args) > 3 else 1
    count = _whole_arg(args[4], "Replace") if len(args) > 4 else -1
    if start < 1:
        raise _Fail(f"Replace needs a start of 1 or more, got {start}")
    if count < -1:
        raise _Fail(f"Replace needs a count of -1 (all) or more, got {count}")
    text = text[start - 1 :]  # VBA returns the text from `start` on
    if find == "" or count == 0:
        return text
    ignore_case = _compare_arg(args, 5, "Replace")
    found = text.lower().count(find.lower()) if ignore_case else text.count(find)
    if count >= 0:
        found = min(found, count)
    if len(text) + found * (len(by) - len(find)) > MAX_TEXT_LENGTH:
        raise _Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    if ignore_case:
        pattern = re.compile(re.escape(find), re.IGNORECASE)
        return pattern.sub(lambda _: by, text, count=max(count, 0))
    return text.replace(find, by, count)


@_function("Split", 1, 4, gives_list=True)
def _split(env: _Env, args: list[_Result]) -> _Result:
    text = _text_arg(args[0])
    delimiter = _text_arg(args[1]) if len(args) > 1 else " "
    limit = _whole_arg(args[2], "Split") if len(args) > 2 else -1
    if limit < -1:
        raise _Fail(f"Split needs a limit of -1 (all) or more, got {limit}")
    if text == "" or limit == 0:
        return ()
    if delimiter == "":
        return (text,)
    if _compare_arg(args, 3, "Split"):
        pattern = re.compile(re.escape(delimiter), re.IGNORECASE)
        return tuple(pattern.split(text, maxsplit=max(limit - 1, 0)))
    return tuple(text.split(delimiter, limit - 1 if limit > 0 else -1))


@_function("Join", 1, 2, lists=(0,))
def _join(env: _Env, args: list[_Result]) -> _Result:
    items = args[0]
    assert isinstance(items, tuple)
    delimiter = _text_arg(args[1]) if len(args) > 1 else " "
    return _joined(delimiter.join(items))


@_function("UBound", 1, lists=(0,))
def _ubound(env: _Env, args: list[_Result]) -> _Result:
    assert isinstance(args[0], tuple)
    return len(args[0]) - 1


@_function("LBound", 1, lists=(0,))
def _lbound(env: _Env, args: list[_Result]) -> _Result:
    return 0


@_function("CStr", 1)
def _cstr(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0])


def _ranged(fn: str, low: int, high: int) -> _Impl:
    def convert(env: _Env, args: list[_Result]) -> _Result:
        number = _whole_arg(args[0], fn)
        if not low <= number <= high:
            raise _Fail(f"overflow: {fn} needs a number from {low:,} to {high:,}, got {number}")
        return number

    return convert


_function("CInt", 1)(_ranged("CInt", -32768, 32767))
_function("CLng", 1)(_ranged("CLng", -(2**31), 2**31 - 1))


@_function("CDbl", 1)
def _cdbl(env: _Env, args: list[_Result]) -> _Result:
    return float(_number_arg(args[0], "CDbl"))


@_function("CBool", 1)
def _cbool(env: _Env, args: list[_Result]) -> _Result:
    return _truth(_value(args[0]), "CBool")


@_function("CDate", 1)
def _cdate(env: _Env, args: list[_Result]) -> _Result:
    return _date_arg(args[0], "CDate")


_VAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eEdD][+-]?[0-9]+)?")
_VAL_RADIX = re.compile(r"&([hHoO])([0-9A-Fa-f]{1,16})")


@_function("Val", 1)
def _val(env: _Env, args: list[_Result]) -> _Result:
    # VBA's Val drops blanks, tabs and line feeds anywhere, then reads the longest number at
    # the start ("12abc" -> 12, "abc" -> 0); &H/&O prefixes read hex and octal.
    text = re.sub(r"[ \t\r\n]", "", _text_arg(args[0]))
    radix = _VAL_RADIX.match(text)
    if radix is not None:
        digits = radix.group(2)
        if radix.group(1) in "oO":
            digits = re.match(r"[0-7]*", digits).group()  # type: ignore[union-attr]
            return int(digits, 8) if digits else 0
        return int(digits, 16)
    match = _VAL_NUMBER.match(text)
    if match is None:
        return 0
    written = match.group().replace("d", "e").replace("D", "e")
    number = _number_literal(written.rstrip(".") if written.endswith(".") else written)
    if number is None:
        raise _Fail("overflow: Val read a number that is too large")
    return number


@_function("Str", 1)
def _str(env: _Env, args: list[_Result]) -> _Result:
    number = _number_arg(args[0], "Str")
    text = to_text(number)
    return text if number < 0 else " " + text  # VBA's Str keeps a space for the sign


@_function("IsNumeric", 1)
def _isnumeric(env: _Env, args: list[_Result]) -> _Result:
    return _as_number(_value(args[0])) is not None


@_function("IsDate", 1)
def _isdate(env: _Env, args: list[_Result]) -> _Result:
    value = _value(args[0])
    return isinstance(value, datetime.datetime) or (
        isinstance(value, str) and _date_from_text(value) is not None
    )


@_function("Now", 0)
def _now(env: _Env, args: list[_Result]) -> _Result:
    return env.now()


@_function("Date", 0)
def _date(env: _Env, args: list[_Result]) -> _Result:
    now = env.now()
    return datetime.datetime(now.year, now.month, now.day)


@_function("Time", 0)
def _time(env: _Env, args: list[_Result]) -> _Result:
    now = env.now()
    return datetime.datetime.combine(_DAY_ZERO.date(), now.time())


def _in_range(fn: str, make: Callable[[], datetime.datetime]) -> datetime.datetime:
    try:
        moment = make()
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not 100 <= moment.year <= 9999:
        raise _Fail(f"{fn}: the date is out of range (years 100 to 9999)")
    return moment


def _add_months(date: datetime.datetime, months: int, fn: str) -> datetime.datetime:
    # DateAdd("m", 1, 1/31) is 2/28 (or 2/29): the day is clamped to the month's last day.
    def make() -> datetime.datetime:
        year, month = divmod(date.year * 12 + date.month - 1 + months, 12)
        month += 1
        last = (
            31 if month == 12 else (datetime.date(year, month + 1, 1) - datetime.timedelta(1)).day
        )
        return date.replace(year=year, month=month, day=min(date.day, last))

    return _in_range(fn, make)


_INTERVALS = ("yyyy", "q", "m", "y", "d", "w", "ww", "h", "n", "s")


def _interval_arg(arg: _Result, fn: str) -> str:
    interval = _text_arg(arg).strip().lower()
    if interval not in _INTERVALS:
        raise _Fail(
            f'{fn}: unknown interval "{_text_arg(arg)}"; use one of ' + ", ".join(_INTERVALS)
        )
    return interval


@_function("DateAdd", 3)
def _dateadd(env: _Env, args: list[_Result]) -> _Result:
    interval = _interval_arg(args[0], "DateAdd")
    amount = _number_arg(args[1], "DateAdd")
    if not float(amount).is_integer():
        # VBA's handling of a fractional count is not documented; refuse rather than guess.
        raise _Fail(f"DateAdd needs a whole number of intervals, got {to_text(amount)}")
    count = int(amount)
    date = _date_arg(args[2], "DateAdd")
    if interval in ("yyyy", "q", "m"):
        return _add_months(date, count * {"yyyy": 12, "q": 3, "m": 1}[interval], "DateAdd")
    seconds = {"y": 86400, "d": 86400, "w": 86400, "ww": 604800, "h": 3600, "n": 60, "s": 1}
    return _in_range(
        "DateAdd", lambda: date + datetime.timedelta(seconds=count * seconds[interval])
    )


def _week_start(date: datetime.datetime) -> datetime.date:
    """The Sunday on or before ``date`` (VBA's default first day of the week)."""
    return date.date() - datetime.timedelta(days=(date.weekday() + 1) % 7)


@_function("DateDiff", 3)
def _datediff(env: _Env, args: list[_Result]) -> _Result:
    # VBA counts interval boundaries crossed (DateDiff("yyyy", 12/31, 1/1) is 1), not elapsed
    # whole intervals.
    interval = _interval_arg(args[0], "DateDiff")
    a, b = _date_arg(args[1], "DateDiff"), _date_arg(args[2], "DateDiff")
    if interval == "yyyy":
        return b.year - a.year
    if interval == "q":
        return (b.year * 4 + (b.month - 1) // 3) - (a.year * 4 + (a.month - 1) // 3)
    if interval == "m":
        return (b.year * 12 + b.month) - (a.year * 12 + a.month)
    days = (b.date() - a.date()).days
    if interval in ("y", "d"):
        return days
    if interval == "w":
        return int(days / 7)
    if interval == "ww":
        return (_week_start(b) - _week_start(a)).days // 7
    unit = {"h": 3600, "n": 60, "s": 1}[interval]
    second = datetime.timedelta(seconds=1)
    return (b - _DAY_ZERO) // second // unit - (a - _DAY_ZERO) // second // unit


def _date_part(interval: str, date: datetime.datetime) -> int:
    if interval == "yyyy":
        return date.year
    if interval == "q":
        return (date.month - 1) // 3 + 1
    if interval == "m":
        return date.month
    if interval == "y":
        return date.timetuple().tm_yday
    if interval == "d":
        return date.day
    if interval == "w":
        return (date.weekday() + 1) % 7 + 1  # Sunday is 1
    if interval == "ww":  # the week holding January 1 is week 1; weeks start on Sunday
        first = datetime.date(date.year, 1, 1)
        return (date.timetuple().tm_yday - 1 + (first.weekday() + 1) % 7) // 7 + 1
    return {"h": date.hour, "n": date.minute, "s": date.second}[interval]


@_function("DatePart", 2)
def _datepart(env: _Env, args: list[_Result]) -> _Result:
    return _date_part(_interval_arg(args[0], "DatePart"), _date_arg(args[1], "DatePart"))


def _part(fn: str, interval: str) -> _Impl:
    def part(env: _Env, args: list[_Result]) -> _Result:
        return _date_part(interval, _date_arg(args[0], fn))

    return part


for _fn, _interval in (
    ("Year", "yyyy"),
    ("Month", "m"),
    ("Day", "d"),
    ("Hour", "h"),
    ("Minute", "n"),
    ("Second", "s"),
    ("Weekday", "w"),
):
    _function(_fn, 1)(_part(_fn, _interval))


@_function("DateSerial", 3)
def _dateserial(env: _Env, args: list[_Result]) -> _Result:
    # Out-of-range parts roll over, as in VBA: DateSerial(2020, 13, 1) is 1/1/2021.
    year = _whole_arg(args[0], "DateSerial")
    month, day = _whole_arg(args[1], "DateSerial"), _whole_arg(args[2], "DateSerial")
    if 0 <= year <= 99:
        year = _full_year(year, "00")
    first = datetime.datetime(100, 1, 1)
    moved = _add_months(first, (year - 100) * 12 + month - 1, "DateSerial")
    return _in_range("DateSerial", lambda: moved + datetime.timedelta(days=day - 1))


@_function("TimeSerial", 3)
def _timeserial(env: _Env, args: list[_Result]) -> _Result:
    hour, minute = _whole_arg(args[0], "TimeSerial"), _whole_arg(args[1], "TimeSerial")
    second = _whole_arg(args[2], "TimeSerial")
    total = hour * 3600 + minute * 60 + second
    return _in_range("TimeSerial", lambda: _DAY_ZERO + datetime.timedelta(seconds=total))


@_function("IIf", 3)
def _iif(env: _Env, args: list[_Result]) -> _Result:
    # Registered for its arity; _Call evaluates IIf itself, so that only one branch runs.
    return args[1] if _truth(_value(args[0]), "IIf") else args[2]


@_function("Abs", 1)
def _abs(env: _Env, args: list[_Result]) -> _Result:
    return abs(_number_arg(args[0], "Abs"))


@_function("Int", 1)
def _int(env: _Env, args: list[_Result]) -> _Result:
    number = _number_arg(args[0], "Int")
    return number if isinstance(number, int) else _whole(math.floor, number)


@_function("Fix", 1)
def _fix(env: _Env, args: list[_Result]) -> _Result:
    number = _number_arg(args[0], "Fix")
    return number if isinstance(number, int) else _whole(math.trunc, number)


def _whole(how: Callable[[float], int], number: float) -> int:
    try:
        return how(number)
    except (OverflowError, ValueError):
        raise _Fail("overflow: the number is too large") from None


@_function("Sgn", 1)
def _sgn(env: _Env, args: list[_Result]) -> _Result:
    number = _number_arg(args[0], "Sgn")
    return (number > 0) - (number < 0)


@_function("Round", 1, 2)
def _round(env: _Env, args: list[_Result]) -> _Result:
    # VBA's Round is banker's rounding on the decimal digits: Round(2.5) = 2, Round(2.675, 2)
    # = 2.68 (decimal, so the binary 2.67499… does not leak through).
    number = _number_arg(args[0], "Round")
    places = _count_arg(args[1], "Round", "number of decimal places") if len(args) > 1 else 0
    if isinstance(number, int):
        return number
    if places == 0:
        return _round_even(number)
    if places > 15:
        return number
    with localcontext() as context:
        context.prec = 400  # room for the 309 whole digits of the largest float
        quantum = Decimal(1).scaleb(-places)
        return float(Decimal(repr(number)).quantize(quantum, rounding=ROUND_HALF_EVEN))


@_function("Chr", 1)
def _chr(env: _Env, args: list[_Result]) -> _Result:
    code = _whole_arg(args[0], "Chr")
    if not 0 <= code <= 65535:
        raise _Fail(f"Chr needs a character code from 0 to 65535, got {code}")
    return chr(code)


@_function("Asc", 1)
def _asc(env: _Env, args: list[_Result]) -> _Result:
    text = _text_arg(args[0])
    if text == "":
        raise _Fail("Asc needs at least one character, got empty text")
    return ord(text[0])


@_function("Space", 1)
def _space(env: _Env, args: list[_Result]) -> _Result:
    count = _count_arg(args[0], "Space", "count")
    if count > MAX_TEXT_LENGTH:
        raise _Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    return " " * count


@_function("StrComp", 2, 3)
def _strcomp(env: _Env, args: list[_Result]) -> _Result:
    a, b = _text_arg(args[0]), _text_arg(args[1])
    if _compare_arg(args, 2, "StrComp"):
        a, b = a.lower(), b.lower()
    return (a > b) - (a < b)


@_function("StrReverse", 1)
def _strreverse(env: _Env, args: list[_Result]) -> _Result:
    return _text_arg(args[0])[::-1]


@_function("ExtractFileName", 1)
def _extractfilename(env: _Env, args: list[_Result]) -> _Result:
    # An Automate "extended function" (aml-reference.md §4.3): the part after the last \ or /.
    return re.split(r"[\\/]", _text_arg(args[0]))[-1]


# --------------------------------------------------------------------------------------------
# Format: VBA's user-defined number and date formats (the common subset), en-US

_NAMED_FORMATS = {
    "currency": "$#,##0.00;($#,##0.00)",
    "fixed": "0.00",
    "standard": "#,##0.00",
    "percent": "0.00%",
    "scientific": "0.00E+00",
    "long date": "dddd, mmmm d, yyyy",
    "medium date": "dd-mmm-yy",
    "short date": "m/d/yyyy",
    "long time": "h:nn:ss AM/PM",
    "medium time": "hh:nn AM/PM",
    "short time": "hh:nn",
}
_NAMED_WORDS = {"yes/no": ("Yes", "No"), "true/false": ("True", "False"), "on/off": ("On", "Off")}
_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|yyyy|yy|y|q|mmmm|mmm|mm|m|dddd|ddd|dd|d|ww|w|hh|h|nn|n|ss|s|am/pm|a/p|ampm|.',
    re.IGNORECASE | re.DOTALL,
)
_DATE_LETTERS = frozenset("ymdqwhns")
_NUMBER_TOKEN = re.compile(r'"[^"]*"|\\.|[eE][+-]0+|.', re.DOTALL)


@_function("Format", 1, 2)
def _format(env: _Env, args: list[_Result]) -> _Result:
    value = _value(args[0])
    pattern = _text_arg(args[1]) if len(args) > 1 else ""
    if pattern == "":
        return to_text(value)  # Format(x) reads like CStr(x)
    named = pattern.strip().lower()
    if named in ("general number", "general date"):
        return to_text(value)
    if named in _NAMED_WORDS:
        number = _as_number(value)
        if number is None:
            return to_text(value)
        yes, no = _NAMED_WORDS[named]
        return yes if number != 0 else no
    pattern = _NAMED_FORMATS.get(named, pattern)
    # Like VBA, the value decides: dates format as dates, numbers as numbers (or, with only
    # date placeholders, as date serials), date text as a date; other text is returned as is.
    number = _as_number(value)
    if not isinstance(value, datetime.datetime) and number is not None:
        if re.search(r"[0#]", _literal_free(pattern)):
            return _format_number(number, pattern)
    if _has_date_letters(pattern):
        date = _as_date(value)
        if date is None and number is not None:
            raise _Fail(f"Format: {to_text(value)} is out of range as a date")
        if date is not None:
            return _format_date(date, pattern)
    if number is None and not isinstance(value, datetime.datetime):
        return to_text(value)
    raise _Fail(f'Format: unsupported format "{pattern}" for {_describe(value)}')


def _literal_free(pattern: str) -> str:
    """``pattern`` without its quoted and backslash-escaped literal parts."""
    return re.sub(r'"[^"]*"|\\.', "", pattern, flags=re.DOTALL)


def _has_date_letters(pattern: str) -> bool:
    return any(char in _DATE_LETTERS for char in _literal_free(pattern).lower())


def _format_date(date: datetime.datetime, pattern: str) -> str:
    """VBA date placeholders (``yyyy mm dd hh nn ss``, names, ``AM/PM``); other characters,
    quoted text and ``\\x`` escapes are literal.  ``m`` after ``h`` is minutes, as in VBA."""
    tokens = [match.group() for match in _DATE_TOKEN.finditer(pattern)]
    twelve = any(t.lower() in ("am/pm", "a/p", "ampm") for t in tokens)
    out: list[str] = []
    after_hour = False  # VBA: m or mm right after h or hh means minutes, not the month
    for token in tokens:
        low = token.lower()
        if token.startswith('"') and len(token) > 1 and token.endswith('"'):
            out.append(token[1:-1])
            continue
        if token.startswith("\\") and len(token) == 2:
            out.append(token[1])
            continue
        hour = date.hour % 12 or 12 if twelve else date.hour
        if low in ("m", "mm") and after_hour:
            out.append(f"{date.minute:02d}" if low == "mm" else str(date.minute))
        elif low in ("h", "hh"):
            out.append(f"{hour:02d}" if low == "hh" else str(hour))
        else:
            out.append(_date_token(low, token, date))
        if low[0] in _DATE_LETTERS or low in ("am/pm", "a/p", "ampm"):
            after_hour = low in ("h", "hh")
    return _joined(*out)


def _date_token(low: str, token: str, date: datetime.datetime) -> str:
    simple: dict[str, Callable[[], str]] = {
        "yyyy": lambda: f"{date.year:04d}",
        "yy": lambda: f"{date.year % 100:02d}",
        "y": lambda: str(date.timetuple().tm_yday),
        "q": lambda: str((date.month - 1) // 3 + 1),
        "mmmm": lambda: _MONTHS[date.month - 1],
        "mmm": lambda: _MONTHS[date.month - 1][:3],
        "mm": lambda: f"{date.month:02d}",
        "m": lambda: str(date.month),
        "dddd": lambda: _WEEKDAYS[(date.weekday() + 1) % 7],
        "ddd": lambda: _WEEKDAYS[(date.weekday() + 1) % 7][:3],
        "dd": lambda: f"{date.day:02d}",
        "d": lambda: str(date.day),
        "ww": lambda: str(_date_part("ww", date)),
        "w": lambda: str(_date_part("w", date)),
        "nn": lambda: f"{date.minute:02d}",
        "n": lambda: str(date.minute),
        "ss": lambda: f"{date.second:02d}",
        "s": lambda: str(date.second),
    }
    if low in simple:
        return simple[low]()
    morning = date.hour < 12
    if low == "am/pm":
        text = "AM" if morning else "PM"
        return text if token[0].isupper() else text.lower()
    if low == "a/p":
        text = "A" if morning else "P"
        return text if token[0].isupper() else text.lower()
    if low == "ampm":
        return "AM" if morning else "PM"
    return token  # any other character is literal


def _format_number(number: int | float, pattern: str) -> str:
    """VBA digit placeholders: ``0`` (a digit or 0), ``#`` (a digit or nothing), ``.``, ``,``
    grouping, ``%``, ``E+00``, up to three ``;`` sections (positive; negative; zero), literals
    anywhere (``000-00-0000``).  Rounding is half away from zero, as VBA's Format does (unlike
    Round's banker's rounding), on the decimal digits, so 0.125 shows as 0.13."""
    sections = _sections(pattern)
    section, sign = sections[0], "-" if number < 0 else ""
    if number < 0 and len(sections) > 1 and sections[1]:
        section, sign = sections[1], ""  # the negative section carries its own sign
    elif number == 0 and len(sections) > 2 and sections[2]:
        section = sections[2]
    tokens = [match.group() for match in _NUMBER_TOKEN.finditer(section)]
    amount = Decimal(abs(number)) if isinstance(number, int) else Decimal(repr(abs(number)))
    if "%" in tokens:
        amount *= 100
    point = tokens.index(".") if "." in tokens else None
    exponent_at = next((i for i, t in enumerate(tokens) if t[0] in "eE" and len(t) > 2), None)
    whole_end = point if point is not None else (exponent_at if exponent_at is not None else None)
    if whole_end is None:
        whole_end = len(tokens)
    frac_end = exponent_at if exponent_at is not None else len(tokens)
    whole_slots = [i for i in range(whole_end) if tokens[i] in ("0", "#")]
    frac_slots = [i for i in range(whole_end, frac_end) if tokens[i] in ("0", "#")]
    commas = [i for i in range(whole_end) if tokens[i] == ","]
    if whole_slots and any(i > whole_slots[-1] for i in commas):
        # VBA divides by 1,000 per comma left of the point ("#," shows 12345 as 12).
        raise _Fail(f'Format: scaling commas are not supported by amlses in "{pattern}"')
    grouping = any(whole_slots and whole_slots[0] < i for i in commas)
    exponent = 0
    with localcontext() as context:
        context.prec = 400 + len(frac_slots)
        quantum = Decimal(1).scaleb(-len(frac_slots))
        if exponent_at is not None and amount != 0:
            exponent = amount.adjusted() - max(len(whole_slots), 1) + 1
            amount = amount.scaleb(-exponent)
        try:
            amount = amount.quantize(quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise _Fail("Format: the number has too many digits for this format") from None
        if exponent_at is not None and amount >= Decimal(10) ** max(len(whole_slots), 1):
            exponent += 1
            amount = (amount / 10).quantize(quantum, rounding=ROUND_HALF_UP)
    digits = f"{amount:f}"
    whole_digits, _, frac_digits = digits.partition(".")
    if whole_digits == "0":
        whole_digits = ""  # '#' shows nothing for a zero whole part; '0' fills it in below
    if amount == 0:
        sign = ""
    out = list(tokens)
    _fill_whole(out, whole_slots, whole_digits, grouping)
    _fill_fraction(out, frac_slots, frac_digits)
    if exponent_at is not None:
        written = tokens[exponent_at]
        mark = "-" if exponent < 0 else ("+" if written[1] == "+" else "")
        out[exponent_at] = f"{written[0]}{mark}{abs(exponent):0{len(written) - 2}d}"
    for i, token in enumerate(tokens):
        if token == "," and grouping and i < whole_end:
            out[i] = ""
        elif token.startswith('"') and len(token) > 1 and token.endswith('"'):
            out[i] = token[1:-1]
        elif token.startswith("\\") and len(token) == 2:
            out[i] = token[1]
    return _joined(sign, *out)


def _sections(pattern: str) -> list[str]:
    """``pattern`` cut at each ``;`` that is not quoted or escaped."""
    sections: list[str] = []
    current: list[str] = []
    for match in re.finditer(r'"[^"]*"|\\.|;|[^"\\;]+|.', pattern, re.DOTALL):
        if match.group() == ";":
            sections.append("".join(current))
            current = []
        else:
            current.append(match.group())
    sections.append("".join(current))
    return sections


def _fill_whole(out: list[str], slots: list[int], digits: str, grouping: bool) -> None:
    """Write the whole part's digits into the placeholders before the point."""
    if not slots:
        return
    zeros = sum(1 for i in slots if out[i] == "0")
    if grouping:
        padded = digits.rjust(zeros, "0")
        out[slots[0]] = ",".join(_groups(padded)) if padded else ""
        for i in slots[1:]:
            out[i] = ""
        return
    # Digits fill the placeholders from the right; extra digits go to the leftmost one.
    remaining = digits
    for i in reversed(slots):
        if remaining:
            out[i], remaining = remaining[-1], remaining[:-1]
        else:
            out[i] = "0" if out[i] == "0" else ""
    if remaining:
        out[slots[0]] = remaining + out[slots[0]]


def _groups(digits: str) -> list[str]:
    head = len(digits) % 3 or 3
    return [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]


def _fill_fraction(out: list[str], slots: list[int], digits: str) -> None:
    """Write the decimals into the placeholders after the point, left to right."""
    digits = digits.ljust(len(slots), "0")
    keep = len(slots)
    while keep and out[slots[keep - 1]] == "#" and digits[keep - 1] == "0":
        keep -= 1  # '#' drops trailing zeros
    for n, i in enumerate(slots):
        out[i] = digits[n] if n < keep else ""


# --------------------------------------------------------------------------------------------
# Scanning %…% (aml-reference.md §3.2)

_PERCENT_HINT = (
    "unexpected '%': '%%' inside %…% is a literal percent sign, so '%a%%b%' is the single "
    "expression 'a%b', not two; join values inside one pair instead: %a & b%"
)
_UNTERMINATED = "unterminated '%': no closing '%' for the expression that starts here"
_UNTERMINATED_SUFFIX = " (write '%%' for a literal percent sign)"
_EMPTY = "nothing between the '%' signs (write '%%' for a literal percent sign)"
_TOO_DEEP = f"the expression is nested too deeply (the limit is {MAX_DEPTH} levels)"


def _find_close(text: str, start: int) -> int:
    """The ``%`` that closes an expression whose content starts at ``start``, or -1.

    Automate reads ``%%`` as a literal ``%`` even inside an expression, which is why
    ``%a%%b%`` is the one expression ``a%b`` (aml-reference.md §3.2).
    """
    while True:
        close = text.find("%", start)
        if close < 0 or not text.startswith("%%", close):
            return close
        start = close + 2


_Offsets: TypeAlias = int | list[int]  # decoded index -> raw offset: a base, or a table


def _inner_offsets(text: str, start: int, end: int) -> _Offsets:
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


def _mapped(offsets: _Offsets, index: int) -> int:
    if isinstance(offsets, int):
        return offsets + index
    return offsets[min(max(index, 0), len(offsets) - 1)]


@functools.lru_cache(maxsize=4096)
def _scan(text: str) -> tuple[tuple[Segment, ...], _Problem | None]:
    """Segments up to the first unterminated ``%`` (and that problem), linear in ``text``."""
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
        close = _find_close(text, sign + 1)
        if close < 0:
            problem = _Problem(_UNTERMINATED, sign, suffix=_UNTERMINATED_SUFFIX)
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
    segments, problem = _scan(text)
    if problem is not None:
        message, offset = _render(text, problem, None)
        raise ExpressionError(f"{message} (at offset {offset})")
    return list(segments)


# --------------------------------------------------------------------------------------------
# Tokens


@dataclass(slots=True)
class _Token:
    """One token; ``start``/``end`` index the parser's own text (see ``_Parser.at``)."""

    kind: str  # lit name op ( ) , ref tmpl end
    value: object
    start: int
    end: int


_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*")
_WORD_OPERATORS = frozenset({"mod", "and", "or", "not"})
_BAD_PAIRS = {"=<": "<=", "=>": ">=", "><": "<>"}
_STRING_STOP = {'"': re.compile(r'["%]'), "'": re.compile(r"['%]")}


def _string_end(text: str, start: int) -> int:
    """The index after the string literal opening at ``start`` (honouring doubled quotes and
    skipping ``%…%`` parts, which are resolved before BASIC reads the text), or -1."""
    quote, i = text[start], start + 1
    stop = _STRING_STOP[quote]
    while True:
        found = stop.search(text, i)
        if found is None:
            return -1
        k = found.start()
        if text[k] == quote:
            if text.startswith(quote * 2, k):
                i = k + 2
                continue
            return k + 1
        if text.startswith("%%", k):
            i = k + 2
            continue
        close = _find_close(text, k + 1)
        if close < 0:
            return -1
        i = close + 1


# --------------------------------------------------------------------------------------------
# The tree


class _Node:
    """An expression node: where it starts (an offset into the evaluated text) and how deep
    its subtree is (bounded by MAX_DEPTH, so evaluation never nears the recursion limit)."""

    __slots__ = ("offset", "depth")

    def __init__(self, offset: int, depth: int = 1) -> None:
        self.offset = offset
        self.depth = depth

    def evaluate(self, env: _Env) -> _Result:
        raise NotImplementedError

    def children(self) -> Sequence[_Node]:
        return ()


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Value, offset: int) -> None:
        super().__init__(offset)
        self.value = value

    def evaluate(self, env: _Env) -> _Result:
        return self.value


class _Name(_Node):
    """A variable or ``Dataset.Field``, resolved through the scope as a value token."""

    __slots__ = ("name",)

    def __init__(self, name: str, offset: int) -> None:
        super().__init__(offset)
        self.name = name

    def evaluate(self, env: _Env) -> _Result:
        try:
            return env.scope.resolve(self.name)
        except KeyError:
            # Automate's wording (spec/aml-core.md §2), after the name.
            message = (
                f'unknown variable or dataset field "{self.name}": '
                "a variable in the expression does not exist or is misspelled"
            )
            raise _Fail(message, self.offset) from None
        except ExpressionError as exc:  # e.g. a dataset past its last row
            raise _Fail(exc.message, self.offset) from None


class _Unary(_Node):
    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: _Node, offset: int) -> None:
        super().__init__(offset, operand.depth + 1)
        self.op = op
        self.operand = operand

    def children(self) -> Sequence[_Node]:
        return (self.operand,)

    def evaluate(self, env: _Env) -> _Result:
        value = self.operand.evaluate(env)
        try:
            if self.op == "not":
                return not _truth(value, "'Not'")
            number = _as_number(value)
            if number is None:
                raise _Fail(f"type mismatch: '{self.op}' needs a number, got {_describe(value)}")
            return _checked(-number if self.op == "-" else number)
        except _Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise


class _Chain(_Node):
    """Operands joined by operators of one precedence level, evaluated left to right.

    Chains are flat (``1+2+…+1000`` is one node, not a thousand nested ones), so long
    expressions stay shallow.
    """

    __slots__ = ("level", "first", "ops", "rest", "op_offsets")

    def __init__(self, level: int, first: _Node, op: str, second: _Node, offset: int) -> None:
        super().__init__(first.offset, max(first.depth, second.depth) + 1)
        self.level = level
        self.first = first
        self.ops = [op]
        self.rest = [second]
        self.op_offsets = [offset]

    def append(self, op: str, operand: _Node, offset: int) -> None:
        self.ops.append(op)
        self.rest.append(operand)
        self.op_offsets.append(offset)
        self.depth = max(self.depth, operand.depth + 1)

    def children(self) -> Sequence[_Node]:
        return [self.first, *self.rest]

    def evaluate(self, env: _Env) -> _Result:
        value = self.first.evaluate(env)
        if self.level <= 2:  # Or, And: logical, both sides evaluated (as VBA does)
            word = "'Or'" if self.level == 1 else "'And'"
            result = self._truth(value, word, self.op_offsets[0])
            for operand, offset in zip(self.rest, self.op_offsets, strict=True):
                truth = self._truth(operand.evaluate(env), word, offset)
                result = (result or truth) if self.level == 1 else (result and truth)
            return result
        combine = _compare if self.level == _COMPARISON else _arithmetic
        for op, operand, offset in zip(self.ops, self.rest, self.op_offsets, strict=True):
            right = operand.evaluate(env)
            try:
                value = combine(op, value, right)
            except _Fail as fail:
                fail.offset = offset if fail.offset is None else fail.offset
                raise
        return value

    @staticmethod
    def _truth(value: _Result, word: str, offset: int) -> bool:
        try:
            return _truth(value, word)
        except _Fail as fail:
            fail.offset = offset
            raise


class _Call(_Node):
    """``Name(args)``; the function exists and the arguments fit, or compile refused it."""

    __slots__ = ("name", "key", "args")

    def __init__(self, name: str, args: list[_Node], offset: int) -> None:
        super().__init__(offset, max((a.depth for a in args), default=0) + 1)
        self.name = name
        self.key = name.lower()
        self.args = args

    def children(self) -> Sequence[_Node]:
        return self.args

    def evaluate(self, env: _Env) -> _Result:
        function = _FUNCTIONS[self.key]  # compile refused unknown names
        try:
            if self.key == "iif":  # only the chosen branch is evaluated
                chosen = _truth(_value(self.args[0].evaluate(env)), "IIf")
                return self.args[1 if chosen else 2].evaluate(env)
            return function.run(env, [arg.evaluate(env) for arg in self.args])
        except _Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise
        except OverflowError:
            raise _Fail(f"overflow in {function.name}", self.offset) from None


class _Index(_Node):
    """``Split(text, delimiter)(index)``: one item of Split's list, zero-based as in VBA."""

    __slots__ = ("target", "index")

    def __init__(self, target: _Node, index: _Node, offset: int) -> None:
        super().__init__(offset, max(target.depth, index.depth) + 1)
        self.target = target
        self.index = index

    def children(self) -> Sequence[_Node]:
        return (self.target, self.index)

    def evaluate(self, env: _Env) -> _Result:
        items = self.target.evaluate(env)
        index = self.index.evaluate(env)
        try:
            position = _whole_arg(index, "the index")
            if not isinstance(items, tuple) or not 0 <= position < len(items):
                count = len(items) if isinstance(items, tuple) else 0
                raise _Fail(
                    f"index {position} is outside the list from Split (it has {count} "
                    f"item{'s' if count != 1 else ''}, numbered from 0)"
                )
            return items[position]
        except _Fail as fail:
            fail.offset = self.offset if fail.offset is None else fail.offset
            raise


class _Template(_Node):
    """A string literal holding ``%…%`` parts (Complex conditions): each part's value is
    spliced into the string, never parsed as part of the expression."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[str | _Node], offset: int) -> None:
        nodes = [part for part in parts if isinstance(part, _Node)]
        super().__init__(offset, max((n.depth for n in nodes), default=0) + 1)
        self.parts = parts

    def children(self) -> Sequence[_Node]:
        return [part for part in self.parts if isinstance(part, _Node)]

    def evaluate(self, env: _Env) -> _Result:
        texts = [p if isinstance(p, str) else to_text(_value(p.evaluate(env))) for p in self.parts]
        return _joined(*texts)


# --------------------------------------------------------------------------------------------
# The parser: operator precedence by a shunting-yard loop (iterative), recursion only into
# parentheses, arguments and %…% parts, each counted against MAX_DEPTH.


class _Parser:
    """Parses one expression.  ``refs`` says whether ``%…%`` parts may appear (conditions and
    :func:`evaluate`); inside a ``%…%`` part they may not, since a ``%`` there is literal."""

    def __init__(self, text: str, refs: bool, offsets: _Offsets, depth: int) -> None:
        self.text = text
        self.refs = refs
        self.offsets = offsets
        self.depth = depth
        self.pos = 0
        self.previous: _Token | None = None
        self.token = self._lex()

    # -- helpers

    def at(self, index: int) -> int:
        """The offset, in the text the caller evaluates, of ``index`` in this parser's text."""
        return _mapped(self.offsets, index)

    def fail(self, message: str, index: int, opened: int | None = None, suffix: str = "") -> _Fail:
        return _Fail(message, self.at(index), None if opened is None else self.at(opened), suffix)

    def describe(self, token: _Token) -> str:
        if token.kind == "end":
            return "the end of the expression"
        written = self.text[token.start : token.end]
        return f"'{written if len(written) <= 30 else written[:27] + '...'}'"

    def advance(self) -> _Token:
        self.previous, self.token = self.token, self._lex()
        return self.previous

    # -- tokens

    def _lex(self) -> _Token:
        text = self.text
        i = _SPACE.match(text, self.pos).end()  # type: ignore[union-attr]
        if i >= len(text):
            self.pos = i
            return _Token("end", None, i, i)
        char = text[i]
        if "0" <= char <= "9" or (char == "." and "0" <= text[i + 1 : i + 2] <= "9"):
            match = _NUMBER.match(text, i)
            assert match is not None
            number = _number_literal(match.group())
            if number is None:
                raise self.fail("the number is too large", i)
            return self._token("lit", number, i, match.end())
        if char in "\"'":
            return self._string(i)
        if char == "%":
            return self._ref(i)
        match = _NAME.match(text, i)
        if match is not None:
            return self._word(match.group(), i, match.end())
        pair = text[i : i + 2]
        if pair in ("<>", "<=", ">="):
            return self._token("op", pair, i, i + 2)
        if pair in _BAD_PAIRS:
            raise self.fail(f"'{pair}' is not an operator; write '{_BAD_PAIRS[pair]}'", i)
        if char in "+-*/\\^&=<>":
            return self._token("op", char, i, i + 1)
        if char in "(),":
            return self._token(char, char, i, i + 1)
        if char == "#":
            raise self.fail(
                "date literals like #1/31/2026# are not supported by amlses; "
                'use DateSerial(2026, 1, 31) or CDate("2026-01-31")',
                i,
            )
        raise self.fail(f"unexpected character {char!r}", i)

    def _token(self, kind: str, value: object, start: int, end: int) -> _Token:
        self.pos = end
        return _Token(kind, value, start, end)

    def _word(self, word: str, start: int, end: int) -> _Token:
        lowered = word.lower()
        if "." not in word:
            if lowered in ("true", "false"):
                return self._token("lit", lowered == "true", start, end)
            if lowered in _WORD_OPERATORS:
                return self._token("op", lowered, start, end)
            if lowered in _UNSUPPORTED:
                raise self.fail(f"'{_UNSUPPORTED[lowered]}' is not supported by amlses", start)
        if self.text.startswith(".", end):
            raise self.fail(f"expected a field name after '{word}.'", end)
        return self._token("name", word, start, end)

    def _string(self, start: int) -> _Token:
        """A ``"…"`` or ``'…'`` literal (a doubled quote stands for itself).  Single quotes are
        strings in Automate, not VBA comments (aml-reference.md §4.2)."""
        quote, text = self.text[start], self.text
        if not self.refs:
            parts, i = [], start + 1
            while True:
                k = text.find(quote, i)
                if k < 0:
                    raise self.fail(f"unterminated string: expected a closing {quote}", start)
                parts.append(text[i:k])
                if not text.startswith(quote * 2, k):
                    return self._token("lit", "".join(parts), start, k + 1)
                parts.append(quote)
                i = k + 2
        # With %…% parts allowed, a string may hold them: "Dear %name%" (a template).
        pieces: list[str | tuple[int, int]] = []
        chunk: list[str] = []
        i, stop = start + 1, _STRING_STOP[quote]
        while True:
            found = stop.search(text, i)
            if found is None:
                raise self.fail(f"unterminated string: expected a closing {quote}", start)
            k = found.start()
            chunk.append(text[i:k])
            if text[k] == quote:
                if text.startswith(quote * 2, k):
                    chunk.append(quote)
                    i = k + 2
                    continue
                break
            if text.startswith("%%", k):
                chunk.append("%")
                i = k + 2
                continue
            close = _find_close(text, k + 1)
            if close < 0:
                raise self.fail(_UNTERMINATED, k, suffix=_UNTERMINATED_SUFFIX)
            pieces.append("".join(chunk))
            pieces.append((k, close))
            chunk = []
            i = close + 1
        pieces.append("".join(chunk))
        if len(pieces) == 1:
            return self._token("lit", pieces[0], start, k + 1)
        return self._token("tmpl", pieces, start, k + 1)

    def _ref(self, start: int) -> _Token:
        if not self.refs:
            raise self.fail(_PERCENT_HINT, start)
        if self.text.startswith("%%", start):
            raise self.fail("unexpected '%%': a literal percent sign cannot stand here", start)
        close = _find_close(self.text, start + 1)
        if close < 0:
            raise self.fail(_UNTERMINATED, start, suffix=_UNTERMINATED_SUFFIX)
        return self._token("ref", (start, close), start, close + 1)

    # -- grammar

    def parse(self) -> _Node:
        node = self.expression(self.depth)
        token = self.token
        if token.kind == ")":
            raise self.fail("unexpected ')': there is no '(' to close", token.start)
        if token.kind == ",":
            raise self.fail("unexpected ',' outside a function's arguments", token.start)
        if token.kind != "end":
            raise self.fail(f"expected an operator before {self.describe(token)}", token.start)
        return node

    def expression(self, depth: int) -> _Node:
        """One expression up to a token that cannot continue it (``)``, ``,``, the end).

        Operators are ordered with an explicit stack instead of one recursive function per
        precedence level, so Python's stack grows only with parentheses and calls.
        """
        if depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, self.token.start)
        operands: list[_Node] = []
        pending: list[tuple[str, int, bool, int]] = []  # (operator, precedence, prefix, index)
        while True:
            while self.token.kind == "op" and self.token.value in _PREFIX:
                op = self.advance()
                pending.append((str(op.value), _PREFIX[str(op.value)], True, op.start))
            operands.append(self.primary(depth))
            token = self.token
            if token.kind != "op" or token.value not in _BINARY:
                break
            precedence = _BINARY[str(token.value)]
            while pending and pending[-1][1] >= precedence:  # all binary operators: left-assoc
                self.reduce(operands, pending)
            self.advance()
            pending.append((str(token.value), precedence, False, token.start))
        while pending:
            self.reduce(operands, pending)
        return operands[0]

    def reduce(self, operands: list[_Node], pending: list[tuple[str, int, bool, int]]) -> None:
        """Apply the operator on top of ``pending``; a left-associative run of one level is
        appended to its chain rather than nested."""
        op, precedence, prefix, index = pending.pop()
        node: _Node
        if prefix:
            node = _Unary(op, operands.pop(), self.at(index))
        else:
            right, left = operands.pop(), operands.pop()
            if isinstance(left, _Chain) and left.level == precedence:
                left.append(op, right, self.at(index))
                node = left
            else:
                node = _Chain(precedence, left, op, right, self.at(index))
        if node.depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, index)
        operands.append(node)

    def primary(self, depth: int) -> _Node:
        token = self.token
        if token.kind == "lit":
            self.advance()
            return _Literal(token.value, self.at(token.start))  # type: ignore[arg-type]
        if token.kind == "name":
            return self.name(depth)
        if token.kind == "(":
            self.advance()
            node = self.expression(depth + 1)
            self.close(token, "the '('")
            return node
        if token.kind == "ref":
            self.advance()
            assert isinstance(token.value, tuple)
            return self.part(token.value[0], token.value[1], depth)
        if token.kind == "tmpl":
            self.advance()
            parts: list[str | _Node] = []
            assert isinstance(token.value, list)
            for piece in token.value:
                if isinstance(piece, str):
                    parts.append(piece)
                else:
                    parts.append(self.part(piece[0], piece[1], depth))
            return _Template(parts, self.at(token.start))
        previous = self.previous
        if token.kind == "end" and previous is None:
            raise self.fail("the expression is empty", token.start)
        if token.kind == "end":
            assert previous is not None
            raise self.fail(f"expected a value after {self.describe(previous)}", token.start)
        raise self.fail(f"expected a value before {self.describe(token)}", token.start)

    def close(self, opening: _Token, what: str) -> None:
        token = self.token
        if token.kind == ")":
            self.advance()
            return
        if token.kind == "end":
            raise self.fail(f"expected ')' to close {what}", token.start, opening.start)
        raise self.fail(
            f"expected an operator or ')' before {self.describe(token)} to close {what}",
            token.start,
            opening.start,
        )

    def part(self, start: int, close: int, depth: int) -> _Node:
        """A ``%…%`` part of a condition: parsed on its own, used as one value token."""
        inner = self.text[start + 1 : close].replace("%%", "%")
        if not inner.strip():
            raise self.fail(_EMPTY, start)
        local = _inner_offsets(self.text, start + 1, close)
        offsets: _Offsets
        if isinstance(local, int) and isinstance(self.offsets, int):
            offsets = self.offsets + local
        else:
            span = range(len(inner) + 1)
            offsets = [self.at(_mapped(local, k)) for k in span]
        return _Parser(inner, False, offsets, depth + 1).parse()

    def name(self, depth: int) -> _Node:
        """A variable, ``Dataset.Field``, ``Now``-style bare call, or ``Name(args)``; a space
        before the ``(`` is allowed (``Day (Now())`` appears in the AWE docs)."""
        token = self.advance()
        name, offset = str(token.value), self.at(token.start)
        if self.token.kind != "(":
            if "." not in name and name.lower() in _BARE_FUNCTIONS:
                return _Call(name, [], offset)
            return _Name(name, offset)
        opening = self.advance()
        args: list[_Node] = []
        if self.token.kind == ")":
            self.advance()
        else:
            while True:
                if self.token.kind == "end":
                    self.close(opening, f"the '(' of {name}")
                if self.token.kind in (",", ")"):
                    raise self.fail(
                        f"expected an argument for {name} before {self.describe(self.token)}",
                        self.token.start,
                    )
                args.append(self.expression(depth + 1))
                if self.token.kind == ",":
                    self.advance()
                    continue
                self.close(opening, f"the '(' of {name}")
                break
        node: _Node = _Call(name, args, offset)
        if self.token.kind == "(":  # Split(text, ",")(0)
            opening = self.advance()
            index = self.expression(depth + 1)
            self.close(opening, "the index")
            node = _Index(node, index, self.at(opening.start))
        if node.depth > MAX_DEPTH:
            raise self.fail(_TOO_DEEP, token.start)
        return node


# --------------------------------------------------------------------------------------------
# Static checks on a parsed tree: unknown functions, argument counts, Split's list


def _unknown_function(name: str) -> str:
    names = sorted({f.name for f in _FUNCTIONS.values()})
    close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=1)
    message = f'unknown function "{name}"'
    if close:
        spelled = next(n for n in names if n.lower() == close[0])
        message += f"; did you mean {spelled}?"
    return message


_LIST_AS_VALUE = (
    "Split(...) gives a list of texts, not one value: pick an item with "
    "Split(text, delimiter)(index), or use Join, UBound or LBound"
)


def _validate(node: _Node, consumer: str | None, found: list[_Problem]) -> None:
    """Append the problems of ``node``'s subtree; ``consumer`` names what needs a list here
    (``UBound``, ``an index``) or is None where a value is needed."""
    gives_list = False
    known = True
    if isinstance(node, _Call):
        function = _FUNCTIONS.get(node.key)
        if function is None:
            known = False
            found.append(_Problem(_unknown_function(node.name), node.offset))
        elif not function.low <= len(node.args) <= function.high:
            count = len(node.args)
            found.append(
                _Problem(f"{function.name} takes {function.arity()}, got {count}", node.offset)
            )
        gives_list = function is not None and function.gives_list
        for i, arg in enumerate(node.args):
            wanted = function is not None and i in function.list_args
            _validate(arg, function.name if wanted and function else None, found)
    elif isinstance(node, _Index):
        _validate(node.target, "an index ( )", found)
        _validate(node.index, None, found)
    else:
        for child in node.children():
            _validate(child, None, found)
    if gives_list and consumer is None:
        found.append(_Problem(_LIST_AS_VALUE, node.offset))
    elif consumer is not None and not gives_list and known:
        found.append(_Problem(f"{consumer} needs the list from a Split(...) call", node.offset))


def _walk(node: _Node) -> Iterator[_Node]:
    yield node
    for child in node.children():
        yield from _walk(child)


# --------------------------------------------------------------------------------------------
# Compiling (cached) and running


@dataclass(frozen=True, slots=True)
class _Program:
    """A parsed expression and its static problems; it runs only when there are none."""

    root: _Node | None
    problems: tuple[_Problem, ...] = ()

    def run(self, env: _Env) -> Value:
        if self.problems or self.root is None:
            raise (self.problems[0] if self.problems else _Problem("no expression", 0)).fail()
        return _value(self.root.evaluate(env))


def _too_long(text: str) -> _Program | None:
    if len(text) <= MAX_EXPRESSION_LENGTH:
        return None
    message = (
        f"the expression is too long ({len(text):,} characters; "
        f"the limit is {MAX_EXPRESSION_LENGTH:,})"
    )
    return _Program(None, (_Problem(message, 0),))


@functools.lru_cache(maxsize=4096)
def _compile(text: str, refs: bool) -> _Program:
    """Parse and check ``text`` once; loops then only evaluate the cached tree."""
    refused = _too_long(text)
    if refused is not None:
        return refused
    try:
        root = _Parser(text, refs, 0, 0).parse()
    except _Fail as fail:
        return _Program(None, (_Problem(fail.message, fail.offset or 0, fail.opened, fail.suffix),))
    found: list[_Problem] = []
    _validate(root, None, found)
    return _Program(root, tuple(found))


def _segment_program(inner: str) -> _Program:
    if not inner.strip():
        return _Program(None, (_Problem(_EMPTY, 0),))
    return _compile(inner, False)


def _run_segment(text: str, segment: Segment, env: _Env) -> Value:
    """Evaluate one ``%…%`` part; a failure's offsets are moved from the part into ``text``."""
    try:
        return _segment_program(segment.text).run(env)
    except _Fail as fail:
        offsets = _inner_offsets(text, segment.start + 1, segment.end - 1)
        fail.offset = _mapped(offsets, fail.offset or 0)
        if fail.opened is not None:
            fail.opened = _mapped(offsets, fail.opened)
        raise


def _substitute(text: str, env: _Env) -> Value:
    """:func:`substitute` without the fast path, raising ``_Fail`` with offsets into ``text``."""
    segments, problem = _scan(text)
    if problem is not None:
        raise problem.fail()
    if len(segments) == 1 and segments[0].kind == "expr":
        return _run_segment(text, segments[0], env)  # a lone %x% keeps its type
    parts = [s.text if s.kind == "text" else to_text(_run_segment(text, s, env)) for s in segments]
    return _joined(*parts)


def _shifted(fail: _Fail, by: int) -> _Fail:
    fail.offset = (fail.offset or 0) + by
    if fail.opened is not None:
        fail.opened += by
    return fail


# --------------------------------------------------------------------------------------------
# Simple-mode conditions (spec/aml-core.md §3, aml-reference.md §4.4; the rule is inferred)

_NUMBER_SIDE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SIDE_BLANKS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class _Split:
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
def _simple_split(text: str) -> _Split | None:
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
            close = _find_close(text, i + 1)
            if close < 0:
                return None  # the full parse reports the unterminated '%'
            i = close + 1
            continue
        if char in "\"'":
            end = _string_end(text, i)
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
    return _Split(op, _trimmed(text, 0, start), _trimmed(text, end, n))


def _side_kind(side: str) -> str:
    """How a Simple-mode side is read: a quoted string, a number, text with %…%, or text."""
    if side[:1] in ("'", '"') and _string_end(side, 0) == len(side):
        return "string"
    if _NUMBER_SIDE.fullmatch(side) and _number_literal(side) is not None:
        return "number"
    return "substitute" if "%" in side else "text"


def _simple_side(side: str, env: _Env) -> Value:
    """The value of one trimmed side of a Simple-mode condition."""
    kind = _side_kind(side)
    if kind == "string":  # may hold %…% parts: "Dear %name%"
        return _compile(side, True).run(env)
    if kind == "number":
        number = _number_literal(side)
        assert number is not None
        return number
    if kind == "substitute":
        return _substitute(side, env)
    return side  # plain text: `EmailAddress` is the text EmailAddress, not a variable


def _condition_value(text: str, env: _Env, complex: bool) -> bool:
    """:func:`condition` without the error conversion (offsets are into ``text``)."""
    if not complex:
        split = _simple_split(text)
        if split is not None:
            sides = []
            for start, end in (split.left, split.right):
                try:
                    sides.append(_simple_side(text[start:end], env))
                except _Fail as fail:
                    raise _shifted(fail, start) from None
            return _compare(split.op, sides[0], sides[1])
    value = _compile(text, True).run(env)
    try:
        return _truth(value, "the condition")
    except _Fail:
        message = f"the condition did not give true or false: it gave {_describe(value)}"
        raise _Fail(message, 0) from None


# --------------------------------------------------------------------------------------------
# Public API


def substitute(text: str, scope: Scope, position: Position | None = None) -> Value:
    """Evaluate every ``%expr%`` in an attribute value and splice the results in.

    A value that is exactly one ``%expr%`` keeps its type (``%count%`` gives an ``int``);
    anything else gives text, each value spliced with :func:`to_text`.  Text without ``%``
    comes back unchanged at once, since every attribute of every step passes through here.
    ``position`` is where the value starts in the task file; errors point at the offending
    token inside it.
    """
    if "%" not in text:
        return text
    try:
        return _substitute(text, _Env(scope))
    except _Fail as fail:
        raise _error(text, fail, position) from None


def evaluate(expression: str, scope: Scope, position: Position | None = None) -> Value:
    """Evaluate one full BASIC expression: bare names are variables and ``Dataset.Field``s;
    ``%…%`` parts, if any, are value tokens (as Automate resolves them before BASIC reads
    the text, a ``%`` inside a string literal must be doubled)."""
    try:
        return _compile(expression, True).run(_Env(scope))
    except _Fail as fail:
        raise _error(expression, fail, position) from None


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
        return _condition_value(text, _Env(scope), complex)
    except _Fail as fail:
        raise _error(text, fail, position) from None


_Unit: TypeAlias = tuple[_Program, Callable[[int], int]]


def _identity(offset: int) -> int:
    return offset


def _units(text: str, kind: str, complex: bool) -> list[_Unit]:
    """The programs a text holds for ``kind``, each with a map from its offsets to ``text``."""
    if kind == "text":
        segments, problem = _scan(text)
        units: list[_Unit] = []
        for segment in segments:
            if segment.kind == "expr":
                offsets = _inner_offsets(text, segment.start + 1, segment.end - 1)
                units.append((_segment_program(segment.text), functools.partial(_mapped, offsets)))
        if problem is not None:
            units.append((_Program(None, (problem,)), _identity))
        return units
    if kind == "condition" and not complex:
        split = _simple_split(text)
        if split is not None:
            units = []
            for start, end in (split.left, split.right):
                side = text[start:end]
                side_kind = _side_kind(side)
                inner: list[_Unit] = []
                if side_kind == "string":
                    inner = [(_compile(side, True), _identity)]
                elif side_kind == "substitute":
                    inner = _units(side, "text", False)
                for program, mapper in inner:
                    units.append((program, _offset_by(mapper, start)))
            return units
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return [(_compile(text, True), _identity)]


def _offset_by(mapper: Callable[[int], int], by: int) -> Callable[[int], int]:
    return lambda offset: mapper(offset) + by


def problems(text: str, *, kind: str = "text", complex: bool = False) -> list[tuple[str, int]]:
    """Every problem that can be found without running: ``(message, offset into text)``.

    For ``amlses check``: syntax errors, unsupported operators, unknown functions, wrong
    argument counts, an unterminated ``%``, limits.  ``kind`` says how ``text`` is read: an
    attribute value with ``%…%`` parts (``"text"``), a full expression (``"expression"``), or
    an ``AMIF``/loop ``EXPRESSION`` (``"condition"``, Simple mode unless ``complex``).
    """
    found: list[tuple[str, int]] = []
    for program, mapper in _units(text, kind, complex):
        for problem in program.problems:
            found.append(_render(text, problem.moved(mapper), None))
    return found


def references(text: str, *, kind: str = "text", complex: bool = False) -> list[tuple[str, int]]:
    """Every variable or ``Dataset.Field`` name ``text`` reads, as written, with its offset.

    ``amlses check`` flags the names no earlier step creates.  Parts that do not parse are
    skipped (:func:`problems` reports them); ``Now``, ``Date`` and ``Time`` are functions.
    """
    found: list[tuple[str, int]] = []
    for program, mapper in _units(text, kind, complex):
        if program.root is not None:
            for node in _walk(program.root):
                if isinstance(node, _Name):
                    found.append((node.name, mapper(node.offset)))
    return sorted(found, key=lambda item: item[1])
