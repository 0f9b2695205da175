"""What Automate's Email steps need besides their declarations: the mail server a step names,
its login, the run's SMTP sessions, the MIME message, and the send with its at-most-once rule.

Kept apart from :mod:`.email` (the declarations and handlers) so that each stays small, and so
that ``amlses check`` never pays for :mod:`smtplib` or :mod:`email`: both are imported inside
the functions that send.

Why the pieces are as they are:

* **Sessions.**  ``<AMEMAIL ACTIVITY="create_session">`` makes no connection; the session's
  :class:`~amlses.smtp.transport.SmtpSender` connects at its first message and keeps the
  connection for the next ones (``RSET`` between them, never a new TLS handshake or login)
  until ``end_session`` or the end of the run.  Host-based ``<AMSENDEMAIL SERVER=…>`` steps
  share one sender per distinct server and login, so a loop of them costs what a session
  costs, as host-based SES steps do.
* **The run's state** lives on the run's :class:`~amlses.runtime.context.Context` (there are
  no module globals); the context has no slot of its own for Email sessions yet, so they sit
  in its per-run cache under a key nothing else uses, and are closed when the run's context
  goes (see :func:`sessions_of`).
* **Credentials never cross an unencrypted connection**, and a message whose outcome is not
  known is :class:`~amlses.errors.UnknownOutcome`, which ``AM_RETRY`` never repeats.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import SessionError, StepError, UnknownOutcome
from ..secrets import is_automate_ciphertext
from ..source import Position

if TYPE_CHECKING:
    from ..lang.nodes import Step
    from ..runtime.context import Context
    from ..smtp.target import LocalSmtpTarget
    from ..smtp.transport import Security, SmtpError, SmtpLogin, SmtpSender
    from .spec import Args

#: create_session's default session name (AWE 10 "Email - Create Session": 'EmailSession1')
DEFAULT_SESSION: Final = "EmailSession1"
#: Automate's SECURITY option values -> the transport's TLS modes
SECURITY_MODES: Final[dict[str, Security]] = {
    "none": "none",
    "explicit": "starttls",
    "implicit": "implicit",
}
#: the ports that speak TLS from the first byte (SES: 465 and 2465; the transport's
#: IMPLICIT_PORTS, not imported from there: that would import smtplib for ``amlses check``)
IMPLICIT_PORTS: Final = frozenset({465, 2465})
#: Automate's default ports: 25, or 465 with implicit TLS (Automate Desktop's Email default
#: properties page; AWE 10's create_session gives 25)
DEFAULT_PORT: Final = 25
DEFAULT_IMPLICIT_PORT: Final = 465
#: how long to wait for the server when TIMEOUT is not given, in seconds
DEFAULT_TIMEOUT: Final = 60
#: the largest BODYFILE a step reads (SES takes at most 10 MB per message)
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
#: X-Priority and Importance headers for PRIORITY (RFC 2156 Importance; X-Priority as mail
#: programs write it); "normal" adds none
PRIORITY_HEADERS: Final = {
    "high": ("1 (Highest)", "High"),
    "low": ("5 (Lowest)", "Low"),
}
# where a run keeps its Email sessions in Context.connections: a key no SES connection has
_SESSIONS_KEY: Final = ("amlses.actions.email", "sessions")


@dataclass(frozen=True)
class MailServer:
    """The server a ``create_session`` or a host-based ``<AMSENDEMAIL>`` names, and its login.

    Frozen and hashable: host-based steps with the same settings share one connection.  The
    password is kept out of ``repr``; it is the SMTP password itself (for SES, the one derived
    from the IAM secret key, never the secret key).
    """

    host: str
    port: int
    security: Security
    verify: bool = True
    timeout: float = DEFAULT_TIMEOUT
    user: str = ""
    password: str = field(default="", repr=False)
    #: a CA to trust for this server alone (the local SES SMTP endpoint's, with --local)
    ca_file: str = ""

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def sender(self) -> SmtpSender:
        """A new sender for this server (it connects at its first message)."""
        from ..smtp.password import region_of_smtp_host
        from ..smtp.transport import SmtpEndpoint, SmtpSender

        endpoint = SmtpEndpoint(
            self.host,
            self.port,
            self.security,
            region=region_of_smtp_host(self.host),
            verify=self.verify,
            ca_file=self.ca_file or None,
            timeout=float(self.timeout),
        )
        return SmtpSender(endpoint, self.login())

    def login(self) -> SmtpLogin | None:
        from ..smtp.transport import SmtpLogin

        return SmtpLogin(self.user, self.password) if self.user else None


def server_of(context: Context, args: Args) -> MailServer:
    """The server and login a step's SERVER, PORT, SECURITY, TIMEOUT, IGNOREINVALIDCERTIFICATE,
    USERNAME and PASSWORD describe; refused in one sentence naming the attributes when the
    password would cross an unencrypted connection.

    SECURITY absent means TLS: implicit on ports 465 and 2465, STARTTLS (required) on any
    other.  Automate's own default is not documented, and SES refuses a login without TLS.
    """
    host = args.text("SERVER").strip()
    if not host:
        raise StepError(
            "SERVER is empty: give the mail server, e.g. email-smtp.eu-west-1.amazonaws.com"
        )
    local = context.options.local_smtp if context.options.force_endpoint_url else None
    if context.options.force_endpoint_url and local is None:
        raise SessionError(
            f"amlses run --local has no local SMTP endpoint here, and this step would mail "
            f"through the real server {host}; run the task without --local to send over SMTP"
        )
    written = args.text("SECURITY")
    port = args.number("PORT")
    if written:
        security = SECURITY_MODES[written]
    else:
        security = "implicit" if port in IMPLICIT_PORTS else "starttls"
    if port is None:
        port = DEFAULT_IMPLICIT_PORT if security == "implicit" else DEFAULT_PORT
    user, password = args.text("USERNAME").strip(), args.text("PASSWORD")
    if password and not user:
        raise SessionError("PASSWORD is given without USERNAME: give the SMTP user name too")
    if user and not password:
        raise SessionError(
            f"USERNAME {user} is given without PASSWORD: give the SMTP password (for SES, the "
            "one `amlses smtp-password` derives from the IAM secret key)"
        )
    if user and security == "none":
        raise SessionError(
            f'SECURITY="none" would send USERNAME and PASSWORD to {host}:{port} unencrypted, '
            'and amlses never does that: write SECURITY="explicit" (STARTTLS, e.g. port 587) or '
            'SECURITY="implicit" (TLS, e.g. port 465)'
        )
    timeout = args.number("TIMEOUT", DEFAULT_TIMEOUT)
    if local is not None:
        return _local_server(context, local(), host, security, timeout, bool(user))
    if password and is_automate_ciphertext(password):
        password = _derived_password(context, user, password, host)
    verify = not args.flag("IGNOREINVALIDCERTIFICATE")
    if not verify:
        context.warn_once(
            f"email-certificate:{host}",
            f'IGNOREINVALIDCERTIFICATE="YES": the TLS certificate of {host} is not checked, so '
            "anyone in between could read the password and the mail",
        )
    return MailServer(host, port, security, verify, timeout, user, password)


def _local_server(
    context: Context,
    target: LocalSmtpTarget,
    host: str,
    security: Security,
    timeout: float,
    login: bool,
) -> MailServer:
    """``--local``: the local SES SMTP endpoint instead of ``host`` — the listener of the
    step's TLS mode, its CA trusted for this server only, and (when the step logs in) the
    emulator's dummy key with the password derived for the region ``host`` names, else
    us-east-1.  The task's USERNAME and PASSWORD are not sent: they may be real."""
    from ..aws.connection import DEFAULT_REGION
    from ..smtp.password import region_of_smtp_host, smtp_password

    user = password = ""
    if login:
        user = target.access_key
        password = smtp_password(target.secret_key, region_of_smtp_host(host) or DEFAULT_REGION)
        context.redactor.add(password)
    port = target.port_for(security)
    return MailServer(target.host, port, security, True, timeout, user, password, target.ca_file)


