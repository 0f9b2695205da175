"""``<AMAWSSES ACTIVITY="send_bulk_email">`` — an **amlses extension**: one message per row.

Separate from :mod:`.mail` because a bulk send is a process of its own: rows from a dataset
or a CSV file, a pace, worker threads, a per-row result dataset, and the memory of what an
earlier attempt of the same step (``AM_RETRY``) already sent, so that no recipient is mailed
twice.  The sending itself is :func:`amlses.mail.send_bulk_email`.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any

from ..errors import StepError, UnknownOutcome
from ..files import printable
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..values import to_text
from .mail import BODY, OPTIONS, SENDER, body_text, check_mail, read_text, step_path
from .registry import activity
from .ses import CONNECTED, ELEMENT, session_for
from .spec import DATASET, NAME, NUMBER, Args, Attr

if TYPE_CHECKING:
    from ..mail import BulkRecipient, Delivery
    from ..runtime.context import Context


@activity(
    ELEMENT,
    "send_bulk_email",
    *CONNECTED,
    SENDER,
    *OPTIONS,
    Attr("DATASET", NAME, doc="the rows: a dataset an earlier step produced"),
    Attr("CSVFILE", doc="the rows: a CSV file with a header line (instead of DATASET)"),
    Attr("TOFIELD", default="To", doc="the field holding each row's recipient(s)"),
    Attr("DATAFIELDS", doc="fields that become template data (default: every field)"),
    Attr("TEMPLATE", doc="an SES template: SendBulkTemplatedEmail, 50 rows a call"),
    Attr("DEFAULTTEMPLATEDATA", doc="JSON object of values for fields a row lacks"),
    *BODY,
    Attr("MAXSENDRATE", NUMBER, minimum=1, doc="recipients a second (default: GetSendQuota)"),
    Attr(
        "RESULTDATASET",
        NAME,
        required=True,
        aliases=("RESULTDATSET",),
        output=DATASET,
        doc="one row each",
    ),
    extension=True,
    sends=True,
    check=check_mail,
)
def send_bulk_email(context: Context, step: Step, args: Args) -> str:
    """Send bulk email (amlses extension): one message per row, paced to MaxSendRate."""
    from .. import mail

    rows = _bulk_rows(context, args)
    earlier = _earlier_deliveries(context, step)
    todo = [row for row in rows if _row_key(row) not in earlier]
    template = args.text("TEMPLATE") or None
    content: dict[str, Any] = {}
    if template is None:
        content = {
            "subject": args.text("SUBJECT"),
            "text": body_text(context, args, "TEXTBODY"),
            "html": body_text(context, args, "HTMLBODY"),
            "charset": args.text("CHARSET") or mail.DEFAULT_CHARSET,
        }
    report = None
    interrupted: KeyboardInterrupt | None = None
    failure: BaseException | None = None
    try:
        if todo or not rows:  # an empty list is the send's own error to report
            report = mail.send_bulk_email(
                session_for(context, args),
                todo,
                sender=args.text("FROM"),
                template=template,
                default_template_data=args.text("DEFAULTTEMPLATEDATA") or None,
                reply_to=args.text("REPLYTO"),
                return_path=args.text("RETURNPATH") or None,
                configuration_set=args.text("CONFIGURATIONSET") or None,
                tags=args.text("TAGS") or None,
                max_send_rate=args.number("MAXSENDRATE"),
                clock=context.options.clock,
                sleep=context.options.sleep,
                **content,
            )
    except mail.BulkInterrupted as stop:
        report, interrupted = stop.report, stop.cause
    except mail.BulkFailed as stop:
        report, failure = stop.report, stop.cause
    new = {d.Row: d for d in report.deliveries} if report else {}
    deliveries = [new.get(row.row) or _already(row, earlier[_row_key(row)]) for row in rows]
    earlier.update(
        (_row_key(row), d)
        for row, d in zip(rows, deliveries, strict=True)
        if d.Status in _DONE_STATUSES
    )
    name = args.text("RESULTDATASET")
    context.store_dataset(step, Dataset(name, mail.Delivery._fields, deliveries))
    if failure is not None:
        raise failure  # the rows are kept (dataset, retry memory); the error is the step's
    for warning in report.warnings if report else ():
        context.reporter.message(warning, "warning")
    counts = mail.tally(deliveries)
    sent, unknown, failed = counts.sent, counts.unknown, counts.failed
    if interrupted is not None:
        context.reporter.message(
            f"{step.position}: the bulk send was interrupted: {sent} sent, {unknown} in doubt "
            f"(Unknown: SES may have accepted them), {counts.not_sent} not sent, "
            f"{counts.refused} failed; every row is in {name}. Running the task again sends "
            "to every recipient again (amlses keeps no send journal yet): send to the NotSent "
            "rows only.",
            "warning",
        )
        raise interrupted
    if report is None:
        outcome = f"{sent} of {len(deliveries)} sent by earlier attempts of this step"
    else:
        pace = "unpaced" if report.rate == float("inf") else f"at {report.rate:g}/s"
        outcome = f"{sent} of {len(deliveries)} sent {pace} in {report.seconds:.1f} s"
    if unknown:
        outcome += f", {unknown} in doubt (Unknown: SES may have accepted them; not resent)"
    outcome += (f", {failed} failed" if failed else "") + f" -> {name}"
    # The rows are in the dataset either way; the step fails so that a task (AM_ERRORS,
    # AM_ONERROR) or its caller (exit code 1) cannot mistake a partial send for a whole.  With
    # only rows in doubt left it fails as Unknown, which AM_RETRY does not repeat.
    if failed:
        raise StepError(f"not every recipient was sent to: {outcome}")
    if unknown:
        raise UnknownOutcome(f"not every recipient is known to be sent to: {outcome}")
    return outcome


#: row statuses a retry of the same bulk step must not send again: accepted, or maybe accepted
_DONE_STATUSES = frozenset({"Success", "AlreadySent", "Unknown"})


def _row_key(row: BulkRecipient) -> str:
    """A row of this step's list: its number and its address (any case and spacing), so the
    same address twice in a list is two rows."""
    return f"{row.row}:" + " ".join(row.to.lower().split())


def _earlier_deliveries(context: Context, step: Step) -> dict[str, Delivery]:
    """What earlier attempts of this very step (``AM_RETRY``) already delivered, by address.

    The runner forgets them whenever a step starts anew — a loop may run the same step again
    with other rows on purpose — so only a retry of the step resends just the rows that SES
    proved it refused.
    """
    key = id(step)
    found = context.deliveries.get(key)
    if found is None or found[0] is not step:
        found = context.deliveries[key] = (step, {})
    return found[1]


def _already(row: BulkRecipient, earlier: Delivery) -> Delivery:
    """The row of a recipient an earlier attempt of the step sent to (or may have)."""
    from ..mail import Delivery

    if earlier.Status == "Unknown":
        return earlier._replace(Row=row.row)
    note = "sent by an earlier attempt of this step; not sent again"
    return Delivery(row.row, row.to, "AlreadySent", earlier.MessageId, note)


def _bulk_rows(context: Context, args: Args) -> list[BulkRecipient]:
    """The rows to send: a dataset or a CSV file, with the To field and the data fields."""
    from ..mail import BulkRecipient

    if ("DATASET" in args.given) == ("CSVFILE" in args.given):
        raise StepError(
            "give the rows as DATASET (a dataset from an earlier step) or CSVFILE (a CSV file "
            "with a header line), one of the two"
        )
    if "DATASET" in args.given:
        columns, rows, where = _dataset_rows(context, args.text("DATASET"))
    else:
        columns, rows, where = _csv_rows(context, args.text("CSVFILE"))
    to_field = _field(columns, args.text("TOFIELD") or "To", where, "TOFIELD")
    wanted = args.text("DATAFIELDS")
    fields = [_field(columns, f.strip(), where, "DATAFIELDS") for f in re.split(r"[,;]", wanted)]
    fields = [f for f in fields if f] if wanted.strip() else list(columns)
    index = {column: i for i, column in enumerate(columns)}
    return [
        BulkRecipient(
            number,
            to_text(row[index[to_field]]),
            {f: to_text(row[index[f]]) for f in fields},
        )
        for number, row in enumerate(rows, start=1)
    ]


def _dataset_rows(context: Context, name: str) -> tuple[tuple[str, ...], list[Any], str]:
    dataset = context.datasets.get(name.lower())
    if dataset is None:
        known = ", ".join(sorted(d.name for d in context.datasets.values())) or "none yet"
        raise StepError(f'dataset "{name}" does not exist (datasets so far: {known})')
    return dataset.columns, list(dataset.rows), f"dataset {dataset.name}"


def _csv_rows(context: Context, file_name: str) -> tuple[tuple[str, ...], list[Any], str]:
    """A CSV file's header and rows; the delimiter is ``,``, ``;`` or tab, from the header."""
    text = read_text(context, file_name, "CSVFILE file")
    header = text.splitlines()[0] if text.strip() else ""
    delimiter = max(",;\t", key=header.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = tuple(cell.strip() for cell in next(reader, []))
    if not any(columns):
        raise StepError(
            f"the CSV file {printable(str(step_path(context, file_name)))} has no header line"
        )
    rows = [row + [""] * (len(columns) - len(row)) for row in reader if any(c.strip() for c in row)]
    return columns, rows, f"CSV file {printable(str(step_path(context, file_name)))}"


def _field(columns: tuple[str, ...], wanted: str, where: str, attribute: str) -> str:
    """The column called ``wanted`` (any case), or a StepError listing the columns."""
    if not wanted:
        return ""
    for column in columns:
        if column.lower() == wanted.lower():
            return column
    raise StepError(
        f'{attribute}: "{wanted}" is not a field of {where} (fields: {", ".join(columns)})'
    )
