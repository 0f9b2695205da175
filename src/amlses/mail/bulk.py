"""Bulk sends: one message per recipient, at the account's rate, each recipient at most once.

:func:`send_bulk_email` paces itself with a :class:`TokenBucket` at the account's
``MaxSendRate`` (SES counts recipients, not calls) and runs the calls on a thread pool —
botocore clients are thread-safe.  With a template it uses ``SendBulkTemplatedEmail``, up to 50
destinations a call, and retries only the destinations SES reports as throttled; without one,
one ``SendEmail`` per row.  A failed recipient never stops the others; its row in the
:class:`BulkReport` says why.  Which failures may be resent, and how often, is decided as for
single sends (:mod:`amlses.mail.send`); a "daily quota exceeded" answer stops the run.

Separate from the single sends because of what only a bulk send has: the pacing, the worker
threads (daemon threads the caller waits for, so an interrupt stops the send at once, see
:class:`BulkInterrupted`) and the per-row report.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple, TypedDict, cast

from ..aws.transport import translate_errors
from ..errors import AwsError, StepError
from .addresses import (
    address_of,
    check_recipients,
    parse_addresses,
    parse_template_data,
    single_sender,
    template_name,
)
from .common import (
    DEFAULT_CHARSET,
    MAX_BULK_DESTINATIONS,
    MAX_RECIPIENTS,
    Addresses,
    MailError,
    Tags,
    TemplateData,
)
from .journal import IN_FLIGHT, PENDING, Journal, claim_size, doubt_bound
from .mime import MessageContent, message_content
from .send import (
    Backoff,
    BulkStatus,
    call,
    common_params,
    explain,
    is_daily_quota,
    not_accepted,
    outcome_unknown,
    retry_budget,
    unknown_outcome,
)
from .templates import get_template

if TYPE_CHECKING:
    from ..aws.clients import SesClientSource

__all__ = [
    "SENT_STATUSES",
    "BulkFailed",
    "BulkInterrupted",
    "BulkProgress",
    "BulkRecipient",
    "BulkReport",
    "Delivery",
    "SendCancelled",
    "Tally",
    "TokenBucket",
    "send_bulk_email",
    "tally",
]

# Per-destination statuses of SendBulkTemplatedEmail that say SES did not take that destination
# and that time can cure; the other failure statuses (MessageRejected, …) are final.
_RETRYABLE_STATUSES: Final = frozenset({"AccountThrottled", "TransientFailure"})
_DAILY_QUOTA_STATUS: Final = "AccountDailyQuotaExceeded"
#: the status of a recipient whose message SES may or may not have accepted (never resent)
UNKNOWN: Final = "Unknown"
#: the status of a row whose address an earlier row of the same input already has
DUPLICATE: Final = "Duplicate"
# Worker threads for bulk sends: enough to keep the rate if a call takes 150 ms (SendEmail from
# a client far from its region), at most 32.  Beyond botocore's pool of 10 connections the extra
# threads open connections that are not kept (urllib3 discards them quietly): a small cost next
# to 10 threads capping a 150 ms round trip at 66 messages a second.
_MAX_WORKERS: Final = 32
_ASSUMED_LATENCY: Final = 0.15
#: how long an interrupted send waits for the requests in flight to be answered, in seconds
INTERRUPT_GRACE: Final = 10.0
#: how often the waiting thread looks up (joins with a timeout stay interruptible)
_JOIN_SLICE: Final = 0.1


class BulkFailed(Exception):
    """A bulk send stopped because sending one row raised (an expired role, a bug): the other
    workers stopped too, and ``report`` says what happened to every row — so a retry of the
    step does not send again to the rows that were sent.  ``cause`` is the error itself."""

    def __init__(self, report: BulkReport, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.report = report
        self.cause = cause


class BulkInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a bulk send; ``report`` says what happened to every row.

    New sends stopped at once; the requests in flight were waited for (at most
    :data:`INTERRUPT_GRACE` seconds, or until a second interrupt) and their outcome recorded;
    a row still in flight then is ``Unknown``, a row never started ``NotSent``.  ``cause`` is
    the interrupt itself (a :class:`~amlses.errors.Signalled` for SIGTERM), to be re-raised
    once the report is kept.
    """

    def __init__(self, report: BulkReport, cause: KeyboardInterrupt) -> None:
        super().__init__(*cause.args)
        self.report = report
        self.cause = cause


