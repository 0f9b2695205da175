"""Automate's Email action, its SMTP part: ``<AMSENDEMAIL>`` and ``<AMEMAIL>``'s sessions.

A task that mails through SES's SMTP interface (``email-smtp.<region>.amazonaws.com``) with
Automate's own Email action runs here unmodified, apart from the password: Automate keeps it
encrypted with a key only Automate has, so amlses needs it plain, as an ``amlses:v1:`` token,
or derivable from the IAM secret key of the SMTP user (:mod:`.email_send`).

What the markup is, from the stored vendor pages (the README's Email section has the table):

* AWE 10 "Email - Send message" declares ``<AMSENDEMAIL FROM TO SUBJECT BODYFILE HTML
  PROTOCOLTYPE AUTODISCOVERURL ALLOWREDIRECTION IGNOREINVALIDCERTIFICATE DOMAINNAME USERNAME
  PASSWORD>`` (https://hstechdocs.helpsystems.com/manuals/globalscape/awe10/actions/email/
  email_-_send_message.htm) and says it sends "with or without attachments" over SMTP with
  explicit or implicit TLS, plain or HTML, the body from a file or not;
* "Email - Create Session" declares ``<AMEMAIL ACTIVITY="create_session" SESSION PROTOCOLTYPE
  SERVER PORT DISABLECHUNKING TIMEOUT SECURITY CERTIFICATE CERTIFICATEPASSPHRASE
  IGNOREINVALIDCERTIFICATE PROXYTYPE PROXYSERVER PROXYPORT>``, SESSION defaulting to
  EmailSession1, PROTOCOLTYPE to SMTP (or POP3, IMAP, WEBDAV, EWS), PORT to 25 (…/awe10/
  actions/email/email_-_create_session.htm, and BPA 10's page of the same name);
* "Email - End Session" declares ``<AMEMAIL ACTIVITY="end_session" SESSION>`` (…/awe10/actions/
  email/email_-_end_session.htm);
* Automate Desktop's Email default properties name the security choices "No Security",
  "Explicit TLS/SSL" and "Implicit TLS/SSL", port 25 or 465 for implicit (…/automate_desktop/
  current/Content/TaskAdmin/Options/Default_Properties/Default_Properties_-_Email.htm).

The pages that were found end after their first table, so some attributes a real task needs
are **inferred**: SERVER, PORT, SECURITY and TIMEOUT on a host-based ``<AMSENDEMAIL>`` (the
session's names), SESSION on it (the way the SES action's steps name a session), USERNAME and
PASSWORD on ``create_session`` (``<AMSENDEMAIL>``'s names), CC, BCC, ATTACHMENTS, BODY (and the
step's text as the body, as older elements carry their value), PRIORITY, and the SECURITY
values ``none``, ``explicit`` and ``implicit`` (the option labels).  Reading mail (POP3, IMAP)
and Exchange (WEBDAV, EWS) are refused by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import StepError
from ..files import PathMap, UnmappedPathError, printable, resolve_task_path
from ..lang.nodes import Attribute, Step
from .registry import activity, element, foreign
from .spec import BOOL, CHOICE, NAME, NUMBER, VARIABLE, Args, Attr, StaticCheck

if TYPE_CHECKING:
    from ..runtime.context import Context

SEND_ELEMENT = "AMSENDEMAIL"
SESSION_ELEMENT = "AMEMAIL"
#: what create_session calls its session when SESSION is not given
DEFAULT_SESSION = "EmailSession1"

PROTOCOL = Attr(
    "PROTOCOLTYPE",
    default="SMTP",
    doc="SMTP; POP3, IMAP (reading mail), WEBDAV and EWS (Exchange) are refused",
)
SERVER_ATTRS: tuple[Attr, ...] = (
    Attr("SERVER", doc="the SMTP server, e.g. email-smtp.eu-west-1.amazonaws.com"),
    Attr("PORT", NUMBER, minimum=1, maximum=65535, doc='25; 465 with SECURITY="implicit"'),
    Attr(
        "SECURITY",
        CHOICE,
        choices=("none", "explicit", "implicit"),
        doc="explicit: STARTTLS; implicit: TLS from the start; none: no TLS, never with a "
        "password; absent: implicit on ports 465 and 2465, else explicit",
    ),
    Attr("TIMEOUT", NUMBER, minimum=1, doc="seconds to wait for the server (default 60)"),
    Attr("IGNOREINVALIDCERTIFICATE", BOOL, doc="YES: do not check the TLS certificate (warned)"),
    Attr("DISABLECHUNKING", BOOL, doc="accepted; amlses never sends in chunks (BDAT)"),
    Attr("CERTIFICATE", doc="a client certificate: not supported, refused when given"),
    Attr("CERTIFICATEPASSPHRASE", doc="the client certificate's passphrase: not supported"),
    Attr("PROXYTYPE", doc="a proxy for the mail connection: not supported, refused unless none"),
    Attr("PROXYSERVER", doc="the proxy's host: not supported, refused when given"),
    Attr("PROXYPORT", NUMBER, minimum=1, maximum=65535, doc="the proxy's port: not supported"),
)
LOGIN_ATTRS: tuple[Attr, ...] = (
    Attr("USERNAME", doc="the SMTP user; for SES, the IAM access key id of the SMTP credentials"),
    Attr(
        "PASSWORD",
        doc="the SMTP password: plain, an amlses:v1: token (amlses encrypt), or "
        "Automate-encrypted with the IAM secret key findable by USERNAME",
    ),
)
#: Exchange (EWS) settings of the send: accepted, and of no effect over SMTP
EXCHANGE_ATTRS: tuple[Attr, ...] = (
    Attr("AUTODISCOVERURL", BOOL, doc="Exchange only: no effect over SMTP"),
    Attr("ALLOWREDIRECTION", BOOL, doc="Exchange only: no effect over SMTP"),
    Attr("DOMAINNAME", doc="Exchange only: no effect over SMTP"),
)
MESSAGE_ATTRS: tuple[Attr, ...] = (
    Attr("FROM", required=True, doc="the sender, e.g. Ann Lee <ann@example.com>"),
    Attr("TO", doc="recipients, separated by commas or semicolons"),
    Attr("CC", doc="copy recipients, separated by commas or semicolons"),
    Attr("BCC", doc="blind-copy recipients: in the envelope only, in no header"),
    Attr("SUBJECT", doc="the subject line"),
    Attr("BODY", doc="the message text (or write it between <AMSENDEMAIL> and </AMSENDEMAIL>)"),
    Attr("BODYFILE", doc="a file holding the message text (instead of BODY)"),
    Attr("HTML", BOOL, doc="YES: the body is HTML"),
    Attr("ATTACHMENTS", doc="files to attach, separated by | (or ;)"),
    Attr("PRIORITY", CHOICE, choices=("high", "normal", "low"), doc="the message's importance"),
)
#: what a step's SESSION leaves to its session: giving any of them beside SESSION is an error
_SERVER_SETTINGS = ("SERVER", "PORT", "SECURITY", "TIMEOUT", "USERNAME", "PASSWORD")
_PROTOCOLS = {
    "smtp": "",
    "pop3": "POP3 reads a mailbox",
    "imap": "IMAP reads a mailbox",
    "webdav": "WebDAV is Exchange 2003 and 2007's protocol",
    "ews": "EWS is Exchange's web service",
}
_NO_CONNECTION = (
    "give SERVER (the step names its own server and login) or SESSION (one opened by "
    '<AMEMAIL ACTIVITY="create_session">): amlses has no System mail server such as '
    "Automate's default properties"
)


# -- problems found from the values alone (check reads them as written, a run as evaluated) --


def protocol_problem(value: str) -> str | None:
    """Why PROTOCOLTYPE's value cannot run here, or None for SMTP (the default)."""
    key = value.strip().lower()
    what = _PROTOCOLS.get(key or "smtp")
    if what == "":
        return None
    shown = printable(value)
    if what is None:
        names = ", ".join(f'"{name.upper()}"' for name in _PROTOCOLS)
        return f'PROTOCOLTYPE="{shown}" is not one of {names}'
    return (
        f'PROTOCOLTYPE="{shown}" is not supported: {what}, and amlses runs only the SMTP part '
        "of Automate's Email action (sending through a server such as "
        "email-smtp.<region>.amazonaws.com)"
    )


