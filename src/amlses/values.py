"""AML's typed values, how they read as text, and VBA's implicit coercions made explicit.

This is the foundation every layer shares: the expression language (:mod:`amlses.expr`), the
runtime, the actions and the output all speak :data:`Value` and splice values into text with
:func:`to_text`.  It sits apart from the expression package so that those layers can use values
without loading a tokenizer, a parser and forty built-in functions, and so that the coercions are
written once: the operators, the built-ins, ``Format`` and Simple-mode conditions all read
numbers, dates and truth the same way.  It imports only the standard library.

Decisions where Automate's behaviour is not documented:

* Text of a value (:func:`to_text`): ``True``/``False``; integers plainly; other numbers with up
  to 15 significant digits like VBA's ``CStr`` (``5.0`` → ``5``, ``1E+20``); dates as VBA's
  *general date* in the en-US locale (``11/23/2026 10:40:00 AM``, a date without a time as
  ``11/23/2026``, a time on VBA's day zero as ``10:40:00 AM``).
* Text that reads as a number is a number wherever a number is wanted (:func:`as_number`),
  because AML variables and dataset fields usually hold numbers as text; ``True`` is -1, as in
  VBA.  Truth (:func:`truth`) is a boolean, ``"True"``/``"False"`` in any case, or a number
  (non-zero meaning true).
"""

from __future__ import annotations

import datetime
import math
import re
from typing import TypeAlias

__all__ = [
    "DAY_ZERO",
    "MAX_TEXT_LENGTH",
    "Fail",
    "Value",
    "as_date",
    "as_number",
    "checked",
    "date_from_serial",
    "date_from_text",
    "describe",
    "full_year",
    "joined",
    "number_from_text",
    "number_literal",
    "round_even",
    "serial",
    "to_text",
    "truth",
]

#: the typed values of AML: text, whole and decimal numbers, booleans and dates
Value: TypeAlias = str | int | float | bool | datetime.datetime

#: the longest text an operator or function may build (``Space``, ``Replace``, ``&``, ``+``);
#: SES messages are at most 10 MB, so nothing legitimate comes near it
MAX_TEXT_LENGTH = 10_000_000

#: VBA's day zero: serial 0 is 12/30/1899, and a time without a date lives on that day.  Public
#: because the date built-ins (``Time``, ``TimeSerial``, ``DateDiff``) count from it too.
DAY_ZERO = datetime.datetime(1899, 12, 30)


class Fail(Exception):
    """An operation on values failed: a type mismatch, an overflow, a text too long.

    The coercions here raise it with a message only; the expression code that called them fills
    in ``offset`` (where in its text the failing token is, ``None`` until then), ``opened``
    (where an unclosed ``(`` was opened) and ``suffix`` (text after the "at column 4" part), and
    :mod:`amlses.expr` turns it into an :class:`~amlses.errors.ExpressionError` with a position.
    It lives here, not in the expression package, so that this layer can fail without importing
    the layers above it.
    """

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


# --------------------------------------------------------------------------------------------
# Text of values


#: characters of a value shown in a step line or quoted in a message
SHOWN_CHARACTERS = 60


