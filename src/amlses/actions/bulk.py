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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StepError, UnknownOutcome
from ..files import printable
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..values import to_text
from .mail import BODY, OPTIONS, SENDER, body_text, check_mail, read_text, step_path
from .registry import activity
from .ses import CONNECTED, ELEMENT, session_for
from .spec import BOOL, DATASET, NAME, NUMBER, Args, Attr

if TYPE_CHECKING:
    from ..mail import BulkRecipient, Delivery
    from ..mail.bulk import BulkReport, Tally
    from ..runtime.context import Context
    from ..ses import SesSession


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
        "CAMPAIGN",
        doc="a name: nobody on this send is ever mailed twice under it, however often it runs",
    ),
    Attr(
        "ALLOWDUPLICATES",
        BOOL,
        default=False,
        doc="YES: send to an address that repeats in the rows once per row",
    ),
    Attr(
        "RESENDUNKNOWN",
        BOOL,
        default=False,
        doc="YES: resend the rows an earlier run left in doubt (they may get two messages)",
    ),
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
    template = args.text("TEMPLATE") or None
    content: dict[str, Any] = {}
    if template is None:
        content = {
            "subject": args.text("SUBJECT"),
            "text": body_text(context, args, "TEXTBODY"),
            "html": body_text(context, args, "HTMLBODY"),
            "charset": args.text("CHARSET") or mail.DEFAULT_CHARSET,
        }
    envelope = {
        "sender": args.text("FROM"),
        "template": template,
        "default_template_data": args.text("DEFAULTTEMPLATEDATA") or None,
        "reply_to": args.text("REPLYTO"),
        "return_path": args.text("RETURNPATH") or None,
        "configuration_set": args.text("CONFIGURATIONSET") or None,
        "tags": args.text("TAGS") or None,
        **content,
    }
    session = session_for(context, args, smtp=True)
    journal = _journal(context, step, args, envelope, session)
    # What earlier attempts of this very step did (AM_RETRY) is kept in memory.  Without a
    # journal it is what keeps a retry from sending twice; with one, the journal knows it
    # (across runs too), and the memory only says whether this is a retry: rows in doubt are
    # resent on request once, by the first attempt, never the ones a retry's attempt left.
    earlier = _earlier_deliveries(context, step)
    retry = bool(earlier)
    todo = [row for row in rows if journal is not None or _row_key(row) not in earlier]
    report = None
    interrupted: KeyboardInterrupt | None = None
    failure: BaseException | None = None
    progress = context.options.bulk_progress
    where = str(step.position)
    resend = (args.flag("RESENDUNKNOWN") or context.options.resend_unknown) and not retry
    try:
        if todo or not rows:  # an empty list is the send's own error to report
            with journal.lock() if journal is not None else nullcontext():
                report = mail.send_bulk_email(
                    session,
                    todo,
                    max_send_rate=args.number("MAXSENDRATE"),
                    journal=journal.path() if journal is not None else None,
                    journal_meta=journal.meta if journal is not None else None,
                    allow_duplicates=args.flag("ALLOWDUPLICATES"),
                    resend_unknown=resend,
                    on_progress=(lambda p: progress(where, p)) if progress else None,
                    on_notice=lambda text: context.reporter.message(f"{where}: {text}"),
                    cancel=context.cancel,
                    clock=context.options.clock,
                    sleep=context.options.sleep,
                    **envelope,
                )
    except mail.BulkInterrupted as stop:
        report, interrupted = stop.report, stop.cause
    except mail.BulkFailed as stop:
        report, failure = stop.report, stop.cause
    finally:
        if progress is not None:
            progress(where, None)
    deliveries = _deliveries(rows, todo, report, earlier)
    if journal is None:
        earlier.update(
            (_row_key(row), d)
            for row, d in zip(rows, deliveries, strict=True)
            if d.Status in _DONE_STATUSES
        )
    else:  # the journal knows every row: remember only that the step was tried
        earlier[_ATTEMPTED] = mail.Delivery(0, "", "", "", "")
    name = args.text("RESULTDATASET")
    context.store_dataset(step, Dataset(name, mail.Delivery._fields, deliveries))
    if failure is not None:
        raise failure  # the rows are kept (dataset, journal); the error is the step's
    for warning in report.warnings if report else ():
        context.reporter.message(warning, "warning")
    counts = mail.tally(deliveries)
    if interrupted is not None:
        message = _interrupted(context, where, counts, name, report, interrupted)
        context.reporter.message(message, "warning")
        raise interrupted
    return _outcome(counts, len(deliveries), report, name)


def _outcome(counts: Tally, total: int, report: BulkReport | None, name: str) -> str:
    """The step's line — or its error, when not every row is done for good.

    The rows are in the dataset either way; the step fails so that a task (AM_ERRORS,
    AM_ONERROR) or its caller (exit code 1) cannot mistake a partial send for a whole.  With
    only rows in doubt left it fails as Unknown, which AM_RETRY does not repeat.
    """
    sent, unknown, failed = counts.sent, counts.unknown, counts.failed
    if report is None:
        outcome = f"{sent} of {total} sent by earlier attempts of this step"
    else:
        pace = "unpaced" if report.rate == float("inf") else f"at {report.rate:g}/s"
        outcome = f"{sent} of {total} sent {pace} in {report.seconds:.1f} s"
    if counts.duplicates:
        outcome += f", {counts.duplicates} duplicate(s) not sent"
    if unknown:
        outcome += f", {unknown} in doubt (Unknown: SES may have accepted them; not resent)"
    outcome += (f", {failed} failed" if failed else "") + f" -> {name}"
    if failed:
        raise StepError(f"not every recipient was sent to: {outcome}")
    if unknown:
        raise UnknownOutcome(f"not every recipient is known to be sent to: {outcome}")
    return outcome