def settings_problem(value: dict[str, str]) -> str | None:
    """Why the connection settings ``value`` (attribute -> text) cannot run here, or None."""
    if value.get("CERTIFICATE", "").strip():
        return (
            "CERTIFICATE (a client certificate) is not supported by amlses: the server is "
            "logged in to with USERNAME and PASSWORD"
        )
    proxy = value.get("PROXYTYPE", "").strip().lower()
    if value.get("PROXYSERVER", "").strip() or proxy not in ("", "none"):
        return "PROXYTYPE/PROXYSERVER: amlses cannot reach a mail server through a proxy"
    return None


def _refuse(args: Args) -> None:
    """The run-time side of :func:`protocol_problem` and :func:`settings_problem`."""
    found = protocol_problem(args.text("PROTOCOLTYPE")) or settings_problem(
        {name: args.text(name) for name in ("CERTIFICATE", "PROXYTYPE", "PROXYSERVER")}
    )
    if found is not None:
        raise StepError(found)


# -- the static check -------------------------------------------------------------------------


def _literal(step: Step, name: str) -> str | None:
    """The value of ``name`` as written, or None when absent or known only at run time."""
    attribute = step.get(name)
    if attribute is None or "%" in attribute.value:
        return None
    return attribute.value


def _check_connection(checker: StaticCheck, step: Step) -> None:
    """Protocol, unsupported settings, and a password over no TLS, from literal values."""
    at = step.get("PROTOCOLTYPE")
    written = _literal(step, "PROTOCOLTYPE")
    reason = protocol_problem(written) if written is not None else None
    if reason is not None and at is not None:
        checker.problem(reason, at.where, step)
    literal = {
        name: value
        for name in ("CERTIFICATE", "PROXYTYPE", "PROXYSERVER")
        if (value := _literal(step, name)) is not None
    }
    reason = settings_problem(literal)
    if reason is not None:
        checker.problem(reason, step.position, step)
    security = (_literal(step, "SECURITY") or "").strip().lower()
    if security == "none" and (step.get("USERNAME") or step.get("PASSWORD")):
        checker.problem(
            'SECURITY="none" would send USERNAME and PASSWORD unencrypted, and amlses never '
            'does that: write SECURITY="explicit" (STARTTLS) or SECURITY="implicit" (TLS)',
            (step.get("SECURITY") or step).position,
            step,
        )


