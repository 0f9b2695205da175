"""``Format``: VBA's user-defined number and date formats (the common subset), en-US.

``Format`` is the one built-in with a language of its own (digit placeholders, grouping,
sections, exponents, date tokens, named formats), as long as all the other built-ins together,
so it has its own module.  Like VBA, the value decides how it is formatted: dates as dates,
numbers as numbers (or, with only date placeholders, as date serials), date text as a date;
other text is returned as is.  Names of months and days are en-US, as :func:`~amlses.values.to_text`
is.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from ..values import Fail, as_date, as_number, describe, joined, to_text
from .builtin import Library, text_arg, value_arg
from .dates import date_part
from .env import Env, Result

#: ``Format``, merged into :data:`amlses.expr.functions.FUNCTIONS`
FORMAT = Library()

_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_WEEKDAYS = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split()

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


@FORMAT("Format", 1, 2)
def _format(env: Env, args: list[Result]) -> Result:
    value = value_arg(args[0])
    pattern = text_arg(args[1]) if len(args) > 1 else ""
    if pattern == "":
        return to_text(value)  # Format(x) reads like CStr(x)
    named = pattern.strip().lower()
    if named in ("general number", "general date"):
        return to_text(value)
    if named in _NAMED_WORDS:
        number = as_number(value)
        if number is None:
            return to_text(value)
        yes, no = _NAMED_WORDS[named]
        return yes if number != 0 else no
    pattern = _NAMED_FORMATS.get(named, pattern)
    # Like VBA, the value decides: dates format as dates, numbers as numbers (or, with only
    # date placeholders, as date serials), date text as a date; other text is returned as is.
    number = as_number(value)
    if not isinstance(value, datetime.datetime) and number is not None:
        if re.search(r"[0#]", _literal_free(pattern)):
            return _format_number(number, pattern)
    if _has_date_letters(pattern):
        date = as_date(value)
        if date is None and number is not None:
            raise Fail(f"Format: {to_text(value)} is out of range as a date")
        if date is not None:
            return _format_date(date, pattern)
    if number is None and not isinstance(value, datetime.datetime):
        return to_text(value)
    raise Fail(f'Format: unsupported format "{pattern}" for {describe(value)}')


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
    return joined(*out)


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
        "ww": lambda: str(date_part("ww", date)),
        "w": lambda: str(date_part("w", date)),
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
        raise Fail(f'Format: scaling commas are not supported by amlses in "{pattern}"')
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
            raise Fail("Format: the number has too many digits for this format") from None
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
    return joined(sign, *out)


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
