"""The rows of a bulk send and how each ended: what reports, journals and step lines share.

One definition of a row (:class:`BulkRecipient`), of its outcome (:class:`Delivery`, whose
field names are the result dataset's columns), of "sent" (:data:`SENT_STATUSES`, :func:`tally`)
and of "the same recipient" (:func:`recipient_key`), so the sender, the journal and the step
that reports the send cannot disagree about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from .addresses import address_of

__all__ = [
    "DUPLICATE",
    "SENT_STATUSES",
    "UNKNOWN",
    "BulkProgress",
    "BulkRecipient",
    "Delivery",
    "Outcome",
    "Pending",
    "Tally",
    "recipient_key",
    "row_data",
    "tally",
]

#: the status of a recipient whose message SES may or may not have accepted (never resent)
UNKNOWN: Final = "Unknown"
#: the status of a row whose address an earlier row of the same input already has
DUPLICATE: Final = "Duplicate"


@dataclass(frozen=True, slots=True)
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
class Pending:
    """A recipient waiting to be sent: its place in the input, addresses and its key in the
    journal (its addresses, and ``#n`` for the n-th row of the same addresses).

    Kept small, as there is one per row for the whole send (100,000 rows are 100,000 of
    them): the addresses a tuple, the template data not kept as JSON but encoded again when
    its call is made (:attr:`BulkRecipient.data` has it already).
    """

    index: int
    recipient: BulkRecipient
    to: tuple[str, ...]
    attempts: int = 0
    key: str = ""


class Outcome(NamedTuple):
    status: str
    message_id: str = ""
    error: str = ""
    retry: bool = False


def recipient_key(addresses: Iterable[str]) -> str:
    """What makes two rows "the same recipient": their bare addresses, without case, sorted."""
    return ",".join(sorted(address_of(a).lower() for a in addresses))


def row_data(row: BulkRecipient) -> str:
    """A row's template data as the JSON object SES takes (``ReplacementTemplateData``)."""
    from .addresses import parse_template_data

    return parse_template_data(row.data, f"the template data of row {row.row}")