def _session_key(step: Step) -> str:
    # Email sessions live apart from the SES action's in the checker's one set of names
    return "amemail:" + step.value("SESSION", DEFAULT_SESSION).lower()


def check_email(checker: StaticCheck, step: Step) -> None:
    """What ``amlses check`` finds in an ``<AMEMAIL>`` step: what cannot run, and a session
    ended before any create_session opens it."""
    if step.activity == "create_session":
        _check_connection(checker, step)
        checker.sessions.add(_session_key(step))
    elif step.activity == "end_session":
        _check_session_known(checker, step)


def _check_session_known(checker: StaticCheck, step: Step) -> None:
    session = step.value("SESSION", DEFAULT_SESSION)
    if "%" not in session and _session_key(step) not in checker.sessions:
        checker.problem(
            f'the Email session "{session}" is used before any create_session opens it',
            (step.get("SESSION") or step).position,
            step,
        )


def check_send(checker: StaticCheck, step: Step) -> None:
    """What ``amlses check`` finds in an ``<AMSENDEMAIL>`` step: no server or two, an unknown
    session, what cannot run, Exchange settings that do nothing, a body given twice, and
    (``amlses check`` only) a body or attachment file that is not there."""
    _check_connection(checker, step)
    if step.get("SESSION") is not None:
        _check_session_known(checker, step)
        extra = [name for name in _SERVER_SETTINGS if step.get(name) is not None]
        if extra:
            checker.problem(_with_session(extra), step.position, step)
    elif step.get("SERVER") is None:
        checker.problem(_NO_CONNECTION, step.position, step)
    for attr in EXCHANGE_ATTRS:
        found = step.get(attr.name)
        # a saved task may write them with their off values: only a setting that asks for
        # something is worth a warning
        if found is not None and found.value.strip().lower() not in ("", "no", "false", "0"):
            checker.problem(
                f"{attr.name} is an Exchange (EWS) setting and has no effect over SMTP",
                found.where,
                step,
                severity="warning",
            )
    bodies = [name for name in ("BODY", "BODYFILE") if step.get(name) is not None]
    if step.text is not None and step.text.strip():
        bodies.append("the step's text")
    if len(bodies) > 1:
        checker.problem(
            f"give the message body once, not as {' and '.join(bodies)}", step.position, step
        )
    if checker.thorough:
        _check_files(checker, step)


