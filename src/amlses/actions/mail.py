"""``<AMAWSSES>`` sending activities — **amlses extensions**: Automate's SES action cannot send.

Each handler maps attributes onto :mod:`amlses.mail` and stores what it returns (a MessageId
in ``RESULTVARIABLE``, rows in ``RESULTDATASET``).  Connection attributes, sessions, retries,
proxies and secrets are exactly those of the documented activities (``CONNECTED`` and
:func:`~amlses.actions.ses.session_for`).  Attribute names follow Automate's style: upper
case, ``RESULT…`` for outputs.

File attributes (``ATTACHMENTS``, ``TEXTBODYFILE``, ``MESSAGEFILE``, ``CSVFILE`` …) take
absolute paths, or paths relative to the folder of the task file the step stands in (a
subtask's own folder), so a task and its files can move together
(:meth:`~amlses.runtime.context.Context.resolve_path`).  :mod:`amlses.mail` (and through it
``email`` and ``concurrent.futures``) is imported inside the handlers, so ``amlses check`` and
``--help`` never pay for it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StepError, UnknownOutcome
from ..files import (
    NotTextError,
    PathMap,
    UnmappedPathError,
    decode_text,
    printable,
    read_bounded,
    resolve_task_path,
)
from ..lang.nodes import Attribute, Step
from ..runtime.datasets import Dataset
from ..values import to_text
from .registry import activity
from .ses import CONNECTED, ELEMENT, session_for
from .spec import DATASET, NAME, NUMBER, VARIABLE, Args, Attr, StaticCheck

if TYPE_CHECKING:
    from ..mail import BulkRecipient, Delivery
    from ..runtime.context import Context

SENDER = Attr("FROM", required=True, doc="the verified sender, e.g. Ann Lee <ann@example.com>")
RECIPIENTS: tuple[Attr, ...] = (
    Attr("TO", doc="recipients, separated by commas or semicolons"),
    Attr("CC", doc="copy recipients, separated by commas or semicolons"),
    Attr("BCC", doc="blind-copy recipients (in no header), separated by commas or semicolons"),
)
OPTIONS: tuple[Attr, ...] = (
    Attr("REPLYTO", doc="reply-to addresses, separated by commas or semicolons"),
    Attr("RETURNPATH", doc="where bounces go (a verified identity)"),
    Attr("CONFIGURATIONSET", doc="the SES configuration set for event publishing"),
    Attr("TAGS", doc="message tags: name=value, separated by commas or semicolons"),
)
BODY: tuple[Attr, ...] = (
    Attr("SUBJECT", doc="the subject line"),
    Attr("TEXTBODY", doc="the plain-text body"),
    Attr("HTMLBODY", doc="the HTML body"),
    Attr("TEXTBODYFILE", doc="a file holding the plain-text body (instead of TEXTBODY)"),
    Attr("HTMLBODYFILE", doc="a file holding the HTML body (instead of HTMLBODY)"),
    Attr("CHARSET", default="UTF-8", doc="character set of subject and bodies"),
)
TEMPLATE = Attr("TEMPLATE", required=True, doc="the SES template's name")
TEMPLATE_DATA = Attr("TEMPLATEDATA", doc='JSON object of values, e.g. {"name": "Ann"}')
TEMPLATE_BODY: tuple[Attr, ...] = (
    Attr("SUBJECT", required=True, doc="the subject line; {{name}} placeholders allowed"),
    *BODY[1:5],
)
MESSAGE_ID = Attr("RESULTVARIABLE", NAME, output=VARIABLE, doc="receives the SES MessageId")
#: the largest body, message or CSV file a step reads (SES takes at most 40 MB per message)
MAX_FILE_BYTES = 50 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# What ``amlses check`` finds before any send (the ``check=`` hook of every activity here)

#: attributes naming one file a step reads, and the one naming several (``|`` or ``;``)
_FILE_ATTRIBUTES = ("TEXTBODYFILE", "HTMLBODYFILE", "MESSAGEFILE", "CSVFILE")
_FILE_LIST_ATTRIBUTE = "ATTACHMENTS"
#: attributes holding template data, a JSON object
_JSON_ATTRIBUTES = ("TEMPLATEDATA", "DEFAULTTEMPLATEDATA")
#: what separates attachments: the rule of :func:`amlses.mail.split_paths`
_PATH_SEPARATORS = re.compile(r"[|;]")


def check_mail(checker: StaticCheck, step: Step) -> None:
    """Find what a send would fail on only when it runs, when the value is literal: template
    data that is no JSON object (SES says so only when it renders, after accepting the
    message), and a body, message, CSV or attachment file that is not there.

    Files are looked for as the run looks for them: relative to the folder of the task file
    the step stands in, Windows paths through the run's ``--map-path``; a Windows path that
    no mapping covers is left to the run (it may well exist on the machine that runs it).
    ``amlses.mail`` is not imported: it would pull in ``email``, which ``check`` never needs.
    Only ``amlses check`` looks (``thorough``): a run finds the same at the step, where a
    file an earlier step made is there.
    """
    # StaticCheck promises neither; amlses.check.Checker has both (see its attributes)
    if not checker.thorough:
        return
    for name in _JSON_ATTRIBUTES:
        attribute = step.get(name)
        if attribute is not None and "%" not in attribute.value:
            reason = _template_data_problem(attribute.value)
            if reason is not None:
                checker.problem(f"{name} {reason}", attribute.where, step)
    for name in (*_FILE_ATTRIBUTES, _FILE_LIST_ATTRIBUTE):
        attribute = step.get(name)
        if attribute is None:
            continue
        written = attribute.value
        items = _PATH_SEPARATORS.split(written) if name == _FILE_LIST_ATTRIBUTE else [written]
        for item in (i.strip() for i in items):
            if item and "%" not in item:  # a file named by a variable is known only at run
                _check_file(checker, step, attribute, item)


def _template_data_problem(text: str) -> str | None:
    """Why ``text`` is no template data, or None: the rules of
    :func:`amlses.mail.parse_template_data` (empty is ``{}``; else a JSON object)."""
    if not text.strip():
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            f"is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. Write a JSON "
            'object such as {"name": "Ann"} (in AML, put the attribute value in single '
            "quotes or write &quot; for each double quote)"
        )
    if not isinstance(parsed, dict):
        return (
            f'must be a JSON object such as {{"name": "Ann"}}, not a JSON {type(parsed).__name__}'
        )
    return None


def _check_file(checker: StaticCheck, step: Step, attribute: Attribute, written: str) -> None:
    """Report the file ``written`` in ``attribute`` when it is not there (or not a file)."""
    path_map = checker.path_map or PathMap()
    try:
        path = resolve_task_path(written, step.position.file, path_map)
    except UnmappedPathError:
        return
    if os.path.isfile(path):
        return
    why = "is not a file" if os.path.exists(path) else "does not exist"
    checker.problem(
        f"{attribute.written_name or attribute.name}: the file {printable(path)} {why}",
        attribute.where,
        step,
    )


def _path(context: Context, text: str) -> Path:
    """``text`` as a path, relative to the folder of the task file the step stands in."""
    return Path(context.resolve_path(text))


def _read_bytes(context: Context, text: str, what: str) -> bytes:
    """The bytes of a file a step names: bounded, regular files only (a FIFO or ``/dev/zero``
    fails at once), its name shown with control characters escaped."""
    path = _path(context, text)
    shown = printable(str(path))
    try:
        return read_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise StepError(f"the {what} {shown} does not exist") from None
    except OSError as exc:
        raise StepError(f"the {what} {shown} cannot be read: {exc.strerror or exc}") from None


def _read_text(context: Context, text: str, what: str) -> str:
    """A text file as Windows tools save it (UTF-8, UTF-16 with BOM, else Windows-1252, with a
    note once per file), or a StepError for a file that is not text; never quoted."""
    data = _read_bytes(context, text, what)
    shown = printable(str(_path(context, text)))
    try:
        decoded = decode_text(data)
    except NotTextError as exc:
        raise StepError(f"the {what} {shown} cannot be used: {exc.reason}") from None
    key = f"encoding:{shown}"
    if decoded.note is not None and key not in context.warned:
        context.warned.add(key)
        context.reporter.message(f"the {what} {shown} is {decoded.note}", "note")
    return str(decoded)


def _body(context: Context, args: Args, name: str) -> str | None:
    """``TEXTBODY``/``HTMLBODY`` or the file named by ``…FILE``; None when neither is given."""
    file_name = f"{name}FILE"
    if name in args.given and file_name in args.given:
        raise StepError(f"give {name} or {file_name}, not both")
    if file_name in args.given:
        return _read_text(context, args.text(file_name), f"{file_name} file")
    return args.text(name) if name in args.given else None


def _store_id(context: Context, args: Args, message_id: str) -> None:
    if args.text("RESULTVARIABLE"):
        context.set_variable(args.text("RESULTVARIABLE"), message_id, create=True)


def _envelope(args: Args) -> dict[str, Any]:
    """The keyword arguments every single send shares."""
    return {
        "sender": args.text("FROM"),
        "to": args.text("TO"),
        "cc": args.text("CC"),
        "bcc": args.text("BCC"),
        "reply_to": args.text("REPLYTO"),
        "return_path": args.text("RETURNPATH") or None,
        "configuration_set": args.text("CONFIGURATIONSET") or None,
        "tags": args.text("TAGS") or None,
    }


def _count(args: Args, *names: str) -> int:
    from ..mail import parse_addresses

    return sum(len(parse_addresses(args.text(name), name)) for name in names)


@activity(
    ELEMENT,
    "send_email",
    *CONNECTED,
    SENDER,
    *RECIPIENTS,
    *OPTIONS,
    *BODY,
    Attr("ATTACHMENTS", doc="files to attach, separated by | (or ;): sent as a MIME message"),
    MESSAGE_ID,
    extension=True,
    sends=True,
    check=check_mail,
)
def send_email(context: Context, step: Step, args: Args) -> str:
    """Send email (amlses extension): one message; with ATTACHMENTS, as MIME via SendRawEmail."""
    from .. import mail

    attachments = [_path(context, str(p)) for p in mail.split_paths(args.text("ATTACHMENTS"))]
    message_id = mail.send_email(
        session_for(context, args),
        subject=args.text("SUBJECT"),
        text=_body(context, args, "TEXTBODY"),
        html=_body(context, args, "HTMLBODY"),
        charset=args.text("CHARSET") or mail.DEFAULT_CHARSET,
        attachments=attachments,
        sleep=context.options.sleep,
        **_envelope(args),
    )
    _store_id(context, args, message_id)
    files = f" with {len(attachments)} attachment(s)" if attachments else ""
    return f"sent to {_count(args, 'TO', 'CC', 'BCC')} recipient(s){files}: {message_id}"


@activity(
    ELEMENT,
    "send_raw_email",
    *CONNECTED,
    Attr("MESSAGEFILE", doc="a file holding the MIME message (.eml)"),
    Attr("MESSAGE", doc="the MIME message itself, e.g. %RawMessage%"),
    Attr("FROM", doc="the sender (Source); default: the message's From header"),
    *RECIPIENTS,
    Attr("CONFIGURATIONSET", doc="the SES configuration set for event publishing"),
    Attr("TAGS", doc="message tags: name=value, separated by commas or semicolons"),
    MESSAGE_ID,
    extension=True,
    sends=True,
    check=check_mail,
)
def send_raw_email(context: Context, step: Step, args: Args) -> str:
    """Send raw email (amlses extension): a prepared MIME message, as it is (SendRawEmail)."""
    from .. import mail

    if ("MESSAGE" in args.given) == ("MESSAGEFILE" in args.given):
        raise StepError("give the message as MESSAGEFILE (a file) or MESSAGE (text), not both")
    if "MESSAGEFILE" in args.given:
        message = _read_bytes(context, args.text("MESSAGEFILE"), "MESSAGEFILE file")
    else:  # text from an attribute has LF line ends; mail wants CRLF
        message = re.sub(r"\r?\n", "\r\n", args.text("MESSAGE")).encode("utf-8")
    destinations = [args.text(name) for name in ("TO", "CC", "BCC") if args.text(name)]
    message_id = mail.send_raw_email(
        session_for(context, args),
        message,
        sender=args.text("FROM") or None,
        destinations=destinations,
        configuration_set=args.text("CONFIGURATIONSET") or None,
        tags=args.text("TAGS") or None,
        sleep=context.options.sleep,
    )
    _store_id(context, args, message_id)
    return f"raw message of {len(message):,} bytes sent: {message_id}"


@activity(
    ELEMENT,
    "send_templated_email",
    *CONNECTED,
    SENDER,
    *RECIPIENTS,
    *OPTIONS,
    TEMPLATE,
    TEMPLATE_DATA,
    MESSAGE_ID,
    extension=True,
    sends=True,
    check=check_mail,
)
def send_templated_email(context: Context, step: Step, args: Args) -> str:
    """Send templated email (amlses extension): a stored template to one destination."""
    from .. import mail

    message_id = mail.send_templated_email(
        session_for(context, args),
        template=args.text("TEMPLATE"),
        template_data=args.text("TEMPLATEDATA"),
        sleep=context.options.sleep,
        **_envelope(args),
    )
    _store_id(context, args, message_id)
    recipients = _count(args, "TO", "CC", "BCC")
    return f"template {args.text('TEMPLATE')} sent to {recipients} recipient(s): {message_id}"


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
            "text": _body(context, args, "TEXTBODY"),
            "html": _body(context, args, "HTMLBODY"),
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
    text = _read_text(context, file_name, "CSVFILE file")
    header = text.splitlines()[0] if text.strip() else ""
    delimiter = max(",;\t", key=header.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = tuple(cell.strip() for cell in next(reader, []))
    if not any(columns):
        raise StepError(
            f"the CSV file {printable(str(_path(context, file_name)))} has no header line"
        )
    rows = [row + [""] * (len(columns) - len(row)) for row in reader if any(c.strip() for c in row)]
    return columns, rows, f"CSV file {printable(str(_path(context, file_name)))}"


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


# --------------------------------------------------------------------------------------------
# Templates


@activity(
    ELEMENT,
    "create_template",
    *CONNECTED,
    TEMPLATE,
    *TEMPLATE_BODY,
    extension=True,
    check=check_mail,
)
def create_template(context: Context, step: Step, args: Args) -> str:
    """Create template (amlses extension): an SES template with {{name}} placeholders."""
    from .. import mail

    return _store_template(context, args, mail.create_template, "created")


@activity(
    ELEMENT,
    "update_template",
    *CONNECTED,
    TEMPLATE,
    *TEMPLATE_BODY,
    extension=True,
    check=check_mail,
)
def update_template(context: Context, step: Step, args: Args) -> str:
    """Update template (amlses extension): replace a template's subject and bodies."""
    from .. import mail

    return _store_template(context, args, mail.update_template, "updated")