class SendCancelled(KeyboardInterrupt):
    """The caller gave up on the send (``AM_TIMEOUT``): it stops as an interrupted one does."""


class _SendQuotaResponse(TypedDict, total=False):
    Max24HourSend: float
    MaxSendRate: float
    SentLast24Hours: float


class TokenBucket:
    """A thread-safe token bucket: on average ``rate`` tokens a second, bursts up to ``burst``.

    :meth:`acquire` reserves tokens and sleeps until they are due.  Reservations may run the
    bucket into debt, so a request for more tokens than ``burst`` (a 50-destination bulk call
    on a 14/s account) still works: it simply waits longer, and so do the callers after it.
    Waiting happens outside the lock.  ``clock`` and ``sleep`` are injected so tests control
    time.  A rate of ``inf`` never waits.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"the rate must be positive, not {rate}")
        self.rate = rate
        # A tenth of a second's worth absorbs scheduling jitter without bursting noticeably.
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = min(1.0, self.burst)  # start nearly empty: no opening burst
        self._last = clock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until the rate allows them; returns the seconds waited."""
        if math.isinf(self.rate):
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


@dataclass(frozen=True)
class BulkRecipient:
    """One message of a bulk send: its row number, the To address(es) and template data."""

    row: int
    to: str
    data: Mapping[str, object] = field(default_factory=dict)


class Delivery(NamedTuple):
    """What happened to one recipient; the field names are the result dataset's columns.

    ``Status`` is ``Success``, ``Unknown`` (the request left but no answer says whether SES
    accepted it: never resent automatically), or a failure code that proves SES did not take
    it (an SES error code or status, or a :class:`MailError` code; ``NotSent`` when the run
    stopped before that row).
    """

    Row: int
    Recipient: str
    Status: str
    MessageId: str
    Error: str


#: statuses that mean SES accepted the message: now, or in an earlier attempt of the same step
SENT_STATUSES: Final = frozenset({"Success", "AlreadySent"})


class Tally(NamedTuple):
    """How the rows of a bulk send ended: one definition of "sent" for reports and step lines."""

    sent: int
    unknown: int
    not_sent: int
    refused: int
    duplicates: int = 0

    @property
    def failed(self) -> int:
        """Rows that did not go out: refused, or never started."""
        return self.not_sent + self.refused


def tally(deliveries: Iterable[Delivery]) -> Tally:
    """Count ``deliveries`` by outcome (see :class:`Tally`)."""
    sent = unknown = not_sent = refused = duplicates = 0
    for delivery in deliveries:
        if delivery.Status in SENT_STATUSES:
            sent += 1
        elif delivery.Status == DUPLICATE:
            duplicates += 1
        elif delivery.Status == UNKNOWN:
            unknown += 1
        elif delivery.Status == "NotSent":
            not_sent += 1
        else:
            refused += 1
    return Tally(sent, unknown, not_sent, refused, duplicates)


@dataclass
class BulkReport:
    """The outcome of :func:`send_bulk_email`: one :class:`Delivery` per recipient, in row order,
    and the counts (all ints) of how the rows ended."""

    deliveries: list[Delivery]
    #: the pace used, in recipients a second (``inf`` when unlimited)
    rate: float
    seconds: float
    #: SES send requests made, retries included
    requests: int
    warnings: list[str] = field(default_factory=list)
    #: the journal file of the send, or None without one
    journal: Path | None = None
    #: after a kill at any instant, at most this many rows could have been in doubt
    doubt_bound: int = 0

    @property
    def tally(self) -> Tally:
        return tally(self.deliveries)

    @property
    def sent(self) -> int:
        """How many recipients SES accepted (in this run or, ``AlreadySent``, an earlier one)."""
        return self.tally.sent

    @property
    def failed(self) -> int:
        """How many recipients were not sent to: refused, or never started (``NotSent``)."""
        return self.tally.failed

    @property
    def unknown(self) -> int:
        """How many recipients SES may or may not have accepted (in doubt: never resent)."""
        return self.tally.unknown

    @property
    def duplicates(self) -> int:
        """How many rows repeated an earlier row's address and were not sent (``Duplicate``)."""
        return self.tally.duplicates

    @property
    def finished(self) -> bool:
        """Whether every row is done for good: ``Success``, ``AlreadySent`` or ``Duplicate``."""
        counts = self.tally
        return counts.unknown == counts.failed == 0


