"""The built-in functions (aml-reference.md §4.3) and :data:`FUNCTIONS`, the one table of them.

This module holds the text, number and conversion built-ins and merges them with the date and
time built-ins (:mod:`.dates`) and ``Format`` (:mod:`.format`) into :data:`FUNCTIONS`, looked up
by lowercase name; the parser, the static checks and the tree import the table from here, so it
is complete whenever an expression is checked or evaluated.  Decisions where Automate's behaviour
is not documented:

* ``Split`` returns a list that can only be indexed (``Split(text, ",")(0)``, zero-based as in
  VBA), counted (``UBound``/``LBound``) or joined (``Join``); using the list as a value is a
  static error (:mod:`.evaluator`), so no list ever reaches a step.
* ``IIf`` evaluates only the branch it returns (VBA evaluates both; this only ever avoids an
  error): :class:`~amlses.expr.nodes.Call` evaluates it itself.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from ..values import (
    MAX_TEXT_LENGTH,
    Fail,
    as_number,
    date_from_text,
    joined,
    number_literal,
    round_even,
    to_text,
    truth,
)
from .builtin import (
    Function,
    Impl,
    Library,
    compare_arg,
    count_arg,
    date_arg,
    number_arg,
    text_arg,
    value_arg,
    whole_arg,
)
from .dates import DATES
from .env import Env, Result
from .format import FORMAT

_builtin = Library()


@_builtin("Len", 1)
def _len(env: Env, args: list[Result]) -> Result:
    return len(text_arg(args[0]))


@_builtin("Left", 2)
def _left(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0])[: count_arg(args[1], "Left", "length")]


@_builtin("Right", 2)
def _right(env: Env, args: list[Result]) -> Result:
    text, count = text_arg(args[0]), count_arg(args[1], "Right", "length")
    return text[len(text) - count :] if count < len(text) else text


@_builtin("Mid", 2, 3)
def _mid(env: Env, args: list[Result]) -> Result:
    text, start = text_arg(args[0]), whole_arg(args[1], "Mid")
    if start < 1:
        raise Fail(f"Mid needs a start of 1 or more, got {start}")
    if len(args) == 2:
        return text[start - 1 :]
    return text[start - 1 : start - 1 + count_arg(args[2], "Mid", "length")]


@_builtin("UCase", 1)
def _ucase(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0]).upper()


@_builtin("LCase", 1)
def _lcase(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0]).lower()


# VBA's Trim family removes spaces only, not tabs or line breaks.
@_builtin("Trim", 1)
def _trim(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0]).strip(" ")


@_builtin("LTrim", 1)
def _ltrim(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0]).lstrip(" ")


@_builtin("RTrim", 1)
def _rtrim(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0]).rstrip(" ")


@_builtin("InStr", 2, 4)
def _instr(env: Env, args: list[Result]) -> Result:
    # InStr(text, find) or InStr(start, text, find[, compare]), 1-based, 0 when absent.
    start = 1
    if len(args) >= 3:
        start = whole_arg(args[0], "InStr")
        args = args[1:]
        if start < 1:
            raise Fail(f"InStr needs a start of 1 or more, got {start}")
    text, find = text_arg(args[0]), text_arg(args[1])
    if compare_arg(args, 2, "InStr"):
        text, find = text.lower(), find.lower()
    if text == "":
        return 0
    if find == "":
        return start
    if start > len(text):
        return 0
    return text.find(find, start - 1) + 1


@_builtin("Replace", 3, 6)
def _replace(env: Env, args: list[Result]) -> Result:
    text, find, by = text_arg(args[0]), text_arg(args[1]), text_arg(args[2])
    start = whole_arg(args[3], "Replace") if len(args) > 3 else 1
    count = whole_arg(args[4], "Replace") if len(args) > 4 else -1
    if start < 1:
        raise Fail(f"Replace needs a start of 1 or more, got {start}")
    if count < -1:
        raise Fail(f"Replace needs a count of -1 (all) or more, got {count}")
    text = text[start - 1 :]  # VBA returns the text from `start` on
    if find == "" or count == 0:
        return text
    ignore_case = compare_arg(args, 5, "Replace")
    found = text.lower().count(find.lower()) if ignore_case else text.count(find)
    if count >= 0:
        found = min(found, count)
    if len(text) + found * (len(by) - len(find)) > MAX_TEXT_LENGTH:
        raise Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    if ignore_case:
        pattern = re.compile(re.escape(find), re.IGNORECASE)
        return pattern.sub(lambda _: by, text, count=max(count, 0))
    return text.replace(find, by, count)


@_builtin("Split", 1, 4, gives_list=True)
def _split(env: Env, args: list[Result]) -> Result:
    text = text_arg(args[0])
    delimiter = text_arg(args[1]) if len(args) > 1 else " "
    limit = whole_arg(args[2], "Split") if len(args) > 2 else -1
    if limit < -1:
        raise Fail(f"Split needs a limit of -1 (all) or more, got {limit}")
    if text == "" or limit == 0:
        return ()
    if delimiter == "":
        return (text,)
    if compare_arg(args, 3, "Split"):
        pattern = re.compile(re.escape(delimiter), re.IGNORECASE)
        return tuple(pattern.split(text, maxsplit=max(limit - 1, 0)))
    return tuple(text.split(delimiter, limit - 1 if limit > 0 else -1))


@_builtin("Join", 1, 2, lists=(0,))
def _join(env: Env, args: list[Result]) -> Result:
    items = args[0]
    assert isinstance(items, tuple)
    delimiter = text_arg(args[1]) if len(args) > 1 else " "
    return joined(delimiter.join(items))


@_builtin("UBound", 1, lists=(0,))
def _ubound(env: Env, args: list[Result]) -> Result:
    assert isinstance(args[0], tuple)
    return len(args[0]) - 1


@_builtin("LBound", 1, lists=(0,))
def _lbound(env: Env, args: list[Result]) -> Result:
    return 0


@_builtin("CStr", 1)
def _cstr(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0])


def _ranged(fn: str, low: int, high: int) -> Impl:
    def convert(env: Env, args: list[Result]) -> Result:
        number = whole_arg(args[0], fn)
        if not low <= number <= high:
            raise Fail(f"overflow: {fn} needs a number from {low:,} to {high:,}, got {number}")
        return number

    return convert


_builtin("CInt", 1)(_ranged("CInt", -32768, 32767))
_builtin("CLng", 1)(_ranged("CLng", -(2**31), 2**31 - 1))


@_builtin("CDbl", 1)
def _cdbl(env: Env, args: list[Result]) -> Result:
    return float(number_arg(args[0], "CDbl"))


@_builtin("CBool", 1)
def _cbool(env: Env, args: list[Result]) -> Result:
    return truth(value_arg(args[0]), "CBool")


@_builtin("CDate", 1)
def _cdate(env: Env, args: list[Result]) -> Result:
    return date_arg(args[0], "CDate")


_VAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eEdD][+-]?[0-9]+)?")
_VAL_RADIX = re.compile(r"&([hHoO])([0-9A-Fa-f]{1,16})")


@_builtin("Val", 1)
def _val(env: Env, args: list[Result]) -> Result:
    # VBA's Val drops blanks, tabs and line feeds anywhere, then reads the longest number at
    # the start ("12abc" -> 12, "abc" -> 0); &H/&O prefixes read hex and octal.
    text = re.sub(r"[ \t\r\n]", "", text_arg(args[0]))
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
    number = number_literal(written.rstrip(".") if written.endswith(".") else written)
    if number is None:
        raise Fail("overflow: Val read a number that is too large")
    return number


@_builtin("Str", 1)
def _str(env: Env, args: list[Result]) -> Result:
    number = number_arg(args[0], "Str")
    text = to_text(number)
    return text if number < 0 else " " + text  # VBA's Str keeps a space for the sign


@_builtin("IsNumeric", 1)
def _isnumeric(env: Env, args: list[Result]) -> Result:
    return as_number(value_arg(args[0])) is not None


@_builtin("IsDate", 1)
def _isdate(env: Env, args: list[Result]) -> Result:
    value = value_arg(args[0])
    return isinstance(value, datetime.datetime) or (
        isinstance(value, str) and date_from_text(value) is not None
    )


@_builtin("IIf", 3)
def _iif(env: Env, args: list[Result]) -> Result:
    # Registered for its arity; _Call evaluates IIf itself, so that only one branch runs.
    return args[1] if truth(value_arg(args[0]), "IIf") else args[2]


@_builtin("Abs", 1)
def _abs(env: Env, args: list[Result]) -> Result:
    return abs(number_arg(args[0], "Abs"))


@_builtin("Int", 1)
def _int(env: Env, args: list[Result]) -> Result:
    number = number_arg(args[0], "Int")
    return number if isinstance(number, int) else _whole(math.floor, number)


@_builtin("Fix", 1)
def _fix(env: Env, args: list[Result]) -> Result:
    number = number_arg(args[0], "Fix")
    return number if isinstance(number, int) else _whole(math.trunc, number)


def _whole(how: Callable[[float], int], number: float) -> int:
    try:
        return how(number)
    except (OverflowError, ValueError):
        raise Fail("overflow: the number is too large") from None


@_builtin("Sgn", 1)
def _sgn(env: Env, args: list[Result]) -> Result:
    number = number_arg(args[0], "Sgn")
    return (number > 0) - (number < 0)


@_builtin("Round", 1, 2)
def _round(env: Env, args: list[Result]) -> Result:
    # VBA's Round is banker's rounding on the decimal digits: Round(2.5) = 2, Round(2.675, 2)
    # = 2.68 (decimal, so the binary 2.67499… does not leak through).
    number = number_arg(args[0], "Round")
    places = count_arg(args[1], "Round", "number of decimal places") if len(args) > 1 else 0
    if isinstance(number, int):
        return number
    if places == 0:
        return round_even(number)
    if places > 15:
        return number
    with localcontext() as context:
        context.prec = 400  # room for the 309 whole digits of the largest float
        quantum = Decimal(1).scaleb(-places)
        return float(Decimal(repr(number)).quantize(quantum, rounding=ROUND_HALF_EVEN))


@_builtin("Chr", 1)
def _chr(env: Env, args: list[Result]) -> Result:
    code = whole_arg(args[0], "Chr")
    if not 0 <= code <= 65535:
        raise Fail(f"Chr needs a character code from 0 to 65535, got {code}")
    return chr(code)


@_builtin("Asc", 1)
def _asc(env: Env, args: list[Result]) -> Result:
    text = text_arg(args[0])
    if text == "":
        raise Fail("Asc needs at least one character, got empty text")
    return ord(text[0])


@_builtin("Space", 1)
def _space(env: Env, args: list[Result]) -> Result:
    count = count_arg(args[0], "Space", "count")
    if count > MAX_TEXT_LENGTH:
        raise Fail(f"the text would be longer than {MAX_TEXT_LENGTH:,} characters")
    return " " * count


@_builtin("StrComp", 2, 3)
def _strcomp(env: Env, args: list[Result]) -> Result:
    a, b = text_arg(args[0]), text_arg(args[1])
    if compare_arg(args, 2, "StrComp"):
        a, b = a.lower(), b.lower()
    return (a > b) - (a < b)


@_builtin("StrReverse", 1)
def _strreverse(env: Env, args: list[Result]) -> Result:
    return text_arg(args[0])[::-1]


@_builtin("ExtractFileName", 1)
def _extractfilename(env: Env, args: list[Result]) -> Result:
    # An Automate "extended function" (aml-reference.md §4.3): the part after the last \ or /.
    return re.split(r"[\\/]", text_arg(args[0]))[-1]


#: every built-in, by its name in lowercase (names are case-insensitive)
FUNCTIONS: dict[str, Function] = {
    function.name.lower(): function
    for function in (*_builtin.functions, *DATES.functions, *FORMAT.functions)
}
# Called without parentheses too (VBA allows `Day(Now)`); Automate forbids variables with
# these names (aml-reference.md §3.1), so a bare `Date` is never a variable.
BARE_FUNCTIONS = frozenset({"now", "date", "time"})