def _store_template(context: Context, args: Args, store: Any, done: str) -> str:
    """The shared body of create_template and update_template: same attributes, same call."""
    name = args.text("TEMPLATE")
    store(
        session_for(context, args),
        name,
        subject=args.text("SUBJECT"),
        text=_body(context, args, "TEXTBODY"),
        html=_body(context, args, "HTMLBODY"),
    )
    return f"template {name} {done}"


@activity(ELEMENT, "delete_template", *CONNECTED, TEMPLATE, extension=True)
def delete_template(context: Context, step: Step, args: Args) -> str:
    """Delete template (amlses extension): absent templates succeed, as in SES."""
    from .. import mail

    name = args.text("TEMPLATE")
    existed = mail.delete_template(session_for(context, args), name)
    return f"template {name} deleted" if existed else f"template {name} did not exist"


@activity(
    ELEMENT,
    "list_templates",
    *CONNECTED,
    Attr("RESULTDATASET", NAME, required=True, aliases=("RESULTDATSET",), output=DATASET),
    extension=True,
    check=check_mail,
)
def list_templates(context: Context, step: Step, args: Args) -> str:
    """List templates (amlses extension): every template's name and creation time."""
    from .. import mail

    templates = mail.list_templates(session_for(context, args))
    dataset = Dataset(args.text("RESULTDATASET"), mail.TemplateInfo._fields, templates)
    context.store_dataset(step, dataset)
    return f"{len(dataset)} templates -> {dataset.name}"