def _derived_password(context: Context, user: str, ciphertext: str, host: str) -> str:
    """What an Automate-encrypted PASSWORD stands for, found the way an encrypted SECRETKEY is:
    by access key id.  SES's SMTP user name *is* the IAM access key id, so a secret key stored
    for it where AWS tools look (environment, ``~/.aws/credentials``, ``~/.aws/config``) gives
    the SMTP password of the server's region.  Anything else is refused, with the ways out."""
    from ..smtp.password import region_of_smtp_host, smtp_password

    region = region_of_smtp_host(host)
    why = (
        "PASSWORD is Automate-encrypted and cannot be decrypted outside Automate. Ways out: "
        "(1) put the plain SMTP password in the task (for SES, `amlses smtp-password` derives "
        "it from the IAM secret key); (2) encrypt it with `amlses encrypt` and paste the "
        "amlses:v1:… token as PASSWORD"
    )
    if region is None:
        raise SessionError(f"{why}.")
    try:
        secret = context.resolved_secret(user, ciphertext)
    except StepError:
        raise SessionError(
            f"{why}; (3) keep the IAM secret key of access key {user} where AWS tools find it (a "
            f"profile with aws_access_key_id = {user} in ~/.aws/credentials, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), and amlses derives the SMTP "
            f"password for {region} from it."
        ) from None
    password = smtp_password(secret, region)
    context.redactor.add(secret)
    context.redactor.add(password)
    return password


