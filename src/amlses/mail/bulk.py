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

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypedDict, cast

from ..aws.transport import translate_errors
from ..errors import StepError
from .addresses import (
    address_of,
    check_recipients,
    parse_addresses,
    parse_template_data,
    single_sender,
    template_name,
)
from .bulk_runner import (
    DAILY_QUOTA_STATUS,
    INTERRUPT_GRACE,
    BulkPlan,
    BulkRunner,
    Progress,
    SendCancelled,
    TokenBucket,
    make_batches,
)
from .bulk_smtp import smtp_rows
from .common import (
    DEFAULT_CHARSET,
    Addresses,
    MailError,
    Tags,
    TemplateData,
)
from .journal import IN_FLIGHT, PENDING, Journal
from .mime import MessageContent, message_content
from .rows import (
    DUPLICATE,
    SENT_STATUSES,
    UNKNOWN,
    BulkProgress,
    BulkRecipient,
    Delivery,
    Pending,
    Results,
    Tally,
    recipient_key,
    row_data,
    tally,
)
from .send import (
    common_params,
)
from .templates import get_template

if TYPE_CHECKING:
    from ..aws.clients import SesClientSource

#: the pace of a bulk send over SMTP without MAXSENDRATE: SES's usual production rate (SMTP
#: cannot ask GetSendQuota; a sandbox account's 1/s is throttled and resent)
SMTP_DEFAULT_RATE: Final = 14.0

__all__ = [
    "INTERRUPT_GRACE",
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
    "recipient_key",
    "send_bulk_email",
    "tally",
]


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


class _SendQuotaResponse(TypedDict, total=False):
    Max24HourSend: float
    MaxSendRate: float
    SentLast24Hours: float


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
    smtp = smtp_rows(
        session,
        template=template,
        sender=plan.source,
        subject=subject,
        text=text,
        html=html,
        charset=charset,
        reply_to=reply_to,
        return_path=return_path,
        configuration_set=configuration_set,
        tags=tags,
    )
    if plan.template:
        get_template(session, plan.template)  # one clear error now rather than one per row
    results = Results(len(rows))
    pending = _keyed(
        [p for p in (_prepare(i, row, results, bool(template)) for i, row in enumerate(rows)) if p],
        results,
        allow_duplicates,
    )
    warnings: list[str] = []
    with Journal(Path(journal), journal_meta) if journal is not None else nullcontext() as book:
        if book is not None:
            pending = _resume(book, pending, results, resend_unknown, on_notice)
        if smtp is not None and max_send_rate is None:
            max_send_rate = SMTP_DEFAULT_RATE
            warnings.append(
                f"SES's SMTP interface cannot tell the account's sending rate (GetSendQuota is "
                f"an API call), so the send was paced at {SMTP_DEFAULT_RATE:g} messages a "
                "second, SES's usual production rate: set MAXSENDRATE to your account's rate."
            )
        rate = _rate(session, max_send_rate, sum(len(p.to) for p in pending), warnings)
        runner = BulkRunner(session, plan, rate, journal=book, smtp=smtp, clock=clock, sleep=sleep)
        progress = Progress(runner.snapshot, len(rows), clock, on_progress) if on_progress else None
        batches = make_batches(pending, plan.template is not None)
        try:
            stop = runner.run(batches, concurrency, results, progress, cancel)
        finally:
            if smtp is not None:
                smtp.close_all()
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
            finished = {"finished": "yes" if report.finished else "no", "rows": str(len(rows))}
            try:
                book.set_meta(finished)
            except MailError as error:  # the rows are known; the next run resumes to be sure
                warnings.append(f"{error.message} The send is reported all the same.")
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


def _plan(
    sender: str,
    template: str | None,
    default_data: TemplateData | None,
    common: dict[str, object],
    message: MessageContent | None,
    configuration_set: str | None,
) -> BulkPlan:
    source = single_sender(sender)
    return BulkPlan(
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


def _keyed(pending: list[Pending], results: Results, allow_duplicates: bool) -> list[Pending]:
    """Give each row its journal key; a row repeating an earlier row's addresses is
    ``Duplicate`` (not sent) unless ``allow_duplicates``, which sends it under key ``…#n``."""
    first: dict[str, int] = {}
    seen: dict[str, int] = {}
    kept: list[Pending] = []
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
    pending: list[Pending],
    results: Results,
    resend_unknown: bool,
    on_notice: Callable[[str], None] | None,
) -> list[Pending]:
    """The rows still to send after what the journal says an earlier run did.

    Sent rows become ``AlreadySent`` with their MessageId; rows in doubt (``Unknown``, or
    ``InFlight`` when the earlier run was killed) stay ``Unknown`` unless ``resend_unknown``;
    refused and unsent rows are sent again.  Every row to send is (re)written ``Pending``.
    """
    known = book.rows()
    todo: list[Pending] = []
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


def _prepare(index: int, row: BulkRecipient, results: Results, templated: bool) -> Pending | None:
    """A row ready to send, or None after recording why it cannot be sent at all (its
    template data is checked now, so a bad row fails alone and before anything is sent)."""
    try:
        to = parse_addresses(row.to, f"row {row.row}")
        check_recipients(to, [], [])
        if templated:
            row_data(row)
    except MailError as error:
        results[index] = Delivery(row.row, row.to, error.code, "", error.message)
        return None
    return Pending(index, row, tuple(to))


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
                DAILY_QUOTA_STATUS,
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