@activity(
    ELEMENT,
    "get_template",
    *CONNECTED,
    TEMPLATE,
    Attr("RESULTDATASET", NAME, required=True, aliases=("RESULTDATSET",), output=DATASET),
    extension=True,
    check=check_mail,
)
def get_template(context: Context, step: Step, args: Args) -> str:
    """Get template (amlses extension): one row of Name, Subject, TextPart, HtmlPart."""
    from .. import mail

    found = mail.get_template(session_for(context, args), args.text("TEMPLATE"))
    columns = ("Name", "Subject", "TextPart", "HtmlPart")
    row = (found.name, found.subject, found.text, found.html)
    context.store_dataset(step, Dataset(args.text("RESULTDATASET"), columns, [row]))
    return f"template {found.name} -> {args['RESULTDATASET']}"


@activity(
    ELEMENT,
    "test_render_template",
    *CONNECTED,
    TEMPLATE,
    TEMPLATE_DATA,
    Attr("RESULTVARIABLE", NAME, output=VARIABLE, doc="receives the rendered MIME message"),
    extension=True,
    check=check_mail,
)
def test_render_template(context: Context, step: Step, args: Args) -> str:
    """Test render template (amlses extension): the message SES would send, as MIME text."""
    from email.parser import Parser

    from .. import mail

    rendered = mail.test_render_template(
        session_for(context, args), args.text("TEMPLATE"), args.text("TEMPLATEDATA")
    )
    if args.text("RESULTVARIABLE"):
        context.set_variable(args.text("RESULTVARIABLE"), rendered, create=True)
    subject = Parser().parsestr(rendered, headersonly=True).get("Subject", "")
    return f'rendered: subject "{subject}"'
