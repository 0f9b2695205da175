"""The rows of a bulk send and how each ended: what reports, journals and step lines share.

One definition of a row (:class:`BulkRecipient`), of its outcome (:class:`Delivery`, whose
field names are the result dataset's columns), of "sent" (:data:`SENT_STATUSES`, :func:`tally`)
and of "the same recipient" (:func:`recipient_key`), so the sender, the journal and the step
that reports the send cannot disagree about them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
    "Results",
    "RowData",
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
    bare = [address_of(a) for a in addresses]
    # an address already in lower case is its own key: no copy per row of a 100,000-row list
    return ",".join(sorted(a if a.islower() else a.lower() for a in bare))


def row_data(row: BulkRecipient) -> str:
    """A row's template data as the JSON object SES takes (``ReplacementTemplateData``)."""
    from .addresses import parse_template_data

    return parse_template_data(row.data, f"the template data of row {row.row}")


class RowData(Mapping[str, object]):
    """A row's template data: its values, with the field names shared by every row of the
    list (a dict per row would cost 100,000 copies of the same keys)."""

    __slots__ = ("_fields", "_values")

    def __init__(self, fields: tuple[str, ...], values: tuple[object, ...]) -> None:
        self._fields = fields
        self._values = values

    def __getitem__(self, key: str) -> object:
        try:
            return self._values[self._fields.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return repr(dict(zip(self._fields, self._values, strict=True)))


class Results:
    """Each row's delivery by its place in the input, once known: a list, not a dict (a dict
    entry per row costs a 100,000-row send ~6 MB more)."""

    __slots__ = ("_known", "_rows")

    def __init__(self, rows: int) -> None:
        self._rows: list[Delivery | None] = [None] * rows
        self._known = 0

    def __setitem__(self, index: int, delivery: Delivery) -> None:
        if self._rows[index] is None:
            self._known += 1
        self._rows[index] = delivery

    def __getitem__(self, index: int) -> Delivery:
        delivery = self._rows[index]
        if delivery is None:
            raise KeyError(index)
        return delivery

    def __contains__(self, index: int) -> bool:
        return self._rows[index] is not None

    def __len__(self) -> int:
        """How many rows have a delivery."""
        return self._known

    def done(self) -> list[Delivery]:
        """The deliveries known now, in row order."""
        return [d for d in self._rows if d is not None]