def _with_session(names: list[str]) -> str:
    return (
        f"{', '.join(names)} belong(s) on the session's create_session: a step with SESSION "
        "sends through that session's server and login"
    )


def _check_files(checker: StaticCheck, step: Step) -> None:
    """Report a literal BODYFILE or attachment that is not there (as the run would find it:
    relative to the task file's folder, Windows paths through ``--map-path``)."""
    import re

    for name in ("BODYFILE", "ATTACHMENTS"):
        attribute = step.get(name)
        if attribute is None:
            continue
        items = re.split(r"[|;]", attribute.value) if name == "ATTACHMENTS" else [attribute.value]
        for item in (i.strip() for i in items):
            if item and "%" not in item:
                _check_file(checker, step, attribute, item)


def _check_file(checker: StaticCheck, step: Step, attribute: Attribute, written: str) -> None:
    import os

    try:
        path = resolve_task_path(written, step.position.file, checker.path_map or PathMap())
    except UnmappedPathError:
        return  # a Windows path no mapping covers may well exist where the task runs
    if os.path.isfile(path):
        return
    why = "is not a file" if os.path.exists(path) else "does not exist"
    checker.problem(f"{attribute.name}: the file {printable(path)} {why}", attribute.where, step)


element(SESSION_ELEMENT, check=check_email)
element(SEND_ELEMENT, check=check_send)
# The Exchange action (AutoMate 8: https://hstechdocs.helpsystems.com/manuals/globalscape/am8/
# actions/exchange_action_-_main.htm; its AML examples start "<AMEXCHANG…", cut off there, so
# the full name is inferred).
foreign("AMEXCHANGE", lambda name: "Exchange action")


# -- the handlers ----------------------------------------------------------------------------


@activity(
    SESSION_ELEMENT,
    "create_session",
    Attr("SESSION", NAME, default=DEFAULT_SESSION, doc="the name of the session to create"),
    PROTOCOL,
    *(replace(a, required=True) if a.name == "SERVER" else a for a in SERVER_ATTRS),
    *LOGIN_ATTRS,
)
def create_session(context: Context, step: Step, args: Args) -> str:
    """Email - Create session: a named SMTP server and login; it connects at its first send."""
    from .email_send import server_of, sessions_of

    _refuse(args)
    name = args.text("SESSION")
    server = server_of(context, args)
    sessions_of(context).open(name, server, step.position)
    return f"Email session {name} opened for {server}"


@activity(
    SESSION_ELEMENT,
    "end_session",
    Attr("SESSION", NAME, default=DEFAULT_SESSION, doc="the name of the session to end"),
)
def end_session(context: Context, step: Step, args: Args) -> str:
    """Email - End session: close a session opened by create_session, and its connection."""
    from .email_send import sessions_of

    name = args.text("SESSION")
    sessions_of(context).end(name, step.position)
    return f"Email session {name} ended"


@activity(
    SEND_ELEMENT,
    "",
    *MESSAGE_ATTRS,
    Attr("SESSION", NAME, doc="send through this session (create_session) instead of SERVER"),
    PROTOCOL,
    *SERVER_ATTRS,
    *LOGIN_ATTRS,
    *EXCHANGE_ATTRS,
    Attr(
        "RESULTVARIABLE",
        NAME,
        output=VARIABLE,
        extension=True,
        doc="receives the MessageId the server names (SES's)",
    ),
    sends=True,
)
def send_message(context: Context, step: Step, args: Args) -> str:
    """Email - Send message: one message over SMTP, through SERVER or a SESSION."""
    from .email_send import compose, server_of, sessions_of

    _refuse(args)
    sessions = sessions_of(context)
    if "SESSION" in args.given:
        extra = [name for name in _SERVER_SETTINGS if name in args.given]
        if extra:
            raise StepError(_with_session(extra))
        channel = sessions.get(args.text("SESSION")).connect()
    elif "SERVER" in args.given:
        channel = sessions.host_based(server_of(context, args))
    else:
        raise StepError(_NO_CONNECTION)
    message = compose(context, step, args)
    message_id = channel.send(message)
    if args.text("RESULTVARIABLE"):
        context.set_variable(args.text("RESULTVARIABLE"), message_id, create=True)
    files = f" with {message.attachments} attachment(s)" if message.attachments else ""
    sent = f"sent to {len(message.recipients)} recipient(s){files} via {channel.server}"
    return f"{sent}: {message_id}" if message_id else sent
