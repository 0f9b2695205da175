"""``<AMAWSSES>`` sending activities — **amlses extensions**: Automate's SES action cannot send.

Each handler maps attributes onto :mod:`amlses.mail` and stores what it returns (a MessageId
in ``RESULTVARIABLE``, rows in ``RESULTDATASET``).  Connection attributes, sessions, retries,
proxies and secrets are exactly those of the documented activities (``CONNECTED`` and
:func:`~amlses.actions.ses.session_for`).  ``send_email`` and ``send_raw_email`` also go over
SES's SMTP interface when the session's ``SERVICEURL`` names it; the template activities need
the API and are refused there.  Attribute names follow Automate's style: upper
case, ``RESULT…`` for outputs.

File attributes (``ATTACHMENTS``, ``TEXTBODYFILE``, ``MESSAGEFILE``, ``CSVFILE`` …) take
absolute paths, or paths relative to the folder of the task file the step stands in (a
subtask's own folder), so a task and its files can move together
(:meth:`~amlses.runtime.context.Context.resolve_path`).  :mod:`amlses.mail` (and through it
``email`` and ``concurrent.futures``) is imported inside the handlers, so ``amlses check`` and
``--help`` never pay for it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StepError
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
from .registry import activity
from .ses import CONNECTED, ELEMENT, session_for
from .spec import DATASET, NAME, VARIABLE, Args, Attr, StaticCheck

if TYPE_CHECKING:
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


def step_path(context: Context, text: str) -> Path:
    """``text`` as a path, relative to the folder of the task file the step stands in."""
    return Path(context.resolve_path(text))


def _read_bytes(context: Context, text: str, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a file a step names: bounded, regular files only (a FIFO or ``/dev/zero``
    fails at once), its name shown with control characters escaped."""
    path = step_path(context, text)
    shown = printable(str(path))
    try:
        return read_bounded(path, limit)
    except FileNotFoundError:
        raise StepError(f"the {what} {shown} does not exist") from None
    except OSError as exc:
        raise StepError(f"the {what} {shown} cannot be read: {exc.strerror or exc}") from None


def read_text(context: Context, text: str, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """A text file as Windows tools save it (UTF-8, UTF-16 with BOM, else Windows-1252, with a
    note once per file), or a StepError for a file that is not text; never quoted.  At most
    ``limit`` bytes are read."""
    data = _read_bytes(context, text, what, limit)
    shown = printable(str(step_path(context, text)))
    try:
        decoded = decode_text(data)
    except NotTextError as exc:
        raise StepError(f"the {what} {shown} cannot be used: {exc.reason}") from None
    key = f"encoding:{shown}"
    if decoded.note is not None and key not in context.warned:
        context.warned.add(key)
        context.reporter.message(f"the {what} {shown} is {decoded.note}", "note")
    return str(decoded)


def body_text(context: Context, args: Args, name: str) -> str | None:
    """``TEXTBODY``/``HTMLBODY`` or the file named by ``…FILE``; None when neither is given."""
    file_name = f"{name}FILE"
    if name in args.given and file_name in args.given:
        raise StepError(f"give {name} or {file_name}, not both")
    if file_name in args.given:
        return read_text(context, args.text(file_name), f"{file_name} file")
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

    attachments = [step_path(context, str(p)) for p in mail.split_paths(args.text("ATTACHMENTS"))]
    message_id = mail.send_email(
        session_for(context, args, smtp=True),
        subject=args.text("SUBJECT"),
        text=body_text(context, args, "TEXTBODY"),
        html=body_text(context, args, "HTMLBODY"),
        charset=args.text("CHARSET") or mail.DEFAULT_CHARSET,
        attachments=attachments,
        sleep=context.options.sleep,
        cancel=context.cancel,
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
        session_for(context, args, smtp=True),
        message,
        sender=args.text("FROM") or None,
        destinations=destinations,
        configuration_set=args.text("CONFIGURATIONSET") or None,
        tags=args.text("TAGS") or None,
        sleep=context.options.sleep,
        cancel=context.cancel,
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
        cancel=context.cancel,
        **_envelope(args),
    )
    _store_id(context, args, message_id)
    recipients = _count(args, "TO", "CC", "BCC")
    return f"template {args.text('TEMPLATE')} sent to {recipients} recipient(s): {message_id}"


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
        text=body_text(context, args, "TEXTBODY"),
        html=body_text(context, args, "HTMLBODY"),
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