class BulkProgress(NamedTuple):
    """Where a bulk send is, for a progress line: rows done (any outcome) of ``total``."""

    done: int
    total: int
    unknown: int
    failed: int
    elapsed: float
    #: recipients a second over the last few seconds
    rate: float

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate, or None while unknown."""
        left = self.total - self.done
        return left / self.rate if self.rate > 0 else (0.0 if left == 0 else None)


@dataclass(slots=True)
class _Pending:
    """A recipient waiting to be sent: its place in the input, addresses, JSON data and its
    key in the journal (its addresses, and ``#n`` for the n-th row of the same addresses)."""

    index: int
    recipient: BulkRecipient
    to: list[str]
    data: str
    attempts: int = 0
    key: str = ""


class _Outcome(NamedTuple):
    status: str
    message_id: str = ""
    error: str = ""
    retry: bool = False


def send_bulk_email(
    session: SesClientSource,
    recipients: Iterable[BulkRecipient | str],
    *,
    sender: str,
    template: str | None = None,
    default_template_data: TemplateData | None = None,
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    charset: str = DEFAULT_CHARSET,
    reply_to: Addresses = (),
    return_path: str | None = None,
    configuration_set: str | None = None,
    tags: Tags | None = None,
    max_send_rate: float | None = None,
    concurrency: int | None = None,
    journal: str | os.PathLike[str] | None = None,
    journal_meta: Mapping[str, str] | None = None,
    allow_duplicates: bool = False,
    resend_unknown: bool = False,
    on_progress: Callable[[BulkProgress], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BulkReport:
    """Send one message per recipient, at the account's rate, each recipient at most once.

    ``recipients`` are :class:`BulkRecipient` rows or plain addresses (numbered from 1).  With
    ``template``, they go out through ``SendBulkTemplatedEmail`` in calls of up to 50
    destinations, each row's ``data`` being its replacement data; otherwise each row is one
    ``SendEmail`` of ``subject``/``text``/``html``.

    The pace is ``max_send_rate`` recipients a second, or else the account's ``MaxSendRate``
    from ``GetSendQuota`` — which also refuses to start when the daily quota is used up, and
    warns when it will run out.  ``concurrency`` sets the number of worker threads (default:
    enough for the rate, at most 32).  Failures are per recipient and never stop the others,
    except that a "daily quota exceeded" answer stops further sends (rows then ``NotSent``).  Raises
    :class:`MailError` or :class:`~amlses.errors.AwsError` only for problems that concern every
    row (no rows, a bad sender or default data, a template that does not exist), before
    anything is sent.

    A row whose addresses an earlier row already has is ``Duplicate`` and not sent (compared
    without case), unless ``allow_duplicates``.

    ``journal`` is the path of a journal file (:mod:`amlses.mail.journal`): every row's state
    is kept there durably, and a journal that exists is *resumed* — recipients it has as sent
    are ``AlreadySent`` (not sent again), recipients in doubt stay ``Unknown`` (unless
    ``resend_unknown``), the rest are sent; ``on_notice`` hears "resuming: …".  ``on_progress``
    is called about twice a second from the calling thread while the send runs.  Setting
    ``cancel`` (another thread: ``AM_TIMEOUT``) stops the send as an interrupt does.
    """
    started = clock()
    rows = [
        r if isinstance(r, BulkRecipient) else BulkRecipient(i, r)
        for i, r in enumerate(recipients, start=1)
    ]
    if not rows:
        raise MailError(
            "NoRecipients", "The recipient list is empty: there is no row to send a message to."
        )
    plan = _plan(
        sender,
        template,
        default_template_data,
        common_params(
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
            tags_key="DefaultTags" if template else "Tags",
        ),
        None if template else message_content(subject, text, html, charset),
        configuration_set,
    )
    if plan.template:
        get_template(session, plan.template)  # one clear error now rather than one per row
    results: dict[int, Delivery] = {}
    pending = _keyed(
        [p for p in (_prepare(i, row, results) for i, row in enumerate(rows)) if p],
        results,
        allow_duplicates,
    )
    warnings: list[str] = []
    with Journal(Path(journal), journal_meta) if journal is not None else _no_journal() as book:
        if book is not None:
            pending = _resume(book, pending, results, resend_unknown, on_notice)
        rate = _rate(session, max_send_rate, sum(len(p.to) for p in pending), warnings)
        runner = _BulkRunner(session, plan, rate, journal=book, clock=clock, sleep=sleep)
        progress = (
            _Progress(runner.snapshot, len(rows), clock, on_progress) if on_progress else None
        )
        batches = _batches(pending, plan.template is not None)
        stop = runner.run(batches, concurrency, results, progress, cancel)
        if stop is not None:
            interrupted = isinstance(stop, KeyboardInterrupt)
            runner.close(pending, "the send was interrupted" if interrupted else "the send failed")
        deliveries = [results[i] for i in range(len(rows))]
        report = BulkReport(
            deliveries,
            rate,
            clock() - started,
            runner.requests,
            warnings,
            journal=book.path if book is not None else None,
            doubt_bound=runner.doubt_bound,
        )
        if book is not None:
            book.set_meta({"finished": "yes" if report.finished else "no", "rows": str(len(rows))})
    if progress is not None:
        progress.tick(force=True)
    if isinstance(stop, KeyboardInterrupt):
        raise BulkInterrupted(report, stop)
    if stop is not None:
        raise BulkFailed(report, stop)
    if runner.stopped:
        warnings.append(
            "The daily sending quota ran out during the send: the rows marked NotSent were "
            "not sent and can be sent again once the quota allows."
        )
    return report


@contextmanager
def _no_journal() -> Iterator[None]:
    yield None


def _plan(
    sender: str,
    template: str | None,
    default_data: TemplateData | None,
    common: dict[str, object],
    message: MessageContent | None,
    configuration_set: str | None,
) -> _BulkPlan:
    source = single_sender(sender)
    return _BulkPlan(
        source=source,
        template=template_name(template) if template else None,
        default_data=parse_template_data(default_data, "DEFAULTTEMPLATEDATA"),
        common=common,
        message=message,
        facts={
            "sender": address_of(source),
            "template": (template or "").strip(),
            "configuration_set": configuration_set or "",
            "bulk": "yes",
        },
    )


def recipient_key(addresses: Iterable[str]) -> str:
    """What makes two rows "the same recipient": their bare addresses, without case, sorted."""
    return ",".join(sorted(address_of(a).lower() for a in addresses))


def _keyed(
    pending: list[_Pending], results: dict[int, Delivery], allow_duplicates: bool
) -> list[_Pending]:
    """Give each row its journal key; a row repeating an earlier row's addresses is
    ``Duplicate`` (not sent) unless ``allow_duplicates``, which sends it under key ``…#n``."""
    first: dict[str, int] = {}
    seen: dict[str, int] = {}
    kept: list[_Pending] = []
    for item in pending:
        base = recipient_key(item.to)
        count = seen[base] = seen.get(base, 0) + 1
        if count == 1:
            first[base] = item.recipient.row
            item.key = base
        elif allow_duplicates:
            item.key = f"{base}#{count}"
        else:
            row = item.recipient
            results[item.index] = Delivery(
                row.row,
                row.to,
                DUPLICATE,
                "",
                f"the same address as row {first[base]}: not sent twice "
                '(ALLOWDUPLICATES="YES" sends anyway)',
            )
            continue
        kept.append(item)
    return kept


def _resume(
    book: Journal,
    pending: list[_Pending],
    results: dict[int, Delivery],
    resend_unknown: bool,
    on_notice: Callable[[str], None] | None,
) -> list[_Pending]:
    """The rows still to send after what the journal says an earlier run did.

    Sent rows become ``AlreadySent`` with their MessageId; rows in doubt (``Unknown``, or
    ``InFlight`` when the earlier run was killed) stay ``Unknown`` unless ``resend_unknown``;
    refused and unsent rows are sent again.  Every row to send is (re)written ``Pending``.
    """
    known = book.rows()
    todo: list[_Pending] = []
    already = doubt = resent = 0
    for item in pending:
        found = known.get(item.key)
        row = item.recipient
        if found is not None and found.status in SENT_STATUSES:
            note = "sent by an earlier run of this send (journal): not sent again"
            results[item.index] = Delivery(row.row, row.to, "AlreadySent", found.message_id, note)
            already += 1
        elif found is not None and found.status in (UNKNOWN, IN_FLIGHT):
            if resend_unknown:
                resent += 1
                todo.append(item)
                continue
            error = found.error or (
                "the run sending it stopped while the request was in flight: SES may have "
                "accepted it"
            )
            results[item.index] = Delivery(row.row, row.to, UNKNOWN, "", error)
            doubt += 1
        else:
            todo.append(item)
    stale = [(k, r.status) for k, r in known.items() if r.status == IN_FLIGHT]
    book.add((k, known[k].row, known[k].recipient, UNKNOWN, _KILLED) for k, _ in stale)
    book.add((p.key, p.recipient.row, p.recipient.to, PENDING, "") for p in todo)
    if known and on_notice is not None:
        extra = f" (resending {resent} in doubt, as asked)" if resent else ""
        on_notice(
            f"resuming: {already} already sent, {doubt} in doubt, {len(todo)} to go{extra} "
            f"(journal {book.path})"
        )
    return todo


_KILLED: Final = (
    "the run sending it was stopped or killed while the request was in flight: SES may have "
    "accepted it"
)


class _Progress:
    """Calls ``on_progress`` at most twice a second with the counts of ``results``."""

    _EVERY: Final = 0.5

    def __init__(
        self,
        snapshot: Callable[[], list[Delivery]],
        total: int,
        clock: Callable[[], float],
        on_progress: Callable[[BulkProgress], None],
    ) -> None:
        self.snapshot = snapshot
        self.total = total
        self.clock = clock
        self.on_progress = on_progress
        self.started = clock()
        self._last = -math.inf
        self._window: deque[tuple[float, int]] = deque(maxlen=10)

    def tick(self, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self._EVERY:
            return
        self._last = now
        deliveries = self.snapshot()
        done = len(deliveries)
        self._window.append((now, done))
        then, before = self._window[0]
        rate = (done - before) / (now - then) if now > then else 0.0
        counts = tally(deliveries)
        elapsed = now - self.started
        self.on_progress(
            BulkProgress(done, self.total, counts.unknown, counts.failed, elapsed, rate)
        )


@dataclass(frozen=True)
class _BulkPlan:
    """What is the same for every message of a bulk send."""

    source: str
    template: str | None
    default_data: str
    common: dict[str, object]
    message: MessageContent | None
    facts: dict[str, str]


def _prepare(index: int, row: BulkRecipient, results: dict[int, Delivery]) -> _Pending | None:
    """A row ready to send, or None after recording why it cannot be sent at all."""
    try:
        to = parse_addresses(row.to, f"row {row.row}")
        check_recipients(to, [], [])
        data = parse_template_data(row.data, f"the template data of row {row.row}")
    except MailError as error:
        results[index] = Delivery(row.row, row.to, error.code, "", error.message)
        return None
    return _Pending(index, row, to, data)


def _rate(
    session: SesClientSource, given: float | None, recipients: int, warnings: list[str]
) -> float:
    """The pace: ``given``, else GetSendQuota's MaxSendRate (checking the daily quota too).

    A given rate skips GetSendQuota altogether: sending-only IAM policies often lack
    ``ses:GetSendQuota``, and the user has said what the rate is.
    """
    if given is not None:
        if not given > 0:
            raise StepError(f"The sending rate must be positive, not {given:g}.")
        return float(given)
    with translate_errors("GetSendQuota"):
        quota = cast(_SendQuotaResponse, session.client.get_send_quota())
    rate = float(quota.get("MaxSendRate", 1.0))
    daily = float(quota.get("Max24HourSend", -1.0))
    sent = float(quota.get("SentLast24Hours", 0.0))
    if daily >= 0:
        left = max(daily - sent, 0.0)
        if left <= 0:
            raise MailError(
                _DAILY_QUOTA_STATUS,
                f"The account's daily sending quota is used up: SES reports {sent:g} of "
                f"{daily:g} messages sent in the last 24 hours (Max24HourSend), so it would "
                "refuse every message. Send again when the rolling 24-hour window frees "
                "capacity, or ask AWS for a higher quota.",
            )
        if left < recipients:
            warnings.append(
                f"The daily sending quota leaves room for {left:g} more messages but "
                f"{recipients} are to be sent; SES will refuse the rest."
            )
    return rate if rate > 0 else math.inf  # no positive rate reported: no limit to keep


def _batches(pending: list[_Pending], bulk: bool) -> list[list[_Pending]]:
    """One row per call, or up to 50 destinations (and 50 recipients) per bulk call."""
    if not bulk:
        return [[p] for p in pending]
    batches: list[list[_Pending]] = []
    current: list[_Pending] = []
    count = 0
    for item in pending:
        full = len(current) == MAX_BULK_DESTINATIONS or count + len(item.to) > MAX_RECIPIENTS
        if current and full:
            batches.append(current)
            current, count = [], 0
        current.append(item)
        count += len(item.to)
    if current:
        batches.append(current)
    return batches


def _join(
    threads: list[threading.Thread], seconds: float, tick: Callable[[], None] | None = None
) -> None:
    """Wait for ``threads`` (at most ``seconds``) in short slices, so that an interrupt reaches
    the waiting thread at once rather than when a thread happens to end; ``tick`` runs
    between slices (the progress line)."""
    deadline = time.monotonic() + seconds
    for thread in threads:
        while thread.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            thread.join(min(_JOIN_SLICE, left))
            if tick is not None:
                tick()


class _BulkRunner:
    """Worker threads sending batches at the bucket's pace, resending only what SES refused."""

    def __init__(
        self,
        session: SesClientSource,
        plan: _BulkPlan,
        rate: float,
        *,
        journal: Journal | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.client = session.without_retries().client
        self.journal = journal
        #: the batches no worker has taken yet
        self._queue: deque[list[_Pending]] = deque()
        #: rows claimed in the journal (durably in flight) whose outcome is not recorded yet
        self._claimed: set[int] = set()
        self._claim_calls = 1
        self.doubt_bound = 0
        self.retries = retry_budget(session)
        self.plan = plan
        self.rate = rate
        self.bucket = TokenBucket(rate, clock=clock, sleep=sleep)
        self.backoff = Backoff(sleep)
        self.requests = 0
        self._stop = threading.Event()
        self._interrupted = threading.Event()
        self._lock = threading.Lock()
        #: indexes of the rows whose request is out now (Unknown if the run stops meanwhile)
        self.in_flight: set[int] = set()
        self._results: dict[int, Delivery] = {}
        self._closed = False

    @property
    def stopped(self) -> bool:
        """Whether a daily-quota answer stopped the run."""
        return self._stop.is_set()

    def run(
        self,
        batches: list[list[_Pending]],
        concurrency: int | None,
        results: dict[int, Delivery],
        progress: _Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> BaseException | None:
        """Send every batch, recording one delivery per recipient in ``results``.

        The workers are daemon threads the calling thread waits for, so Ctrl-C (or SIGTERM as
        :class:`~amlses.errors.Signalled`) reaches the caller at once: no new send starts
        after it, the requests in flight are waited for up to :data:`INTERRUPT_GRACE` seconds
        (a second interrupt stops waiting), and the interrupt is returned for the caller to
        report — rows without a result are then in flight (``Unknown``) or never started.  An
        error raised while sending a row stops the other workers the same way and is returned.
        """
        self._results = results
        if not batches:
            return None
        self._queue = deque(batches)
        failures: list[BaseException] = []
        count = min(concurrency or self._workers(batches), len(batches))
        per_call = max(len(batch) for batch in batches)
        self._claim_calls = claim_size(self.rate, per_call)
        if self.journal is not None:
            self.doubt_bound = doubt_bound(count * per_call, self._claim_calls * per_call)
            self.journal.set_meta({"doubt_bound": str(self.doubt_bound)})

        def work() -> None:
            try:
                while not self._interrupted.is_set():
                    with self._lock:
                        batch = self._queue.popleft() if self._queue else None
                    if batch is None:
                        return
                    self._deliver(batch)
            except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread)
                failures.append(exc)
                self._interrupted.set()  # the others stop too: the send is reported as is

        workers = [
            threading.Thread(target=work, name=f"amlses-bulk-{n}", daemon=True)
            for n in range(count)
        ]
        for worker in workers:
            worker.start()

        def tick() -> None:
            if cancel is not None and cancel.is_set():
                raise SendCancelled("the step was abandoned (AM_TIMEOUT)")
            if progress is not None:
                progress.tick()

        try:
            _join(workers, math.inf, tick)
        except KeyboardInterrupt as interrupt:
            self._interrupted.set()
            try:
                _join(workers, INTERRUPT_GRACE)
            except KeyboardInterrupt:
                pass  # a second interrupt: stop waiting; what is in flight stays Unknown
            return interrupt
        return failures[0] if failures else None

    def _claim(self, todo: list[_Pending]) -> None:
        """Make sure ``todo``'s rows are claimed in the journal before their request leaves
        (called under the lock, after the pacing wait).

        Claims are written a few calls at a time — ``todo`` and the next batches of the queue,
        in one transaction with the outcomes known so far — because a durable commit costs
        milliseconds.  Claiming only after the wait keeps rows that merely wait for their
        turn out of the journal's "in flight", so a kill leaves as few rows in doubt as can be.
        """
        if self.journal is None or all(item.index in self._claimed for item in todo):
            return
        group = [*todo]
        for batch in itertools.islice(self._queue, self._claim_calls - 1):
            group.extend(item for item in batch if item.index not in self._claimed)
        self.journal.claim(item.key for item in group)
        self._claimed.update(item.index for item in group)

    def snapshot(self) -> list[Delivery]:
        """The outcomes known now (for the progress line)."""
        with self._lock:
            return list(self._results.values())

    def close(self, pending: list[_Pending], why: str) -> None:
        """After a stop: every row without an outcome is ``Unknown`` if its request is out,
        else ``NotSent``; workers still running can record nothing from now on."""
        with self._lock:
            self._closed = True
            for item in pending:
                if item.index in self._results:
                    continue
                in_flight = item.index in self.in_flight
                delivery = Delivery(
                    item.recipient.row,
                    item.recipient.to,
                    UNKNOWN if in_flight else "NotSent",
                    "",
                    f"{why} while the request was in flight: SES may have accepted it"
                    if in_flight
                    else f"not sent: {why} before this row",
                )
                self._results[item.index] = delivery
                if self.journal is not None:
                    self.journal.record(item.key, delivery.Status, "", delivery.Error)

    def _record(self, item: _Pending, outcome: _Outcome) -> None:
        """Keep a row's final outcome the moment it is known (an interrupt may come next)."""
        row = item.recipient
        delivery = Delivery(row.row, row.to, outcome.status, outcome.message_id, outcome.error)
        with self._lock:
            self.in_flight.discard(item.index)
            self._claimed.discard(item.index)
            if not self._closed:
                self._results[item.index] = delivery
                if self.journal is not None:
                    self.journal.record(item.key, outcome.status, outcome.message_id, outcome.error)

    def _workers(self, batches: list[list[_Pending]]) -> int:
        """Enough threads to keep up with the rate if a call takes ~150 ms; at most 32."""
        if math.isinf(self.rate):
            return _MAX_WORKERS
        per_call = sum(len(p.to) for batch in batches for p in batch) / len(batches)
        calls_per_second = self.rate / max(per_call, 1.0)
        return max(1, min(_MAX_WORKERS, math.ceil(calls_per_second * _ASSUMED_LATENCY) + 1))

    def _deliver(self, batch: list[_Pending]) -> None:
        """Send ``batch`` until every recipient in it has a final outcome, recording each.

        A row is "in flight" only while its request is out: a row SES refused and that waits
        for its resend is not, so a stop then reports it ``NotSent`` (true), not ``Unknown``.
        """
        todo = batch
        while todo:
            if self._interrupted.is_set():
                return  # the rows left are reported as never started
            if self._stop.is_set():
                reason = "not sent: the daily sending quota ran out earlier in this send"
                for item in todo:
                    self._record(item, _Outcome("NotSent", error=reason))
                return
            self.bucket.acquire(sum(len(item.to) for item in todo))
            with self._lock:
                if self._interrupted.is_set():  # interrupted while waiting for the bucket
                    return
                self._claim(todo)
                self.in_flight.update(item.index for item in todo)
            retry: list[_Pending] = []
            for item, outcome in zip(todo, self._attempt(todo), strict=True):
                if outcome.retry and item.attempts < self.retries:
                    item.attempts += 1
                    retry.append(item)
                else:
                    self._record(item, outcome)
            with self._lock:  # refused: not in flight while waiting to be resent
                self.in_flight.difference_update(item.index for item in retry)
            if retry:
                self.backoff.wait(max(item.attempts for item in retry) - 1)
            todo = retry

    def _attempt(self, todo: list[_Pending]) -> list[_Outcome]:
        """One request for ``todo``: an outcome per recipient, in order."""
        with self._lock:
            self.requests += 1
        try:
            if self.plan.template is None:
                response = call(self.client, "SendEmail", self._single(todo[0]))
                return [_Outcome("Success", str(response["MessageId"]))]
            response = call(self.client, "SendBulkTemplatedEmail", self._bulk(todo))
        except AwsError as error:
            return [self._failure(error)] * len(todo)
        statuses = list(response.get("Status", []))
        missing = _Outcome("Failed", error="SES returned no status for this destination.")
        return [
            self._status(statuses[i]) if i < len(statuses) else missing for i in range(len(todo))
        ]

    def _single(self, item: _Pending) -> dict[str, object]:
        return {
            "Source": self.plan.source,
            "Destination": {"ToAddresses": item.to},
            "Message": self.plan.message,
            **self.plan.common,
        }

    def _bulk(self, todo: list[_Pending]) -> dict[str, object]:
        return {
            "Source": self.plan.source,
            "Template": self.plan.template,
            "DefaultTemplateData": self.plan.default_data,
            "Destinations": [
                {"Destination": {"ToAddresses": item.to}, "ReplacementTemplateData": item.data}
                for item in todo
            ],
            **self.plan.common,
        }

    def _failure(self, error: AwsError) -> _Outcome:
        """The outcome of a request SES answered with an error (or that never reached it).

        A failure after the request left (no answer, a 5xx) is ``Unknown``: SES may have
        accepted those messages, so they are never resent (see :func:`outcome_unknown`).
        """
        if outcome_unknown(error):
            return _Outcome(UNKNOWN, error=unknown_outcome(error).message)
        explained = explain(error, self.plan.facts).aws_message
        if is_daily_quota(error.code, error.aws_message):
            self._stop.set()
            return _Outcome(_DAILY_QUOTA_STATUS, error=explained)
        return _Outcome(error.code, error=explained, retry=not_accepted(error))

    def _status(self, status: BulkStatus) -> _Outcome:
        """One destination's entry of a SendBulkTemplatedEmail answer."""
        code = str(status.get("Status") or "Success")
        if code == "Success":
            return _Outcome("Success", str(status.get("MessageId", "")))
        if code == _DAILY_QUOTA_STATUS:
            self._stop.set()
        error = str(status.get("Error", "")) or f"SES did not send to this destination ({code})."
        return _Outcome(code, error=error, retry=code in _RETRYABLE_STATUSES)