def _interrupted(
    context: Context,
    where: str,
    counts: Tally,
    name: str,
    report: BulkReport | None,
    stopped: KeyboardInterrupt,
) -> str:
    """What an interrupted bulk send says: the counts, where the rows are, how to resume."""
    from ..mail import SendCancelled

    why = "stopped by AM_TIMEOUT" if isinstance(stopped, SendCancelled) else "interrupted"
    text = (
        f"{where}: the bulk send was {why}: {counts.sent} sent, {counts.unknown} in "
        f"doubt (Unknown: SES may have accepted them), {counts.not_sent} not sent, "
        f"{counts.refused} failed; every row is in {name}."
    )
    if report is not None and report.journal is not None:
        command = context.options.resume_command
        how = f"run `{command}`" if command else "run the task again"
        text += (
            f" The journal {report.journal} has them all: to resume, {how} — it sends only "
            "to the rows not sent, and leaves the rows in doubt alone"
            " (--resend-unknown sends those too)."
        )
    else:
        text += (
            " There is no journal (it is off), so running the task again sends to every "
            "recipient again: send to the NotSent rows only."
        )
    return text


@dataclass(frozen=True)
class _JournalPlan:
    """Which send this is, for its journal: the folder, the send's key, its description."""

    folder: Path
    key: str
    meta: dict[str, str]
    campaign: bool

    def lock(self) -> AbstractContextManager[None]:
        """The send's lock, held while its journal is chosen and the send runs."""
        from ..mail.journal import send_lock

        return send_lock(self.folder, self.key)

    def path(self) -> str:
        """The journal to use (call holding :meth:`lock`): the open one, or a new one."""
        from ..mail.journal import journal_path

        return str(journal_path(self.folder, self.key, reuse_finished=self.campaign))


def _journal(
    context: Context, step: Step, args: Args, envelope: dict[str, Any], session: SesSession
) -> _JournalPlan | None:
    """Which send this is for the journal, or None when journals are off.

    A send is "the same" as an earlier one when the task file, the step (its result dataset),
    the message and where it goes (endpoint, region, account) are: then an open journal is
    resumed.  The destination is part of it so that a rehearsal against the local emulator or
    another account never marks real recipients as already sent.  A campaign is the same send
    whatever the task, step or message, for one destination, and is never finished for good.
    """
    from ..mail.journal import default_journal_dir, send_key

    options = context.options
    if not options.journal:
        return None
    folder = Path(options.journal_dir) if options.journal_dir else default_journal_dir()
    campaign = args.text("CAMPAIGN").strip()
    task = context.task_file()
    step_name = f"{args.text('RESULTDATASET')} ({step.position})"
    destination = _destination(session)
    if campaign:
        key = send_key({"campaign": campaign.lower(), "to": destination})
    else:
        message = {k: v for k, v in envelope.items() if v not in (None, "")}
        key = send_key(
            {
                "task": task,
                "step": args.text("RESULTDATASET").lower(),
                "message": message,
                "to": destination,
            }
        )
    meta = {
        "key": key,
        "task": task,
        "step": step_name,
        "campaign": campaign,
        "destination": destination,
    }
    return _JournalPlan(folder, key, meta, bool(campaign))


def _destination(session: SesSession) -> str:
    """Where a session's mail goes: the endpoint, region and account (access key id or
    profile) — never a secret."""
    connection = session.connection
    account = connection.access_key or connection.profile or "default credentials"
    if session.is_smtp:
        endpoint = session.smtp_endpoint
        return f"smtp://{endpoint.host}:{endpoint.port} as {session.smtp_login.user}"
    meta = session.client.meta
    return f"{meta.endpoint_url} ({meta.region_name}) as {account}"


def _deliveries(
    rows: list[BulkRecipient],
    todo: list[BulkRecipient],
    report: BulkReport | None,
    earlier: dict[str, Delivery],
) -> list[Delivery]:
    """One delivery per row: this attempt's, or an earlier attempt's for a row it skipped."""
    if report is not None and len(todo) == len(rows):
        return report.deliveries  # every row was sent now (always so with a journal)
    new = {d.Row: d for d in report.deliveries} if report else {}
    return [new.get(row.row) or _already(row, earlier[_row_key(row)]) for row in rows]


#: the key under which a journaled step remembers that it was tried (no row has this key)
_ATTEMPTED = "\0attempted"


#: row statuses a retry of the same bulk step must not send again: accepted, maybe accepted,
#: or a repeat of an address that is
_DONE_STATUSES = frozenset({"Success", "AlreadySent", "Unknown", "Duplicate"})


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
    from ..mail.rows import RowData

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
    if not args.text("TEMPLATE"):
        fields = []  # only a template reads the data: none kept per row for a plain send
    names = tuple(fields)
    return [
        BulkRecipient(
            number,
            to_text(row[index[to_field]]),
            RowData(names, tuple(to_text(row[index[f]]) for f in names)),
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
