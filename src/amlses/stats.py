"""Sending statistics made readable: buckets, bounce and complaint rates, SES's thresholds.

``GetSendStatistics`` answers with up to two weeks of 15-minute data points (1,344 rows), in no
documented order and with no row at all for a quarter hour without sending.  Nobody reads that;
``amlses stats`` draws it instead (:mod:`amlses.charts`).  This module is the arithmetic behind
the pictures, kept pure so that it is tested on generated points without any network:

* :func:`bucket_points` sums the points per hour, per day or any other width, aligned to UTC
  boundaries, on a contiguous time line: a missing bucket is a bucket of zeros, never a hole
  that would shift the time axis;
* :func:`rate` divides bounces or complaints by delivery attempts — *None* ("n/a") without
  attempts, never a division by zero — and :func:`classify` compares it with SES's review
  thresholds exactly (fractions, so 5 of 100 is 5 %, not 4.999… %);
* :func:`summarize` puts both together and :func:`to_json` gives the ``--json`` document.

It sits in the SES API layer next to :mod:`amlses.ses` because its input is
:class:`~amlses.ses.SendDataPoint`; it imports nothing heavier than the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from .ses import SendDataPoint, SendQuota

__all__ = [
    "BOUNCE",
    "COMPLAINT",
    "HOUR",
    "DAY",
    "WIDTHS",
    "Bucket",
    "Level",
    "SERIES",
    "Rate",
    "Statistics",
    "Threshold",
    "bucket_points",
    "choose_width",
    "classify",
    "rate",
    "summarize",
    "to_json",
]

HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)
#: the bucket widths a chart may use, finest first: whole hours that divide a day, then a day,
#: so that every bucket boundary falls on a clock hour and days are never split unevenly
WIDTHS: Final = tuple(timedelta(hours=h) for h in (1, 2, 3, 4, 6, 12, 24))

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Level(StrEnum):
    """Where a rate stands against SES's thresholds (the words ``amlses stats`` prints)."""

    OK = "OK"
    WARNING = "WARNING"
    AT_RISK = "AT RISK"


@dataclass(frozen=True)
class Threshold:
    """SES's two review levels for one rate, as exact fractions of delivery attempts.

    ``warning`` is where SES places the account under review, ``at_risk`` where it may pause
    sending; a rate *at* a level counts as having reached it ("5 % or greater").
    """

    name: str
    warning: Fraction
    at_risk: Fraction
    warning_meaning: str = "account under review"
    at_risk_meaning: str = "sending may be paused"


# The thresholds and their wording, as AWS documents them for the SES reputation metrics: an
# account is placed "Under review" at a bounce rate of 5 % or a complaint rate of 0.1 %, and
# sending may be paused ("Sending paused") at 10 % / 0.5 %.  Status words from the SES Developer
# Guide, "Reputation metrics messages":
# https://docs.aws.amazon.com/ses/latest/DeveloperGuide/reputationdashboardmessages.html
# SES computes its own rates over a "representative volume" of mail, not over a fixed two weeks
# (https://aws.amazon.com/blogs/ses/announcing-the-reputation-dashboard/),
# so the rates here are an early indication, not the number the reputation page shows.
BOUNCE: Final = Threshold("bounce rate", Fraction(5, 100), Fraction(10, 100))
COMPLAINT: Final = Threshold("complaint rate", Fraction(1, 1000), Fraction(5, 1000))


class Bucket(NamedTuple):
    """The sums of the data points in ``[start, start + width)``; field names as SES's."""

    start: datetime
    DeliveryAttempts: int = 0
    Bounces: int = 0
    Complaints: int = 0
    Rejects: int = 0


#: the four counted series, in the order they are drawn and written
SERIES: Final = ("DeliveryAttempts", "Bounces", "Complaints", "Rejects")


@dataclass(frozen=True)
class Rate:
    """A rate over some delivery attempts: ``value`` and ``level`` are None without any."""

    threshold: Threshold
    count: int
    attempts: int

    @property
    def value(self) -> float | None:
        """The rate as a fraction (0.05 = 5 %), or None when there were no attempts."""
        return self.count / self.attempts if self.attempts else None

    @property
    def level(self) -> Level | None:
        """OK, WARNING or AT RISK, or None ("n/a") when there were no attempts."""
        return classify(self.count, self.attempts, self.threshold)

    def percent(self) -> str:
        """``"2.35 %"``, or ``"n/a"`` without attempts (for people; JSON has the value)."""
        value = self.value
        return "n/a" if value is None else f"{value * 100:.2f} %"


