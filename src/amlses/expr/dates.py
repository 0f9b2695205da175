"""The date and time built-ins (aml-reference.md §4.3): the clock, intervals, parts, serials.

They share VBA's interval codes (``yyyy q m y d w ww h n s``), its month arithmetic (a day is
clamped to the month's last day) and its range of years 100–9999, which sets them apart from the
text and number built-ins in :mod:`.functions`; ``Format`` reads week numbers through
:func:`date_part`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from ..values import DAY_ZERO, Fail, full_year, to_text
from .builtin import Impl, Library, date_arg, number_arg, text_arg, whole_arg
from .env import Env, Result

#: the date and time built-ins, merged into :data:`amlses.expr.functions.FUNCTIONS`
DATES = Library()


@DATES("Now", 0)
def _now(env: Env, args: list[Result]) -> Result:
    return env.now()


@DATES("Date", 0)
def _date(env: Env, args: list[Result]) -> Result:
    now = env.now()
    return datetime.datetime(now.year, now.month, now.day)


@DATES("Time", 0)
def _time(env: Env, args: list[Result]) -> Result:
    now = env.now()
    return datetime.datetime.combine(DAY_ZERO.date(), now.time())


def _in_range(fn: str, make: Callable[[], datetime.datetime]) -> datetime.datetime:
    try:
        moment = make()
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not 100 <= moment.year <= 9999:
        raise Fail(f"{fn}: the date is out of range (years 100 to 9999)")
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


def _interval_arg(arg: Result, fn: str) -> str:
    interval = text_arg(arg).strip().lower()
    if interval not in _INTERVALS:
        raise Fail(f'{fn}: unknown interval "{text_arg(arg)}"; use one of ' + ", ".join(_INTERVALS))
    return interval


@DATES("DateAdd", 3)
def _dateadd(env: Env, args: list[Result]) -> Result:
    interval = _interval_arg(args[0], "DateAdd")
    amount = number_arg(args[1], "DateAdd")
    if not float(amount).is_integer():
        # VBA's handling of a fractional count is not documented; refuse rather than guess.
        raise Fail(f"DateAdd needs a whole number of intervals, got {to_text(amount)}")
    count = int(amount)
    date = date_arg(args[2], "DateAdd")
    if interval in ("yyyy", "q", "m"):
        return _add_months(date, count * {"yyyy": 12, "q": 3, "m": 1}[interval], "DateAdd")
    seconds = {"y": 86400, "d": 86400, "w": 86400, "ww": 604800, "h": 3600, "n": 60, "s": 1}
    return _in_range(
        "DateAdd", lambda: date + datetime.timedelta(seconds=count * seconds[interval])
    )


def _week_start(date: datetime.datetime) -> datetime.date:
    """The Sunday on or before ``date`` (VBA's default first day of the week)."""
    return date.date() - datetime.timedelta(days=(date.weekday() + 1) % 7)


@DATES("DateDiff", 3)
def _datediff(env: Env, args: list[Result]) -> Result:
    # VBA counts interval boundaries crossed (DateDiff("yyyy", 12/31, 1/1) is 1), not elapsed
    # whole intervals.
    interval = _interval_arg(args[0], "DateDiff")
    a, b = date_arg(args[1], "DateDiff"), date_arg(args[2], "DateDiff")
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
    return (b - DAY_ZERO) // second // unit - (a - DAY_ZERO) // second // unit


def date_part(interval: str, date: datetime.datetime) -> int:
    """``DatePart(interval, date)`` for a known interval; ``Format``'s ``w``/``ww`` use it."""
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


@DATES("DatePart", 2)
def _datepart(env: Env, args: list[Result]) -> Result:
    return date_part(_interval_arg(args[0], "DatePart"), date_arg(args[1], "DatePart"))


def _part(fn: str, interval: str) -> Impl:
    def part(env: Env, args: list[Result]) -> Result:
        return date_part(interval, date_arg(args[0], fn))

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
    DATES(_fn, 1)(_part(_fn, _interval))


@DATES("DateSerial", 3)
def _dateserial(env: Env, args: list[Result]) -> Result:
    # Out-of-range parts roll over, as in VBA: DateSerial(2020, 13, 1) is 1/1/2021.
    year = whole_arg(args[0], "DateSerial")
    month, day = whole_arg(args[1], "DateSerial"), whole_arg(args[2], "DateSerial")
    if 0 <= year <= 99:
        year = full_year(year, "00")
    first = datetime.datetime(100, 1, 1)
    moved = _add_months(first, (year - 100) * 12 + month - 1, "DateSerial")
    return _in_range("DateSerial", lambda: moved + datetime.timedelta(days=day - 1))


@DATES("TimeSerial", 3)
def _timeserial(env: Env, args: list[Result]) -> Result:
    hour, minute = whole_arg(args[0], "TimeSerial"), whole_arg(args[1], "TimeSerial")
    second = whole_arg(args[2], "TimeSerial")
    total = hour * 3600 + minute * 60 + second
    return _in_range("TimeSerial", lambda: DAY_ZERO + datetime.timedelta(seconds=total))
