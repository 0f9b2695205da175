"""A local SES for ``--local`` runs, ``amlses emulator`` and tests: moto's server on loopback.

moto answers the SES query API like AWS does, keeps identities in memory and never sends mail,
so a task can be tried without an AWS account.  The server binds to a loopback address only
(127.0.0.1 by default, never 0.0.0.0: an emulator that accepts any credentials must not be
reachable from the network) on a port the operating system picks unless one is asked for, so
parallel runs never collide.

moto is an optional dependency (``amlses[local]``) and is imported only when an emulator starts.

moto keeps its state per *process*, not per server: every moto server in one process (and
moto's in-process mocks) sees the same identities.  Starting an emulator therefore resets that
state, so a run always begins with an empty account.

The messages moto accepted can be read back with :func:`read_outbox` (``--outbox``, ``amlses
emulator outbox``).  It asks moto's own HTTP API, ``/moto-api/data.json``, rather than
importing ``moto.ses.models``: that works for any moto server (this process's, a subprocess's,
a container's), and it is the only source that has the MessageIds a ``SendBulkTemplatedEmail``
call returned.  Addresses and domains listed in a fixture are verified at once by moto, so they
can send straight away.

moto has no SMTP interface, so an emulator also runs amlses's local SES SMTP endpoint
(:class:`~amlses.smtp.local.LocalSmtpServer`: real TLS, AUTH with the SES-derived password of
the emulator's dummy key) and serves what it received next to moto's API, on the extra path
:data:`SMTP_OUTBOX_PATH` of the same HTTP server: one outbox, whichever interface a message
came through, readable over HTTP like moto's own (a plain moto server answers 404 there).
The order in which the emulator accepted messages, whatever their operation or interface, is
served the same way (:data:`~amlses.sendorder.SEND_ORDER_PATH`), so that the outbox of an
amlses emulator is in send order (see :mod:`amlses.sendorder`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AmlError, UsageError
from .files import NotTextError, decode_text, printable, read_bounded
from .sendorder import SEND_ORDER_PATH

if TYPE_CHECKING:
    from collections.abc import Callable
    from email.message import EmailMessage
    from threading import Thread

    from werkzeug.serving import BaseWSGIServer

    from .redact import Redactor
    from .smtp.local import LocalSmtpServer


__all__ = [
    "ACCESS_KEY_ID",
    "REGION",
    "SECRET_ACCESS_KEY",
    "SEND_ORDER_PATH",
    "SMTP_OUTBOX_PATH",
    "LocalEmulator",
    "OutboxMessage",
    "is_loopback",
    "load_fixture",
    "read_outbox",
    "read_send_order",
    "write_outbox",
]

#: moto accepts any credentials; these make botocore sign without looking for real ones.
#: They are not secrets (moto's own documentation uses them), so they may be printed.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
#: the region the emulator's clients use (moto keeps one account per region)
REGION = "us-east-1"
_DUMMY_CREDENTIALS = {
    "aws_access_key_id": ACCESS_KEY_ID,
    "aws_secret_access_key": SECRET_ACCESS_KEY,
}
_REGION = REGION
#: where an emulator's HTTP server lists the messages its SMTP endpoint received (JSON)
SMTP_OUTBOX_PATH = "/amlses/smtp-outbox.json"
#: the keys a fixture may hold
_FIXTURE_KEYS = ("identities",)
#: the largest fixture file read (a list of identities; a bounded read, like every file)
MAX_FIXTURE_BYTES = 10_000_000


class LocalEmulator:
    """moto's SES on ``127.0.0.1:<random port>``; use as a context manager or start/stop.

    ``endpoint_url`` is what a connection's ``SERVICEURL`` (``endpoint_url``) should be.
    :meth:`seed` creates identities from a fixture so that a task has something to list.
    ``host`` may be another loopback address (``::1``, ``localhost``) and ``port`` a fixed one
    (``amlses emulator --port``); anything else than loopback is refused, since the emulator
    accepts any credentials.

    With ``smtp`` (the default) it also runs the local SES SMTP endpoint: :attr:`smtp_host`,
    :attr:`smtps_port` (TLS from the first byte; ``smtp_port`` fixes it), :attr:`starttls_port`,
    :attr:`ca_file` (the CA a client must trust), :attr:`smtp_user` and :attr:`smtp_password`
    (derived from the dummy secret for us-east-1; the password derived for any other region
    with SES SMTP is accepted too).  Its messages are in :meth:`outbox`, operation ``SMTP``.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, smtp: bool = True, smtp_port: int = 0
    ) -> None:
        if not is_loopback(host):
            raise UsageError(
                f"The SES emulator listens on loopback addresses only (127.0.0.1, ::1, "
                f"localhost), not {printable(host)}: it accepts any credentials, so it must "
                "not be reachable from the network."
            )
        if not 0 <= port <= 65535:
            raise UsageError(f"The port {port} is not between 0 (any free port) and 65535.")
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: Thread | None = None
        self._endpoint_url: str | None = None
        self._smtp_wanted = smtp
        self._smtp_port = smtp_port
        self._smtp: LocalSmtpServer | None = None

    def start(self) -> LocalEmulator:
        """Start the server (once) and return self.

        The socket is bound here, in the caller's thread, so that a port in use is a
        :class:`~amlses.errors.UsageError` at once: moto's ``ThreadedMotoServer`` binds in its
        thread and then waits forever for a server that never came up, and werkzeug's own
        bind prints to stderr and calls ``sys.exit(1)``.  werkzeug gets the bound socket.
        """
        if self._server is not None:
            return self
        from threading import Thread

        app = emulator_app(lambda: self._smtp)
        from werkzeug.serving import make_server  # flask's, so present once moto's app is

        quiet_werkzeug()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET  # as werkzeug picks
        try:
            listening = socket.create_server((self._host, self._port), family=family)
        except OSError as exc:
            where = f"{printable(self._host)} port {self._port}"
            if exc.errno in _ADDRESS_IN_USE:
                raise UsageError(
                    f"The SES emulator cannot listen on {where}: the port is in use. "
                    "Choose another with --port, or leave it out for a free one."
                ) from None
            raise UsageError(
                f"The SES emulator cannot listen on {where}: {exc.strerror or exc}"
            ) from None
        with listening:  # werkzeug works on a duplicate of the descriptor
            server = make_server(self._host, self._port, app, threaded=True, fd=listening.fileno())
        thread = Thread(target=server.serve_forever, name="amlses-ses-emulator", daemon=True)
        thread.start()
        bound, port = server.server_address[:2]
        self._server, self._thread = server, thread
        host = bound.decode() if isinstance(bound, bytes) else str(bound)
        shown = f"[{host}]" if ":" in host else host
        self._endpoint_url = f"http://{shown}:{port}"
        try:
            self.reset()
            if self._smtp_wanted:
                self._smtp = self._start_smtp()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_smtp(self) -> LocalSmtpServer:
        """The local SES SMTP endpoint, on this emulator's loopback address (127.0.0.1 for a
        loopback name other than localhost), with the dummy credentials."""
        from .smtp.local import LocalSmtpServer

        try:
            host = self._host if self._host == "localhost" else str(_ip(self._host))
        except ValueError:
            host = "127.0.0.1"
        server = LocalSmtpServer(
            access_key=ACCESS_KEY_ID,
            secret_key=SECRET_ACCESS_KEY,
            region=REGION,
            host=host,
            any_region=True,
            implicit_port=self._smtp_port,
        )
        return server.start()

    @property
    def smtp_server(self) -> LocalSmtpServer:
        """The running local SMTP endpoint (to script throttling, say); UsageError without."""
        if self._smtp is None:
            raise UsageError("The local SES emulator has no SMTP endpoint running.")
        return self._smtp

    @property
    def smtp_host(self) -> str:
        return self.smtp_server.host

    @property
    def smtps_port(self) -> int:
        """The port with TLS from the first byte (SES's 465)."""
        return self.smtp_server.implicit_port

    @property
    def starttls_port(self) -> int:
        """The port that requires STARTTLS (SES's 587)."""
        return self.smtp_server.starttls_port

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the SMTP certificate: trust it, for this server."""
        return self.smtp_server.ca_file

    @property
    def smtp_user(self) -> str:
        return self.smtp_server.access_key

    @property
    def smtp_password(self) -> str:
        """The SMTP password of the dummy key for us-east-1 (not a secret: a public dummy)."""
        return self.smtp_server.password

    def reset(self) -> None:
        """Forget every identity (all of moto's state in this process; see the module doc)."""
        import urllib.request  # ~20 ms of http/ssl imports that --help should not pay for

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        # No proxy: HTTP_PROXY in the environment must not capture a loopback request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            response.read()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; raises UsageError before :meth:`start`."""
        if self._endpoint_url is None:
            raise UsageError("The local SES emulator has not been started.")
        return self._endpoint_url

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._server is not None

    def seed(self, fixture: Mapping[str, Any] | str | PathLike[str]) -> list[str]:
        """Create the identities a fixture lists; returns them in fixture order.

        ``fixture`` is a mapping like ``{"identities": ["a@example.com", "example.com"]}`` or
        the path of a JSON file holding one.  Addresses (with ``@``) are created with
        ``VerifyEmailIdentity``, domains with ``VerifyDomainIdentity``, exactly as a task
        would, so the emulator's state is what SES would hold after those calls.
        """
        data = load_fixture(fixture)
        identities = data.get("identities", [])
        client = self.client()
        try:
            for identity in identities:
                if "@" in identity:
                    client.verify_email_identity(EmailAddress=identity)
                else:
                    client.verify_domain_identity(Domain=identity)
        finally:
            client.close()
        return list(identities)

    def client(self) -> Any:
        """A plain boto3 SES client for this emulator, with dummy credentials."""
        import boto3

        return boto3.client(
            "ses", endpoint_url=self.endpoint_url, region_name=_REGION, **_DUMMY_CREDENTIALS
        )

    def outbox(self) -> list[OutboxMessage]:
        """The messages the emulator accepted since it started (see :func:`read_outbox`)."""
        return read_outbox(self.endpoint_url)

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        smtp, self._smtp = self._smtp, None
        self._endpoint_url = None
        if smtp is not None:
            smtp.stop()
        if server is not None:
            server.shutdown()  # returns within werkzeug's poll interval (0.5 s)
            server.server_close()  # the listening socket, which moto's own server leaves open
        if thread is not None:
            thread.join()

    def __enter__(self) -> LocalEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def load_fixture(fixture: Mapping[str, Any] | str | PathLike[str]) -> dict[str, list[str]]:
    """Read and check a seed fixture: ``{"identities": [str, ...]}``.

    Raises :class:`~amlses.errors.UsageError` for an unreadable file or a wrong shape, since a
    fixture is given on the command line.  An unknown key is refused too, naming the key (and
    the known one it most likely misspells): ``"identites"`` would otherwise seed nothing,
    silently, and the task fail later on an identity that "should" be there.
    """
    if isinstance(fixture, Mapping):
        data: object = dict(fixture)
        where = ""
    else:
        where = f" {printable(str(fixture))}"
        data = _read_fixture(Path(fixture), where)
    if not isinstance(data, dict):
        raise UsageError(f'The fixture{where} must be a JSON object like {{"identities": [...]}}.')
    unknown = [str(key) for key in data if key not in _FIXTURE_KEYS]
    if unknown:
        import difflib  # the rule of amlses.actions.spec.suggest, without loading the registry

        key = unknown[0]
        close = difflib.get_close_matches(key.lower(), _FIXTURE_KEYS, n=1, cutoff=0.6)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        known = ", ".join(f'"{k}"' for k in _FIXTURE_KEYS)
        raise UsageError(
            f'The fixture{where} has the unknown key "{printable(key)}"{hint}; a fixture '
            f"knows only {known}."
        )
    identities = data.get("identities", [])
    if not isinstance(identities, list) or not all(
        isinstance(item, str) and item for item in identities
    ):
        raise UsageError(
            f'In the fixture{where}, "identities" must be a list of addresses and domains.'
        )
    return {"identities": identities}


def _read_fixture(path: Path, where: str) -> object:
    """A fixture file's JSON: bounded and regular files only (``--fixture /dev/zero`` or a FIFO
    fails at once), UTF-8 with or without a byte-order mark (or UTF-16 with one)."""
    try:
        text = decode_text(read_bounded(path, MAX_FIXTURE_BYTES))
    except OSError as exc:
        raise UsageError(f"The fixture{where} cannot be read: {exc.strerror or exc}") from None
    except NotTextError as exc:
        raise UsageError(f"The fixture{where} cannot be read as JSON: {exc.reason}") from None
    try:
        return json.loads(text)
    except ValueError as exc:  # the message gives line and column, never the file's content
        raise UsageError(f"The fixture{where} cannot be read as JSON: {exc}") from None


@dataclass(frozen=True)
class OutboxMessage:
    """One message the emulator accepted; a bulk call gives one per destination.

    ``kind`` is the SES operation (``SendEmail``, ``SendRawEmail``, ``SendTemplatedEmail``,
    ``SendBulkTemplatedEmail``), or ``SMTP`` for a message the local SMTP endpoint received.
    Templated messages have no rendered subject or body (moto does
    not render them); ``template`` and ``template_data`` say what SES would have rendered.

    ``text`` and ``html`` are the bodies and ``attachments`` the attached files' names, so that
    a test or a person can see what would have been delivered.  For ``SendEmail`` moto keeps a
    single body, the HTML part when the request had one, else the text part: it lands in
    ``html`` when it looks like HTML markup (see :func:`_looks_like_html`), else in ``text``,
    and the text part of a message that had both is lost.
    """

    message_id: str
    kind: str
    sender: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    template: str = ""
    template_data: str = ""
    text: str = ""
    html: str = ""
    attachments: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient's bare address, once each, To then Cc then Bcc."""
        from email.utils import getaddresses

        found = (a for _, a in getaddresses([*self.to, *self.cc, *self.bcc]) if a)
        return tuple(dict.fromkeys(found))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (what ``amlses run --outbox FILE`` writes)."""
        return {
            "MessageId": self.message_id,
            "Operation": self.kind,
            "From": self.sender,
            "To": list(self.to),
            "Cc": list(self.cc),
            "Bcc": list(self.bcc),
            "Subject": self.subject,
            "Template": self.template,
            "TemplateData": self.template_data,
            "Text": self.text,
            "Html": self.html,
            "Attachments": list(self.attachments),
        }


def write_outbox(
    path: str | PathLike[str], messages: Iterable[OutboxMessage], redactor: Redactor
) -> None:
    """Write ``messages`` as a JSON list of :meth:`OutboxMessage.to_dict` to ``path``.

    The file is created with mode 0600 (and an existing one is brought down to it), since an
    outbox holds whole messages: bodies and recipients are nobody else's business on a shared
    machine.  The text goes through ``redactor`` first, so a run's secrets that reached a
    message are masked.  Raises :class:`~amlses.errors.UsageError` when the file cannot be
    written (the path comes from the command line).
    """
    text = json.dumps([m.to_dict() for m in messages], indent=2, ensure_ascii=False)
    data = (redactor(text) + "\n").encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
        try:
            if hasattr(os, "fchmod"):  # not on Windows, where the mode means little anyway
                os.fchmod(descriptor, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
    except OSError as exc:
        where = printable(os.fspath(path))
        raise UsageError(
            f"The outbox file {where} cannot be written: {exc.strerror or exc}"
        ) from None


def read_outbox(endpoint_url: str) -> list[OutboxMessage]:
    """The messages a moto server at ``endpoint_url`` accepted since its last reset.

    From an amlses emulator, in the order they were accepted, SMTP messages included (its
    :data:`~amlses.sendorder.SEND_ORDER_PATH`).  From a plain moto server, grouped by operation
    (SendEmail, SendRawEmail, SendTemplatedEmail, then SendBulkTemplatedEmail), in acceptance
    order within each: moto's data.json lists each model's instances in creation order but
    keeps no timestamp or sequence number that would order messages across operations, and
    MessageIds are random.  Raises :class:`~amlses.errors.AmlError` when the server cannot be
    asked.
    """
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint_url}/moto-api/data.json", timeout=30) as response:
            data = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise AmlError(
            f"The outbox of the SES emulator at {endpoint_url} cannot be read: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise AmlError(f"The SES emulator at {endpoint_url} answered data.json with no object.")
    models: Mapping[str, list[dict[str, Any]]] = data.get("ses", {})
    messages = [_simple_message(raw) for raw in models.get("Message", [])]
    messages += [_raw_message(raw) for raw in models.get("RawMessage", [])]
    messages += [
        _templated_message(raw, raw["id"], raw["destinations"], "SendTemplatedEmail")
        for raw in models.get("TemplateMessage", [])
        if isinstance(raw.get("destinations"), dict)  # bulk calls: BulkTemplateMessage below
    ]
    for raw in models.get("BulkTemplateMessage", []):
        for message_id, destination in zip(raw["ids"], raw["destinations"], strict=False):
            entry = _templated_message(
                raw, message_id, destination.get("Destination", {}), "SendBulkTemplatedEmail"
            )
            data_text = destination.get("ReplacementTemplateData") or entry.template_data
            messages.append(_replace_data(entry, data_text))
    messages += _read_smtp_outbox(opener, endpoint_url)
    order = _read_send_order(opener, endpoint_url)
    if order is None:
        return messages
    position = {message_id: at for at, message_id in enumerate(order)}
    return sorted(messages, key=lambda m: position.get(m.message_id, len(position)))  # stable


def read_send_order(endpoint_url: str) -> list[str] | None:
    """The MessageIds an amlses emulator at ``endpoint_url`` accepted, in order; None from a
    plain moto server, whose outbox :func:`read_outbox` can only group by operation."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return _read_send_order(opener, endpoint_url)


def _read_send_order(opener: Any, endpoint_url: str) -> list[str] | None:
    found = _read_json_list(opener, endpoint_url, SEND_ORDER_PATH, "send order")
    return None if found is None else [str(message_id) for message_id in found]


def _read_json_list(opener: Any, endpoint_url: str, path: str, what: str) -> list[Any] | None:
    """The JSON list an amlses emulator serves at ``path``; None from a server that does not
    serve it (404: a plain moto server)."""
    import urllib.error

    why = f"The {what} of the SES emulator at {endpoint_url} cannot be read"
    try:
        with opener.open(f"{endpoint_url}{path}", timeout=30) as response:
            found = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            return None
        raise AmlError(f"{why}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise AmlError(f"{why}: {exc}") from exc
    if not isinstance(found, list):
        raise AmlError(f"{why}: it is not a JSON list.")
    return found


def _read_smtp_outbox(opener: Any, endpoint_url: str) -> list[OutboxMessage]:
    """The messages the emulator's SMTP endpoint received, from :data:`SMTP_OUTBOX_PATH`;
    none from a server that does not serve it (404: a plain moto server)."""
    import base64

    records = _read_json_list(opener, endpoint_url, SMTP_OUTBOX_PATH, "SMTP outbox") or []
    return [
        _mime_message(
            base64.b64decode(str(r.get("Raw", "")))
            .decode("utf-8", "replace")
            .replace("\r\n", "\n"),
            str(r.get("MessageId", "")),
            "SMTP",
            str(r.get("MailFrom", "")),
            [str(a) for a in r.get("RcptTo", [])],
        )
        for r in records
        if isinstance(r, dict)
    ]


def smtp_outbox_json(server: LocalSmtpServer | None) -> bytes:
    """What :data:`SMTP_OUTBOX_PATH` answers: the messages ``server`` received, envelope and
    raw content (base64), in arrival order; an empty list without a server."""
    import base64

    messages = server.received() if server is not None else []
    records = [
        {
            "MessageId": m.message_id,
            "MailFrom": m.sender,
            "RcptTo": list(m.recipients),
            "Raw": base64.b64encode(m.raw).decode("ascii"),
        }
        for m in messages
    ]
    return json.dumps(records).encode("utf-8")


def emulator_app(server: Callable[[], LocalSmtpServer | None]) -> Any:
    """moto's WSGI application as amlses's emulators serve it: with the SMTP outbox of
    ``server()`` and the send order of every message on their extra paths."""
    from .sendorder import SendOrder, with_send_order

    return with_send_order(with_smtp_outbox(_moto_app(), server), SendOrder(server))


def with_smtp_outbox(app: Any, server: Callable[[], LocalSmtpServer | None]) -> Any:
    """moto's WSGI ``app``, answering GET :data:`SMTP_OUTBOX_PATH` itself with
    :func:`smtp_outbox_json` of ``server()`` (the SMTP endpoint may start after moto)."""

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == SMTP_OUTBOX_PATH and environ.get("REQUEST_METHOD") in (
            "GET",
            "HEAD",
        ):
            body = smtp_outbox_json(server())
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
            return [body]
        return app(environ, start_response)

    return serve


def _addresses(destinations: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(a) for a in destinations.get(key) or ())


#: a start or end tag, a comment or a doctype: what makes a SendEmail body HTML
_HTML_MARKUP = re.compile(r"<(?:!doctype\b|!--|/?[a-z][a-z0-9-]*(?:\s[^<>]*)?/?>)", re.I)


def _looks_like_html(body: str) -> bool:
    """Whether moto's single SendEmail body is the HTML part.

    moto keeps ``Message.Body.Html.Data`` when the request had it, else the text part, and
    does not say which it kept; a tag, comment or doctype is the best evidence there is.  A
    text body that shows a tag (``use <b> for bold``) is taken for HTML.
    """
    return _HTML_MARKUP.search(body) is not None


def _simple_message(raw: Mapping[str, Any]) -> OutboxMessage:
    destinations = raw.get("destinations") or {}
    body = str(raw.get("body") or "")
    html = _looks_like_html(body)
    return OutboxMessage(
        str(raw.get("id", "")),
        "SendEmail",
        str(raw.get("source", "")),
        _addresses(destinations, "ToAddresses"),
        _addresses(destinations, "CcAddresses"),
        _addresses(destinations, "BccAddresses"),
        str(raw.get("subject") or ""),
        text="" if html else body,
        html=body if html else "",
    )


def _raw_message(raw: Mapping[str, Any]) -> OutboxMessage:
    """A raw message: To, Cc and Subject from its headers; Bcc = the other destinations;
    the first text/plain and text/html body parts, and every attached file's name."""
    return _mime_message(
        str(raw.get("raw_data", "")),
        str(raw.get("id", "")),
        "SendRawEmail",
        str(raw.get("source") or ""),
        raw.get("destinations") or [],
    )


def _mime_message(
    text: str, message_id: str, kind: str, source: str, destinations: Iterable[str]
) -> OutboxMessage:
    """A MIME message (SendRawEmail's, or one received over SMTP) as an outbox entry: To, Cc
    and Subject from its headers, Bcc the envelope's other recipients, the sender the envelope's
    (else the From header), bodies and attachment names parsed with the email package."""
    from email.parser import Parser
    from email.policy import default
    from email.utils import getaddresses

    message = Parser(policy=default).parsestr(text)
    to = tuple(str(v) for v in message.get_all("To", []))
    cc = tuple(str(v) for v in message.get_all("Cc", []))
    shown = {a.lower() for _, a in getaddresses([*to, *cc])}
    bcc = _unique(a for _, a in getaddresses(list(destinations)) if a and a.lower() not in shown)
    sender = source or str(message.get("From", ""))
    subject = str(message.get("Subject", ""))
    return OutboxMessage(
        message_id,
        kind,
        sender,
        to,
        cc,
        bcc,
        subject,
        text=_body_text(message, "plain"),
        html=_body_text(message, "html"),
        attachments=_attachment_names(message),
    )


def _body_text(message: EmailMessage, subtype: str) -> str:
    """The decoded ``text/<subtype>`` body part of ``message``, or "" when it has none.

    ``get_body`` picks the part a mail reader would show (inside multipart/alternative and
    multipart/related, never an attachment).  A charset Python does not know is decoded as
    UTF-8 with replacement characters rather than failing the whole outbox.
    """
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _attachment_names(message: EmailMessage) -> tuple[str, ...]:
    """The file names of the parts that are attachments (or carry a file name), in order."""
    names = []
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if name or part.get_content_disposition() == "attachment":
            names.append(str(name or "(no name)"))
    return tuple(names)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _templated_message(
    raw: Mapping[str, Any], message_id: str, destinations: Mapping[str, Any], kind: str
) -> OutboxMessage:
    return OutboxMessage(
        str(message_id),
        kind,
        str(raw.get("source", "")),
        _addresses(destinations, "ToAddresses"),
        _addresses(destinations, "CcAddresses"),
        _addresses(destinations, "BccAddresses"),
        template=str(raw.get("template", "")),
        template_data=str(raw.get("template_data") or ""),
    )


def _replace_data(message: OutboxMessage, template_data: str) -> OutboxMessage:
    from dataclasses import replace

    return replace(message, template_data=template_data)


def quiet_werkzeug() -> None:
    """Silence werkzeug's per-request log lines (``"POST / HTTP/1.1" 200 -``) on stderr.

    werkzeug logs each request at INFO and, when its logger has no level, sets INFO itself and
    adds a stderr handler.  Giving the logger WARNING first keeps real problems visible.  A
    level someone configured on purpose is left alone.
    """
    import logging  # not at import: --local starts its child before anything needs logging

    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def _ip(host: str) -> Any:
    import ipaddress

    return ipaddress.ip_address(host.strip("[]"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only loopback addresses: an IP literal, or a name such as
    ``localhost`` whose every address is loopback (a name that resolves elsewhere is not)."""
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).partition("%")[0] for info in found}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


#: errno values for "address already in use" (POSIX, and Windows' WSAEADDRINUSE)
_ADDRESS_IN_USE = frozenset({errno.EADDRINUSE, 10048})


def _moto_app() -> Any:
    """moto's WSGI application (every service, dispatched by host), or a UsageError."""
    try:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    except ImportError as exc:
        raise UsageError(
            "The local SES emulator needs moto and flask: pip install 'amlses[local]'"
        ) from exc
    return DomainDispatcherApplication(create_backend_app)
