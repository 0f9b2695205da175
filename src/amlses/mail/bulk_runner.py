"""The engine of a bulk send: worker threads at the bucket's pace, resending only refusals.

Separate from :mod:`amlses.mail.bulk` (which prepares the rows, resumes the journal and reports)
because this is the part that runs concurrently: daemon worker threads the calling thread waits
for in short slices, so Ctrl-C (or SIGTERM, or ``AM_TIMEOUT``'s cancel) reaches it at once; the
token bucket; the journal claims that make every request durably "in flight" before it leaves;
and the classification of every answer into an outcome.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ..aws.clients import MAX_POOL_CONNECTIONS
from ..errors import AwsError
from .bulk_smtp import SmtpRows, is_quota
from .common import MAX_BULK_DESTINATIONS, MAX_RECIPIENTS, MailError, SendCancelled
from .journal import Journal, claim_size, doubt_bound
from .mime import MessageContent
from .rows import (
    UNKNOWN,
    BulkProgress,
    Delivery,
    Outcome,
    Pending,
    Results,
    row_data,
    tally,
)
from .send import (
    Backoff,
    BulkStatus,
    call,
    explain,
    is_daily_quota,
    not_accepted,
    outcome_unknown,
    retry_budget,
    unknown_outcome,
)

if TYPE_CHECKING:
    from ..aws.clients import SesClientSource

__all__ = [
    "INTERRUPT_GRACE",
    "BulkPlan",
    "BulkRunner",
    "Progress",
    "SendCancelled",
    "TokenBucket",
    "make_batches",
]

# Per-destination statuses of SendBulkTemplatedEmail that say SES did not take that destination
# and that time can cure; the other failure statuses (MessageRejected, …) are final.
_RETRYABLE_STATUSES: Final = frozenset({"AccountThrottled", "TransientFailure"})
#: the per-destination status, and the code, of a used-up daily quota
DAILY_QUOTA_STATUS: Final = "AccountDailyQuotaExceeded"
# Worker threads for bulk sends: enough to keep the rate if a call takes 150 ms (SendEmail from
# a client far from its region), at most as many as a client keeps connections for
# (aws.clients.MAX_POOL_CONNECTIONS), so every worker reuses a connection of its own.
_MAX_WORKERS: Final = MAX_POOL_CONNECTIONS
_ASSUMED_LATENCY: Final = 0.15
#: how long an interrupted send waits for the requests in flight to be answered, in seconds
INTERRUPT_GRACE: Final = 10.0
#: how often the waiting thread looks up (joins with a timeout stay interruptible)
_JOIN_SLICE: Final = 0.1


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
        # start with a tenth of a second's worth (the burst): a 50-destination call on a fast
        # account goes at once instead of waiting for its tokens, and no larger burst opens
        self._tokens = self.burst
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


def _no_progress(progress: BulkProgress) -> None:
    pass


class Progress:
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
        try:
            self.on_progress(
                BulkProgress(done, self.total, counts.unknown, counts.failed, elapsed, rate)
            )
        except Exception:  # noqa: BLE001 (a broken display, e.g. a closed pipe, must not
            # stop a send halfway: the progress line goes, the send goes on)
            self.on_progress = _no_progress


@dataclass(frozen=True)
class BulkPlan:
    """What is the same for every message of a bulk send."""

    source: str
    template: str | None
    default_data: str
    common: dict[str, object]
    message: MessageContent | None
    facts: dict[str, str]


def make_batches(pending: list[Pending], bulk: bool) -> list[list[Pending]]:
    """One row per call, or up to 50 destinations (and 50 recipients) per bulk call."""
    if not bulk:
        return [[p] for p in pending]
    batches: list[list[Pending]] = []
    current: list[Pending] = []
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
    done: list[threading.Event], seconds: float, tick: Callable[[], None] | None = None
) -> None:
    """Wait until every worker has set its ``done`` event (at most ``seconds``), in short
    slices, so that an interrupt reaches the waiting thread at once; ``tick`` runs between
    slices (the progress line, the cancel check).

    Events rather than ``Thread.join``: on Python 3.11 and 3.12 an interrupt that lands inside
    ``join`` can leave a live thread looking finished (CPython gh-89437), and the grace period
    for the requests in flight would then not be waited for.
    """
    deadline = time.monotonic() + seconds
    for event in done:
        while not event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            event.wait(min(_JOIN_SLICE, left))
            if tick is not None:
                tick()


@dataclass(eq=False)
class _Claim:
    """Rows being marked in flight in the journal by one worker (``owner``): ``done`` is set
    once the transaction ended, ``error`` holds why it failed if it did."""

    keys: list[str]
    owner: int
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    #: for a batch whose rows span several claims: the claims to wait for
    others: tuple[_Claim, ...] = ()

    @classmethod
    def waiting_for(cls, claims: set[_Claim | None]) -> _Claim:
        """A claim that is written when all of ``claims`` are (nothing of its own)."""
        found = tuple(c for c in claims if c is not None)
        waiter = cls([], owner=-1, others=found)
        waiter.done.set()
        return waiter

    def wait(self) -> None:
        """Until this claim (and those it waits for) is on disk; its failure is raised."""
        for claim in (self, *self.others):
            claim.done.wait()
            if claim.error is not None:
                raise MailError(
                    "JournalError",
                    "The rows of this request could not be marked in flight in the journal, "
                    "so it was not sent.",
                ) from claim.error


class BulkRunner:
    """Worker threads sending batches at the bucket's pace, resending only what SES refused."""

    def __init__(
        self,
        session: SesClientSource,
        plan: BulkPlan,
        rate: float,
        *,
        journal: Journal | None,
        smtp: SmtpRows | None = None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        #: the client for SES's API, or what sends over its SMTP interface instead
        self.client = session.without_retries().client if smtp is None else None
        self.smtp = smtp
        self.journal = journal
        #: the batches no worker has taken yet
        self._queue: deque[list[Pending]] = deque()
        #: rows claimed in the journal (in flight, or being written so) whose outcome is not
        #: recorded yet, with the claim that holds them
        self._claims: dict[int, _Claim] = {}
        self._claim_calls = 1
        self.doubt_bound = 0
        self.retries = retry_budget(session) if smtp is None else smtp.retries
        self.plan = plan
        self.rate = rate
        self.bucket = TokenBucket(rate, clock=clock, sleep=sleep)
        self.backoff = Backoff(sleep)
        self.requests = 0
        self._stop = threading.Event()
        self._interrupted = threading.Event()
        self._cancel: threading.Event | None = None
        self._lock = threading.Lock()
        #: indexes of the rows whose request is out now (Unknown if the run stops meanwhile)
        self.in_flight: set[int] = set()
        self._results = Results(0)
        self._closed = False

    @property
    def stopped(self) -> bool:
        """Whether a daily-quota answer stopped the run."""
        return self._stop.is_set()

    def run(
        self,
        batches: list[list[Pending]],
        concurrency: int | None,
        results: Results,
        progress: Progress | None = None,
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
        if cancel is not None and cancel.is_set():  # abandoned while it was being prepared
            return SendCancelled("the step was abandoned (AM_TIMEOUT) before the send began")
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._cancel = cancel
        self._queue = deque(batches)
        failures: list[BaseException] = []
        count = min(concurrency or self._workers(batches), len(batches))
        per_call = max(len(batch) for batch in batches)
        self._claim_calls = claim_size(self.rate, per_call)
        if self.journal is not None:
            self.doubt_bound = doubt_bound(count * per_call, self._claim_calls * per_call)
            self.journal.set_meta({"doubt_bound": str(self.doubt_bound)})

        done = [threading.Event() for _ in range(count)]

        def work(finished: threading.Event) -> None:
            try:
                while not self._stopping():
                    with self._lock:
                        batch = self._queue.popleft() if self._queue else None
                    if batch is None:
                        return
                    self._deliver(batch)
            except BaseException as exc:  # noqa: BLE001 (handed to the waiting thread)
                failures.append(exc)
                self._interrupted.set()  # the others stop too: the send is reported as is
            finally:
                if self.smtp is not None:
                    self.smtp.close_mine()
                finished.set()

        for n, finished in enumerate(done):
            name = f"amlses-bulk-{n}"
            threading.Thread(target=work, args=(finished,), name=name, daemon=True).start()

        def tick() -> None:
            if cancel is not None and cancel.is_set():
                raise SendCancelled("the step was abandoned (AM_TIMEOUT)")
            if progress is not None:
                progress.tick()

        try:
            _join(done, math.inf, tick)
        except BaseException as stop:  # noqa: BLE001 (an interrupt, or the progress line broke)
            # Whatever stopped the waiting, the workers stop too and what is in flight is
            # waited for, so the report (and the journal) hold every row's outcome.
            self._interrupted.set()
            try:
                _join(done, INTERRUPT_GRACE)
            except KeyboardInterrupt:
                pass  # a second interrupt: stop waiting; what is in flight stays Unknown
            return stop
        return failures[0] if failures else None

    def _stopping(self) -> bool:
        """Whether workers must start nothing new: interrupted, failed, or cancelled."""
        cancel = self._cancel
        return self._interrupted.is_set() or (cancel is not None and cancel.is_set())

    def _claim(self, todo: list[Pending]) -> _Claim | None:
        """Choose what to claim so that ``todo``'s rows are in flight in the journal before
        their request leaves (called under the lock, after the pacing wait).

        Claims are written a few calls at a time — ``todo`` and the next batches of the queue,
        in one transaction with the outcomes known so far — because a durable commit costs
        milliseconds.  The commit itself happens outside the lock (:meth:`_claimed_durably`):
        the other workers go on recording outcomes and taking batches meanwhile, and one whose
        rows are in a claim being written waits for it.  Claiming after the wait keeps the rows
        of a worker that waits for its turn out of the journal's "in flight"; the look-ahead
        rows of a claim are in flight before their turn, which the bound
        (:func:`~amlses.mail.journal.doubt_bound`) counts.
        """
        if self.journal is None:
            return None
        claims = {self._claims.get(item.index) for item in todo}
        if None not in claims:  # claimed already (by a look-ahead, or an earlier attempt)
            return next(iter(claims)) if len(claims) == 1 else _Claim.waiting_for(claims)
        group = [*todo]
        for batch in itertools.islice(self._queue, self._claim_calls - 1):
            group.extend(item for item in batch if item.index not in self._claims)
        claim = _Claim([item.key for item in group], owner=threading.get_ident())
        for item in group:
            self._claims[item.index] = claim
        return claim

    def _claimed_durably(self, claim: _Claim | None) -> None:
        """Return once ``claim`` is on disk: write it (its owner) or wait for it (the others).
        A claim that could not be written fails every send that needed it — nothing of theirs
        may leave without its record."""
        if claim is None or self.journal is None:
            return
        if claim.owner == threading.get_ident() and not claim.done.is_set():
            try:
                self.journal.claim(claim.keys)
            except BaseException as error:
                claim.error = error
                raise
            finally:
                claim.done.set()
        else:
            claim.wait()

    def snapshot(self) -> list[Delivery]:
        """The outcomes known now (for the progress line)."""
        with self._lock:
            return self._results.done()

    def close(self, pending: list[Pending], why: str) -> None:
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

    def _record(self, item: Pending, outcome: Outcome) -> None:
        """Keep a row's final outcome the moment it is known (an interrupt may come next)."""
        row = item.recipient
        delivery = Delivery(row.row, row.to, outcome.status, outcome.message_id, outcome.error)
        with self._lock:
            self.in_flight.discard(item.index)
            self._claims.pop(item.index, None)
            if not self._closed:
                self._results[item.index] = delivery
                if self.journal is not None:
                    self.journal.record(item.key, outcome.status, outcome.message_id, outcome.error)

    def _workers(self, batches: list[list[Pending]]) -> int:
        """Enough threads to keep up with the rate if a call takes ~150 ms; at most 32."""
        if math.isinf(self.rate):
            return _MAX_WORKERS
        per_call = sum(len(p.to) for batch in batches for p in batch) / len(batches)
        calls_per_second = self.rate / max(per_call, 1.0)
        return max(1, min(_MAX_WORKERS, math.ceil(calls_per_second * _ASSUMED_LATENCY) + 1))

    def _deliver(self, batch: list[Pending]) -> None:
        """Send ``batch`` until every recipient in it has a final outcome, recording each.

        A row is "in flight" only while its request is out: a row SES refused and that waits
        for its resend is not, so a stop then reports it ``NotSent`` (true), not ``Unknown``.
        """
        todo = batch
        while todo:
            if self._stopping():
                return  # the rows left are reported as never started
            if self._stop.is_set():
                reason = "not sent: the daily sending quota ran out earlier in this send"
                for item in todo:
                    self._record(item, Outcome("NotSent", error=reason))
                return
            self.bucket.acquire(sum(len(item.to) for item in todo))
            with self._lock:
                if self._stopping():  # interrupted or cancelled while waiting for the bucket
                    return
                claim = self._claim(todo)
            self._claimed_durably(claim)  # the commit, outside the lock
            with self._lock:
                if self._stopping():  # stopped while the claim was written: nothing left
                    return
                self.in_flight.update(item.index for item in todo)
            retry: list[Pending] = []
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

    def _attempt(self, todo: list[Pending]) -> list[Outcome]:
        """One request for ``todo``: an outcome per recipient, in order."""
        with self._lock:
            self.requests += 1
        if self.smtp is not None:
            outcome, error = self.smtp.attempt(todo[0].to)
            if is_quota(error):
                self._stop.set()
                return [Outcome(DAILY_QUOTA_STATUS, error=outcome.error)]
            return [outcome]
        assert self.client is not None  # an API send (SMTP returned above)
        try:
            if self.plan.template is None:
                response = call(self.client, "SendEmail", self._single(todo[0]))
                return [Outcome("Success", str(response["MessageId"]))]
            response = call(self.client, "SendBulkTemplatedEmail", self._bulk(todo))
        except AwsError as error:
            return [self._failure(error)] * len(todo)
        statuses = list(response.get("Status", []))
        # SES took the call: a destination it gave no status for may well have been sent
        missing = Outcome(
            UNKNOWN,
            error="SES accepted the call but returned no status for this destination: it may "
            "have been sent, so it is not sent again.",
        )
        return [
            self._status(statuses[i]) if i < len(statuses) else missing for i in range(len(todo))
        ]

    def _single(self, item: Pending) -> dict[str, object]:
        return {
            "Source": self.plan.source,
            "Destination": {"ToAddresses": item.to},
            "Message": self.plan.message,
            **self.plan.common,
        }

    def _bulk(self, todo: list[Pending]) -> dict[str, object]:
        return {
            "Source": self.plan.source,
            "Template": self.plan.template,
            "DefaultTemplateData": self.plan.default_data,
            "Destinations": [
                {
                    "Destination": {"ToAddresses": item.to},
                    "ReplacementTemplateData": row_data(item.recipient),
                }
                for item in todo
            ],
            **self.plan.common,
        }

    def _failure(self, error: AwsError) -> Outcome:
        """The outcome of a request SES answered with an error (or that never reached it).

        A failure after the request left (no answer, a 5xx) is ``Unknown``: SES may have
        accepted those messages, so they are never resent (see :func:`outcome_unknown`).
        """
        if outcome_unknown(error):
            return Outcome(UNKNOWN, error=unknown_outcome(error).message)
        explained = explain(error, self.plan.facts).aws_message
        if is_daily_quota(error.code, error.aws_message):
            self._stop.set()
            return Outcome(DAILY_QUOTA_STATUS, error=explained)
        return Outcome(error.code, error=explained, retry=not_accepted(error))

    def _status(self, status: BulkStatus) -> Outcome:
        """One destination's entry of a SendBulkTemplatedEmail answer."""
        code = str(status.get("Status") or "Success")
        if code == "Success":
            return Outcome("Success", str(status.get("MessageId", "")))
        if code == DAILY_QUOTA_STATUS:
            self._stop.set()
        error = str(status.get("Error", "")) or f"SES did not send to this destination ({code})."
        return Outcome(code, error=error, retry=code in _RETRYABLE_STATUSES)