# -- the run's sessions ----------------------------------------------------------------------


class Channel:
    """One server's sender, kept to one message at a time.

    A send that ``AM_TIMEOUT`` abandoned goes on in its thread (its outcome is Unknown), and
    an :class:`~amlses.smtp.transport.SmtpSender` must not serve two messages at once, so the
    next message through the same channel waits for it.  The sender connects at its first
    message and keeps the connection for the next ones.
    """

    def __init__(self, server: MailServer) -> None:
        self.server = server
        self._sender = server.sender()
        self._lock = threading.Lock()

    def send(self, message: Composed) -> str:
        """Send ``message`` once (see :func:`deliver`); its MessageId."""
        with self._lock:
            return deliver(self._sender, message, self.server)

    def close(self) -> None:
        """Close the connection (quietly: a close must never fail a step or a finished run)."""
        try:
            self._sender.close()
        except Exception:  # noqa: BLE001
            pass


@dataclass
class EmailSession:
    """A session opened by ``create_session``: its server, where it was opened and ended, and
    its channel once the first message needed one."""

    name: str
    server: MailServer
    opened_at: Position | None
    ended_at: Position | None = None
    channel: Channel | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    def connect(self) -> Channel:
        """The session's channel (made at the first message: create_session connects to
        nothing, so a session that sends nothing never reaches the server)."""
        if self.channel is None:
            self.channel = Channel(self.server)
        return self.channel

    def close(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            channel.close()


class EmailSessions:
    """The Email sessions of one run, and the channels of its host-based steps.

    Names are case-insensitive, like every AML name, and live apart from the SES action's
    sessions: ``SESSION="S1"`` on ``<AMEMAIL>`` and on ``<AMAWSSES>`` are two sessions.
    """

    def __init__(self) -> None:
        self._named: dict[str, EmailSession] = {}
        self._host_based: dict[MailServer, Channel] = {}

    def open(self, name: str, server: MailServer, position: Position | None) -> None:
        """Open session ``name`` (no connection yet); reopening an open one is an error."""
        current = self._named.get(name.lower())
        if current is not None and current.is_open:
            where = f" at {current.opened_at}" if current.opened_at else ""
            raise SessionError(
                f'the Email session "{name}" is already open (created{where}); end it with '
                f'<AMEMAIL ACTIVITY="end_session" SESSION="{name}" /> or choose another name'
            )
        self._named[name.lower()] = EmailSession(name, server, position)

    def get(self, name: str) -> EmailSession:
        """The open session ``name``; an unknown or ended one is an error."""
        current = self._named.get(name.lower())
        if current is None:
            raise SessionError(
                f'the Email session "{name}" does not exist: create it first with '
                f'<AMEMAIL ACTIVITY="create_session" SESSION="{name}" SERVER="…" />'
            )
        if not current.is_open:
            raise SessionError(f'the Email session "{name}" was ended at {current.ended_at}')
        return current

    def end(self, name: str, position: Position | None) -> None:
        """End session ``name`` (it must be open), closing its connection."""
        current = self.get(name)
        current.ended_at = position
        current.close()

    def host_based(self, server: MailServer) -> Channel:
        """The channel of host-based steps naming ``server`` (one per distinct settings)."""
        found = self._host_based.get(server)
        if found is None:
            found = self._host_based[server] = Channel(server)
        return found

    def close_all(self) -> None:
        """Close every connection still open: the run is over."""
        for current in self._named.values():
            current.close()
        channels, self._host_based = list(self._host_based.values()), {}
        for channel in channels:
            channel.close()


def sessions_of(context: Context) -> EmailSessions:
    """The run's Email sessions, made on first use.

    They are kept in the context's per-run cache (``Context.connections``) and closed when the
    run ends (:meth:`~amlses.runtime.context.Context.on_close`), so no SMTP connection
    outlives its run.
    """
    found = context.connections.get(_SESSIONS_KEY)
    if isinstance(found, EmailSessions):
        return found
    created = EmailSessions()
    context.connections[_SESSIONS_KEY] = created
    context.on_close(created.close_all)
    return created


# -- the message -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """A message ready for SMTP: its bytes, the envelope sender and every envelope recipient
    (Bcc included: they are in no header)."""

    raw: bytes
    sender: str
    recipients: tuple[str, ...]
    attachments: int


def compose(context: Context, step: Step, args: Args) -> Composed:
    """The MIME message a ``<AMSENDEMAIL>`` step describes, built by :mod:`amlses.mail.mime`.

    The body is BODY, the step's text (``<AMSENDEMAIL …>text</AMSENDEMAIL>``) or the file
    BODYFILE — one of them; ``HTML="YES"`` sends it as HTML.  Attachments are paths separated
    by ``|`` (or ``;``), relative to the task file's folder.
    """
    from ..mail.addresses import (
        address_of,
        check_recipients,
        parse_addresses,
        single_sender,
        split_paths,
    )
    from ..mail.mime import build_message, message_bytes

    sender = single_sender(args.text("FROM"))
    to, cc, bcc = (parse_addresses(args.text(name), name) for name in ("TO", "CC", "BCC"))
    check_recipients(to, cc, bcc)
    body = _body(context, step, args)
    html = args.flag("HTML")
    attachments = [
        Path(context.resolve_path(str(p))) for p in split_paths(args.text("ATTACHMENTS"))
    ]
    try:
        message = build_message(  # refuses a SUBJECT with a line break (MailError)
            sender=sender,
            to=to,
            cc=cc,
            subject=args.text("SUBJECT"),
            text=None if html else body,
            html=body if html else None,
            attachments=attachments,
        )
    except ValueError as exc:  # the email package refuses a header it cannot write safely
        raise StepError(f"the message cannot be built: {exc}") from None
    headers = PRIORITY_HEADERS.get(args.text("PRIORITY"))
    if headers is not None:
        message["X-Priority"], message["Importance"] = headers
    recipients = tuple(address_of(entry) for entry in (*to, *cc, *bcc))
    return Composed(message_bytes(message), address_of(sender), recipients, len(attachments))


def _body(context: Context, step: Step, args: Args) -> str:
    """The message text from BODY, the step's own text or BODYFILE (at most one of them)."""
    from ..expr import substitute
    from ..values import to_text

    given: list[str] = [name for name in ("BODY", "BODYFILE") if name in args.given]
    if step.text is not None and step.text.strip():
        given.append("the text between <AMSENDEMAIL> and </AMSENDEMAIL>")
    if len(given) > 1:
        raise StepError(f"give the message body once: {' and '.join(given)} are both given")
    if "BODYFILE" in args.given:
        return _read_body(context, args.text("BODYFILE"))
    if "BODY" in args.given:
        return args.text("BODY")
    if given:
        return to_text(substitute(step.text or "", context, step.position))
    return ""


def _read_body(context: Context, written: str) -> str:
    """A body file as Windows tools save it (UTF-8, UTF-16 with BOM, else Windows-1252)."""
    from .mail import read_text  # the SES sends' reader: bounded, regular files, one note

    return read_text(context, written, "BODYFILE", MAX_BODY_BYTES)


# -- the send --------------------------------------------------------------------------------


def deliver(sender: SmtpSender, message: Composed, server: MailServer) -> str:
    """Send ``message`` once; its MessageId ('' when the server names none).

    An answer that was lost after the content went out is an :class:`UnknownOutcome`: the
    server may have accepted the message, so nothing — not ``AM_RETRY`` either — sends it
    again.  Every other failure is the transport's :class:`~amlses.smtp.transport.SmtpError`,
    whose code (``Throttling``, ``MessageRejected``, ``AuthenticationFailed`` …) ``AM_ERRORS``
    matches.
    """
    from ..smtp.transport import SmtpError

    try:
        return sender.send(message.raw, message.sender, message.recipients)
    except SmtpError as error:
        if error.unknown:
            raise unknown_outcome(error, server) from error
        raise


def unknown_outcome(error: SmtpError, server: MailServer) -> UnknownOutcome:
    """The :class:`UnknownOutcome` a send ends with after ``error`` (kept as its cause), in the
    words :func:`amlses.mail.send.unknown_outcome` uses for the API."""
    from ..smtp.password import region_of_smtp_host

    who = "SES" if region_of_smtp_host(server.host) else f"the mail server {server.host}"
    unknown = UnknownOutcome(
        f"{who} may or may not have accepted the message ({error.message}). It was not sent "
        "again, so it reaches each recipient at most once; check before sending it again on "
        "purpose."
    )
    unknown.__cause__ = error
    return unknown