def shortened(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters with "…" when longer: step lines and messages show
    a value, not a whole file of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    if value.date() == DAY_ZERO.date():
        return time
    date = f"{value.month}/{value.day}/{value.year}"
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return date
    return f"{date} {time}"


def describe(value: object) -> str:
    """A value as an error message shows it: ``text "abc"``, ``empty text``, ``12``.

    Every layer that reports a mismatch names the offending value this one way.
    """
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


def number_literal(text: str) -> int | float | None:
    """The number ``text`` spells (already matched as one), or None when it is not finite.

    Shared by the tokenizer, ``Val`` and Simple-mode conditions, so that a number written in
    an expression and one read from text become the same ``int`` or ``float``.
    """
    if "." not in text and "e" not in text and "E" not in text:
        digits = text.lstrip("+-").lstrip("0")
        if len(digits) <= _LONGEST_INT:
            return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def number_from_text(text: str) -> int | float | None:
    """``text`` as a number when all of it reads as one (VBA's ``IsNumeric``), else None."""
    match = _NUMERIC_TEXT.fullmatch(text)
    if match is None:
        return None
    return number_literal(match.group(1))


def as_number(value: object) -> int | float | None:
    """The numeric reading of a value: numbers, booleans (True is -1, as in VBA), numeric
    text; None for other text, dates and lists.  Operators, comparisons and built-ins all ask
    this one question, so ``"10" > "9"`` and ``Abs("-3")`` agree on what a number is."""
    if isinstance(value, bool):
        return -1 if value else 0
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return number_from_text(value)
    return None


def serial(value: datetime.datetime) -> float:
    """VBA's date serial: days since 12/30/1899, the time as a fraction (of the same sign).

    Date arithmetic (``date + 1``, ``date - date``) works on serials, as VBA's does.
    """
    days = (value.date() - DAY_ZERO.date()).days
    fraction = (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    return days - fraction if days < 0 else days + fraction


def date_from_serial(serial: float) -> datetime.datetime | None:
    """The date a VBA serial stands for, or None outside VBA's years 100–9999."""
    if not math.isfinite(serial) or not -657434 <= serial < 2958466:
        return None
    whole = math.trunc(serial)
    seconds = round(abs(serial - whole) * 86400)
    try:
        return DAY_ZERO + datetime.timedelta(days=whole, seconds=seconds)
    except OverflowError:
        return None


_DATE_PART = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})|([0-9]{1,2})/([0-9]{1,2})/([0-9]{4}|[0-9]{2})(?![0-9])"
)
_TIME_PART = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,6})?)?\s*([AaPp][Mm])?")


def full_year(year: int, written: str) -> int:
    """The year a date means when ``written`` has two digits, by VBA's window; ``DateSerial``
    applies the same window to a small year."""
    # VBA's two-digit-year window: 00–29 are 2000–2029, 30–99 are 1930–1999.
    if len(written) == 2:
        return year + (2000 if year < 30 else 1900)
    return year


def date_from_text(text: str) -> datetime.datetime | None:
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
                year = full_year(int(match.group(6)), match.group(6))
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
    day = day or DAY_ZERO.date()
    return datetime.datetime(day.year, day.month, day.day, hour, minute, second)


def as_date(value: object) -> datetime.datetime | None:
    """The date reading of a value: dates, date text, numbers as VBA serials; else None."""
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return date_from_serial(value)
    if isinstance(value, str):
        return date_from_text(value)
    return None


def truth(value: object, what: str) -> bool:
    """Whether a value counts as true: booleans, ``"True"``/``"False"`` in any case, numbers
    and numeric text (non-zero is true); anything else fails, naming ``what`` needed it.
    ``Not``/``And``/``Or``, ``IIf``, ``CBool`` and conditions all decide truth here."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        number = number_from_text(value)
        if number is not None:
            return number != 0
    raise Fail(f"{what} needs true or false, got {describe(value)}")


def round_even(value: float | int) -> int:
    """VBA's rounding to a whole number: halves go to the even neighbour (banker's).

    Used wherever VBA wants a whole number: ``\\`` and ``Mod``, counts and indexes.
    """
    if isinstance(value, int):
        return value
    try:
        return round(value)
    except (OverflowError, ValueError):
        raise Fail("overflow: the number is too large") from None


def checked(number: int | float) -> int | float:
    """An arithmetic result, with VBA's overflow instead of infinities and huge integers."""
    if isinstance(number, int):
        if -(2**63) <= number < 2**63:
            return number
        try:
            number = float(number)  # like VBA promoting a Long that overflows to a Double
        except OverflowError:
            raise Fail("overflow: the result is too large") from None
    if not math.isfinite(number):
        raise Fail("overflow: the result is too large")
    return number


def joined(*parts: str) -> str:
    """``parts`` joined, or a failure when the text would exceed :data:`MAX_TEXT_LENGTH`;
    every operator and built-in that builds text goes through here, so none can exhaust
    memory."""
    if sum(len(part) for part in parts) > MAX_TEXT_LENGTH:
        raise Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    return "".join(parts)