@dataclass(frozen=True)
class Statistics:
    """Buckets on a contiguous time line, their totals and the period's two rates."""

    width: timedelta
    buckets: tuple[Bucket, ...]
    quota: SendQuota | None = None

    @property
    def empty(self) -> bool:
        """No data point at all: nothing was sent in the period SES keeps (two weeks)."""
        return not self.buckets

    @property
    def sent_nothing(self) -> bool:
        """No point, or only points of zeros (moto, and an idle account, answer those)."""
        return not any(self.total(name) for name in SERIES)

    @property
    def start(self) -> datetime | None:
        return self.buckets[0].start if self.buckets else None

    @property
    def end(self) -> datetime | None:
        """The end of the last bucket (exclusive)."""
        return self.buckets[-1].start + self.width if self.buckets else None

    def total(self, series: str) -> int:
        return sum(int(getattr(bucket, series)) for bucket in self.buckets)

    @property
    def bounce_rate(self) -> Rate:
        return Rate(BOUNCE, self.total("Bounces"), self.total("DeliveryAttempts"))

    @property
    def complaint_rate(self) -> Rate:
        return Rate(COMPLAINT, self.total("Complaints"), self.total("DeliveryAttempts"))

    def series(self, name: str) -> list[int]:
        """One counted series, bucket by bucket (zeros included)."""
        return [int(getattr(bucket, name)) for bucket in self.buckets]

    def rolling_rates(self, threshold: Threshold, window: timedelta = DAY) -> list[Rate]:
        """At each bucket, the rate over the ``window`` that ends with it (at least the bucket).

        A rate per hour is noise: three attempts at night and one bounce make 33 %.  Over a
        trailing day it moves the way an account's reputation does, and SES's thresholds mean
        something against it.  ``value`` is None where the whole window holds no attempt.
        """
        name = "Complaints" if threshold is COMPLAINT else "Bounces"
        span = max(1, window // self.width)
        counts = self.series(name)
        attempts = self.series("DeliveryAttempts")
        rates = []
        for index in range(len(self.buckets)):
            low = max(0, index - span + 1)
            rates.append(
                Rate(threshold, sum(counts[low : index + 1]), sum(attempts[low : index + 1]))
            )
        return rates


def classify(count: int, attempts: int, threshold: Threshold) -> Level | None:
    """``count / attempts`` against ``threshold``, exactly; None without attempts.

    Integer fractions rather than floats: 3 bounces of 60 attempts is exactly the 5 % at which
    SES starts a review, and a float comparison could put it on either side.
    """
    if attempts <= 0:
        return None
    value = Fraction(count, attempts)
    if value >= threshold.at_risk:
        return Level.AT_RISK
    if value >= threshold.warning:
        return Level.WARNING
    return Level.OK


def rate(count: int, attempts: int, threshold: Threshold) -> Rate:
    """A :class:`Rate`; a shorthand for tests and API users."""
    return Rate(threshold, count, attempts)


def _utc(moment: datetime) -> datetime:
    """A timestamp in UTC; a naive one is taken to be UTC already (as SES's are)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _floor(moment: datetime, width: timedelta) -> datetime:
    """The start of the UTC-aligned bucket of ``width`` that holds ``moment``."""
    return _EPOCH + ((_utc(moment) - _EPOCH) // width) * width


def bucket_points(points: Iterable[SendDataPoint], width: timedelta = HOUR) -> list[Bucket]:
    """Sum ``points`` into contiguous buckets of ``width``, oldest first.

    Order does not matter (SES documents none), and every bucket from the first point's to the
    last point's is present: one with no data point holds zeros, so position on the time axis
    is always time.  No points give no buckets.
    """
    if width <= timedelta(0):
        raise ValueError(f"a bucket width must be positive, not {width}")
    sums: dict[datetime, list[int]] = {}
    for point in points:
        row = sums.setdefault(_floor(point.Timestamp, width), [0, 0, 0, 0])
        row[0] += int(point.DeliveryAttempts)
        row[1] += int(point.Bounces)
        row[2] += int(point.Complaints)
        row[3] += int(point.Rejects)
    if not sums:
        return []
    first, last = min(sums), max(sums)
    count = (last - first) // width + 1
    starts = (first + index * width for index in range(count))
    return [Bucket(start, *sums.get(start, (0, 0, 0, 0))) for start in starts]


def choose_width(
    points: Sequence[SendDataPoint], columns: int, widths: Sequence[timedelta] = WIDTHS
) -> timedelta:
    """The finest of ``widths`` whose buckets fit in ``columns``; the coarsest if none does."""
    if not points or columns <= 0:
        return widths[-1] if columns <= 0 else widths[0]
    stamps = [point.Timestamp for point in points]
    first, last = min(stamps, key=_utc), max(stamps, key=_utc)
    for width in widths:
        if (_floor(last, width) - _floor(first, width)) // width + 1 <= columns:
            return width
    return widths[-1]


def summarize(
    points: Iterable[SendDataPoint],
    width: timedelta = HOUR,
    quota: SendQuota | None = None,
) -> Statistics:
    """Bucket ``points`` by ``width`` (see :func:`bucket_points`) into :class:`Statistics`."""
    return Statistics(width, tuple(bucket_points(points, width)), quota)


def _rate_json(rate_: Rate) -> dict[str, Any]:
    level = rate_.level
    return {
        "value": rate_.value,
        "percent": None if rate_.value is None else round(rate_.value * 100, 4),
        "count": rate_.count,
        "attempts": rate_.attempts,
        "level": "n/a" if level is None else str(level),
        "warning_at": float(rate_.threshold.warning),
        "at_risk_at": float(rate_.threshold.at_risk),
    }


def to_json(stats: Statistics) -> dict[str, Any]:
    """The ``--json`` document: period, bucket width, quota, totals, rates and the buckets.

    Timestamps are ISO 8601 in UTC; a rate without attempts is ``null`` with level ``"n/a"``.
    """
    quota = None
    if stats.quota is not None:
        quota = dict(stats.quota._asdict())
    return {
        "period": {
            "start": stats.start.isoformat() if stats.start else None,
            "end": stats.end.isoformat() if stats.end else None,
        },
        "bucket_seconds": int(stats.width.total_seconds()),
        "quota": quota,
        "totals": {name: stats.total(name) for name in SERIES},
        "rates": {
            "bounce": _rate_json(stats.bounce_rate),
            "complaint": _rate_json(stats.complaint_rate),
        },
        "buckets": [
            {"start": bucket.start.isoformat(), **{name: getattr(bucket, name) for name in SERIES}}
            for bucket in stats.buckets
        ],
    }
