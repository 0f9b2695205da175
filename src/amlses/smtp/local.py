"""A local SES SMTP endpoint, for testing SMTP clients against the real protocol.

moto emulates SES's API but not its SMTP interface, and a client's hard parts — TLS from the
first byte or after STARTTLS, certificate checks, AUTH, a throttled send, a connection lost
after the message went out — cannot be tested against a mock without mocking them away.
:class:`LocalSmtpServer` is aiosmtpd (its ``Controller`` runs an event loop in a thread) with
SES's rules on three listeners, each on a port the OS picks, on loopback only:

* ``implicit_port`` — TLS from the first byte (SES's 465 and 2465);
* ``starttls_port`` — STARTTLS required before anything but EHLO/NOOP/QUIT (SES's 587);
* ``plain_port`` — no TLS offered at all, so AUTH is always refused: a client must never send
  credentials here, and tests can prove it does not.

The certificate is made per server (``cryptography``): a throw-away CA, which clients trust
through :attr:`LocalSmtpServer.ca_file`, signs a one-day certificate for ``localhost``,
``127.0.0.1`` and ``::1``.  Keys and certificates live in a private temporary folder (0700,
files 0600) removed by :meth:`~LocalSmtpServer.stop`.

AUTH (PLAIN and LOGIN) is required before MAIL and accepts exactly the access key id and
:func:`~amlses.smtp.password.smtp_password` of the secret key for ``region`` (or, with
``any_region``, for any region with SES SMTP: a local run's tasks may name hosts of several
regions, and each derives its own password), answering anything else as SES does,
``535 Authentication Credentials Invalid``.  ``implicit_port`` fixes the implicit-TLS port
(``amlses emulator --smtp-port``); the other two are always the OS's pick.  A message is
answered ``250 Ok <id>`` with an id shaped like SES's.  :meth:`~LocalSmtpServer.throttle`,
:meth:`~LocalSmtpServer.reject` and :meth:`~LocalSmtpServer.drop_after_data` script the next
messages' fate, in the order they are asked for; a dropped message is stored *and* the
connection closed without a reply — exactly the case where a client cannot know whether SES
accepted it.

aiosmtpd and cryptography are imported by :meth:`~LocalSmtpServer.start`, never at import, and
the server logs nothing: aiosmtpd's ``mail.log`` logger is quieted, and errors inside the
event loop are kept (:attr:`~LocalSmtpServer.loop_errors`) instead of printed.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from ..errors import UsageError
from .password import SMTP_REGIONS, smtp_password

__all__ = [
    "AUTHENTICATED",
    "INVALID_CREDENTIALS",
    "LocalSmtpServer",
    "NOT_VERIFIED",
    "SmtpMessage",
    "THROTTLED",
]

#: SES's answer to a send over its maximum sending rate
THROTTLED: Final = "454 Throttling failure: Maximum sending rate exceeded."
#: SES's answer to a message from an address it has not verified (the default rejection)
NOT_VERIFIED: Final = "554 Message rejected: Email address is not verified."
#: SES's answer to a wrong user name or password
INVALID_CREDENTIALS: Final = "535 Authentication Credentials Invalid"
#: SES's answer to a successful AUTH
AUTHENTICATED: Final = "235 Authentication successful."

#: what the banner says after the host name
_IDENT: Final = "ESMTP amlses local SES SMTP endpoint"
#: how long start and stop wait for the event loop thread
_TIMEOUT: Final = 10.0
#: a rejection must be a complete SMTP failure reply: a 4xx or 5xx code, a space, some text
_REPLY = re.compile(r"[45]\d\d [^\r\n]+")
#: the certificate's validity: long enough for any test run, short enough to be worthless
_VALIDITY_SECONDS: Final = 24 * 3600

_THROTTLE, _REJECT, _DROP = "throttle", "reject", "drop"


@dataclass(frozen=True)
class SmtpMessage:
    """One message the server accepted (or stored before dropping the connection)."""

    #: what the server answered after DATA: ``250 Ok <message_id>``
    message_id: str
    #: the MAIL FROM address
    sender: str
    #: the RCPT TO addresses, in order
    recipients: tuple[str, ...]
    #: the message content as received (dot-stuffing removed)
    raw: bytes
    #: the listener it came through: ``"implicit"`` or ``"starttls"``
    listener: str


def ses_message_id() -> str:
    """A message id shaped like SES's: ``0100`` and the time in milliseconds (16 hex digits),
    a UUID, and ``-000000`` (``0100018f5e9c7a2b-1a2b…-000000``)."""
    return f"0100{int(time.time() * 1000):012x}-{uuid.uuid4()}-000000"


def _loopback_address(host: str) -> str:
    """``host`` as an IP literal to bind, if it is loopback; ``localhost`` is 127.0.0.1."""
    name = "127.0.0.1" if host.strip().lower() == "localhost" else host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise UsageError(
            f"the local SMTP server listens on loopback only (127.0.0.1, ::1 or localhost), "
            f"not on {host!r}: it accepts the password of a real key and keeps every message"
        )
    return str(address)


class LocalSmtpServer:
    """An SES-like SMTP endpoint on loopback; see the module documentation.

    ::

        with LocalSmtpServer(access_key="AKIAEXAMPLE", secret_key="secret") as server:
            context = ssl.create_default_context(cafile=server.ca_file)
            with smtplib.SMTP_SSL(server.host, server.implicit_port, context=context) as smtp:
                smtp.login(server.access_key, server.password)
                smtp.sendmail("me@example.com", ["you@example.com"], b"Subject: hi\\r\\n\\r\\nhi")
            [message] = server.received()

    The ports, ``ca_file`` and the listeners exist from :meth:`start` to :meth:`stop`.
    """

    def __init__(
        self,
        *,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        any_region: bool = False,
        implicit_port: int = 0,
    ) -> None:
        if not access_key:
            raise UsageError("the local SMTP server needs an access key id (its user name)")
        if not 0 <= implicit_port <= 65535:
            raise UsageError(f"the SMTP port {implicit_port} is not between 0 (any) and 65535")
        self.host: str = _loopback_address(host)
        self.region: str = region.strip().lower()
        self.access_key: str = access_key
        self._password = smtp_password(secret_key, region)  # refuses a region without SMTP
        #: every password AUTH accepts: the region's, or (``any_region``) the one of each region
        #: with SES SMTP, for a local run whose tasks name hosts of several regions; a password
        #: derived wrongly (or for another key) is still refused
        self._passwords: tuple[bytes, ...] = (self._password.encode("ascii"),)
        if any_region:
            self._passwords = tuple(
                smtp_password(secret_key, name).encode("ascii") for name in sorted(SMTP_REGIONS)
            )
        self._wanted_implicit_port = implicit_port
        self.implicit_port = 0
        self.starttls_port = 0
        self.plain_port = 0
        self.ca_file = ""
        #: errors the event loop reported (a broken handshake's details, say), kept unprinted
        self.loop_errors: list[str] = []
        self._lock = threading.Lock()
        self._received: list[SmtpMessage] = []
        self._faults: deque[tuple[str, str]] = deque()
        self._connections = 0
        self._counting = False
        self._folder: str | None = None
        self._controller: Any = None
        self._sockets: dict[str, socket.socket] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: set[asyncio.Transport] = set()
        self._state = "new"

    def __repr__(self) -> str:  # never the password
        ports = f"implicit={self.implicit_port} starttls={self.starttls_port}"
        return (
            f"<LocalSmtpServer {self.state} on {self.host} ({ports} plain={self.plain_port}) "
            f"region={self.region} access_key={self.access_key!r}>"
        )

    # ----------------------------------------------------------------------------------------
    # What tests read

    @property
    def password(self) -> str:
        """The SMTP password the server accepts: ``smtp_password(secret_key, region)``."""
        return self._password

    @property
    def state(self) -> str:
        """``new``, ``running`` or ``stopped``."""
        return self._state

    @property
    def connections(self) -> int:
        """Connections accepted so far, on all three listeners."""
        with self._lock:
            return self._connections

    def received(self) -> list[SmtpMessage]:
        """The messages stored so far, in the order they arrived (a snapshot)."""
        with self._lock:
            return list(self._received)

    # ----------------------------------------------------------------------------------------
    # Scripted failures: each call queues ``count`` outcomes, taken by the next messages

    def throttle(self, count: int = 1) -> None:
        """Answer the next ``count`` messages, at the end of DATA, with SES's throttling reply
        (:data:`THROTTLED`) and do not store them."""
        self._plan(_THROTTLE, count, THROTTLED)

    def drop_after_data(self, count: int = 1) -> None:
        """Store the next ``count`` messages, then close their connection without any reply:
        the client cannot know that the message was accepted (its outcome is unknown)."""
        self._plan(_DROP, count, "")

    def reject(self, count: int = 1, reply: str = NOT_VERIFIED) -> None:
        """Answer the next ``count`` messages, at the end of DATA, with ``reply`` (a 4xx or
        5xx reply, SES's "not verified" by default) and do not store them."""
        if not _REPLY.fullmatch(reply):
            raise ValueError(f"a rejection is a 4xx or 5xx SMTP reply with text, not {reply!r}")
        self._plan(_REJECT, count, reply)

    def _plan(self, kind: str, count: int, reply: str) -> None:
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        with self._lock:
            self._faults.extend([(kind, reply)] * count)

    # ----------------------------------------------------------------------------------------
    # Life cycle

    def __enter__(self) -> LocalSmtpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalSmtpServer:
        """Make the certificate, bind the three listeners and start serving; returns self."""
        if self._state != "new":
            raise RuntimeError(f"this LocalSmtpServer is {self._state}; start a new one")
        self._state = "running"
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        machinery = _machinery()  # aiosmtpd, only now
        _quiet_aiosmtpd()
        self._folder = tempfile.mkdtemp(prefix="amlses-smtp-")  # 0700
        self.ca_file, cert_file, key_file = _write_certificates(Path(self._folder))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        self._contexts = {"implicit": context, "starttls": context}
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for listener in ("implicit", "starttls", "plain"):
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._sockets[listener] = sock
            if os.name == "posix":  # as asyncio's own servers: the port is free again at stop
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            wanted = self._wanted_implicit_port if listener == "implicit" else 0
            try:
                sock.bind((self.host, wanted))
            except OSError as exc:
                raise UsageError(
                    f"the local SMTP server cannot listen on {self.host} port {wanted}: "
                    f"{exc.strerror or exc}; choose another port, or 0 for a free one"
                ) from None
        self.implicit_port, self.starttls_port, self.plain_port = (
            int(self._sockets[name].getsockname()[1]) for name in ("implicit", "starttls", "plain")
        )
        self._controller = machinery.Listeners(self)
        self._controller.start()
        with self._lock:  # the start-up probe connected once: it is not the tests'
            self._connections = 0
            self._counting = True

    def stop(self) -> None:
        """Close every connection and listener, end the loop thread, remove the certificate
        folder.  Prompt, idempotent, and safe after a failed start."""
        if self._state == "stopped":
            return
        self._state = "stopped"
        controller, self._controller = self._controller, None
        try:
            if controller is not None:
                loop = controller.loop
                if loop.is_running():
                    closing = asyncio.run_coroutine_threadsafe(self._close_everything(), loop)
                    try:
                        closing.result(_TIMEOUT)
                    finally:  # even if the closing failed: the thread must end
                        if controller._thread is not None:
                            controller.stop()
        finally:
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    async def _close_everything(self) -> None:
        """In the loop: stop accepting, drop every connection, let every task finish."""
        loop = asyncio.get_running_loop()
        for sock in self._sockets.values():  # accept nothing more...
            try:
                loop.remove_reader(sock.fileno())
            except NotImplementedError:  # a proactor loop (Windows) has no readers
                pass
        # ...but a connection accepted a moment ago must get its transport while its server
        # is open: asyncio cannot attach one to a closed server, and would leak its socket
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for server in self._servers:
            server.close()
        current = asyncio.current_task()
        for _ in range(100):  # a task that will not end must not hang stop
            with self._lock:
                transports = list(self._transports)
                self._transports.clear()
            for transport in transports:
                transport.abort()  # the socket itself: TLS or not, handshake done or not
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            if not tasks and not transports:
                break
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # the transports' connection_lost callbacks run
        for server in self._servers:
            await server.wait_closed()

    # ----------------------------------------------------------------------------------------
    # Called from the event loop thread

    def _accepted(self) -> None:
        """A connection was accepted (TLS or not, handshake done or not)."""
        with self._lock:
            if self._counting:
                self._connections += 1

    def _opened(self, transport: asyncio.BaseTransport) -> None:
        """A connection's socket transport exists (kept, so that stop can close it)."""
        if isinstance(transport, asyncio.Transport):
            with self._lock:
                self._transports.add(transport)

    def _closed(self, transport: asyncio.BaseTransport | None) -> None:
        if isinstance(transport, asyncio.Transport):
            with self._lock:
                self._transports.discard(transport)

    def _authenticated(self, login: bytes, password: bytes) -> bool:
        expected_login = self.access_key.encode("utf-8")
        # all compared, always: the time taken says nothing about which one was wrong
        login_ok = hmac.compare_digest(login, expected_login)
        matches = [hmac.compare_digest(password, known) for known in self._passwords]
        return any(matches) and login_ok

    def _arrived(
        self, sender: str, recipients: tuple[str, ...], raw: bytes, listener: str
    ) -> tuple[str, str | None]:
        """What becomes of a message at the end of DATA: (fault kind or "", reply or None).

        A stored message's reply is ``250 Ok <id>``; a dropped one is stored with no reply.
        """
        with self._lock:
            kind, reply = self._faults.popleft() if self._faults else ("", "")
            if kind in (_THROTTLE, _REJECT):
                return kind, reply
            message_id = ses_message_id()
            self._received.append(SmtpMessage(message_id, sender, recipients, raw, listener))
        return kind, (None if kind == _DROP else f"250 Ok {message_id}")

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.loop_errors.append(str(context.get("exception") or context.get("message")))


def _quiet_aiosmtpd() -> None:
    """aiosmtpd logs every connection at INFO and some client mistakes at WARNING on its
    ``mail.log`` logger; tests must stay quiet.  A level someone set on purpose is kept."""
    logger = logging.getLogger("mail.log")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file only its owner can read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _write_certificates(folder: Path) -> tuple[str, str, str]:
    """A throw-away CA and the server certificate it signs, written to ``folder``.

    Returns (CA certificate, server certificate, server key) paths.  A separate CA, rather
    than one self-signed leaf, is what strict verifiers (Python 3.13's default
    ``VERIFY_X509_STRICT``) accept: the CA has ``keyCertSign``, the leaf ``serverAuth``.
    """
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(minutes=5)  # a little clock skew is fine
    not_after = now + datetime.timedelta(seconds=_VALIDITY_SECONDS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "amlses local SMTP test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    _write_private(paths[0], ca.public_bytes(pem))
    _write_private(paths[1], leaf.public_bytes(pem))
    _write_private(
        paths[2],
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return str(paths[0]), str(paths[1]), str(paths[2])


class _Machinery:
    """The aiosmtpd-based classes, built once, on the first start (see :func:`_machinery`)."""

    def __init__(self, listeners: type[Any]) -> None:
        self.Listeners = listeners


@functools.cache
def _machinery() -> _Machinery:
    """Define the classes that subclass aiosmtpd's; importing aiosmtpd happens here only."""
    from asyncio import sslproto

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

    class SesSmtp(SMTP):
        """aiosmtpd's SMTP, SES's way: implicit TLS counts as TLS (aiosmtpd only knows
        STARTTLS, so it would refuse AUTH there), and the owner keeps every socket."""

        def __init__(self, owner: LocalSmtpServer, listener: str, **kwargs: Any) -> None:
            super().__init__(_Handler(owner, listener), **kwargs)
            self.owner = owner
            self.listener = listener
            self._socket_transport: asyncio.BaseTransport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            first = self.transport is None
            super().connection_made(transport)
            if not first:
                return  # the STARTTLS handshake is done: the same connection, now TLS
            if self.listener == "implicit":
                # TLS from the first byte (the socket is TlsFromFirstByte's to keep); without
                # its protocol here, aiosmtpd would refuse AUTH, which is merely safe
                self._tls_protocol = getattr(transport, "_ssl_protocol", None)
            else:
                self._socket_transport = transport
                self.owner._opened(transport)

        def connection_lost(self, error: Exception | None) -> None:
            self.owner._closed(self._socket_transport)
            super().connection_lost(error)

    class TlsFromFirstByte(sslproto.SSLProtocol):
        """The TLS layer of an implicit-TLS connection, made here rather than by
        ``create_server(ssl=…)`` so that the socket under a handshake still in progress is
        known, and closed by stop, too (asyncio would leave it open until collected)."""

        def __init__(
            self,
            owner: LocalSmtpServer,
            app: asyncio.BaseProtocol,
            context: ssl.SSLContext,
            loop: asyncio.AbstractEventLoop,
        ) -> None:
            # no waiter: nobody awaits the handshake (asyncio's own code passes None too)
            super().__init__(loop, app, context, None, server_side=True)  # type: ignore[arg-type]
            self.owner = owner
            self._socket_transport: asyncio.BaseTransport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._socket_transport = transport
            self.owner._opened(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: BaseException | None) -> None:
            self.owner._closed(self._socket_transport)
            super().connection_lost(exc)

    class _Handler:
        """aiosmtpd's handler hook: the end of DATA, where SES answers."""

        def __init__(self, owner: LocalSmtpServer, listener: str) -> None:
            self.owner = owner
            self.listener = listener

        async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
            self, server: SesSmtp, session: Session, envelope: Envelope
        ) -> str:
            raw = envelope.original_content or b""
            kind, reply = self.owner._arrived(
                str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(raw), self.listener
            )
            if reply is None:  # stored; now the connection goes, with no reply at all
                if isinstance(server.transport, asyncio.Transport):
                    server.transport.abort()
                raise asyncio.CancelledError  # ends aiosmtpd's session task without a word
            return reply

    class Listeners(Controller):
        """One aiosmtpd Controller (one thread, one loop) serving all three listeners."""

        def __init__(self, owner: LocalSmtpServer) -> None:
            super().__init__(
                None, hostname=owner.host, port=owner.plain_port, ready_timeout=_TIMEOUT
            )
            self.owner = owner
            self.loop.set_exception_handler(owner._loop_error)
            self._listener = "plain"

        def factory(self) -> SesSmtp:
            owner, listener = self.owner, self._listener
            return SesSmtp(
                owner,
                listener,
                hostname="localhost",
                ident=_IDENT,
                tls_context=owner._contexts.get("starttls") if listener == "starttls" else None,
                require_starttls=listener == "starttls",
                auth_required=True,
                auth_require_tls=True,
                authenticator=self._authenticate,
                loop=self.loop,
            )

        def _authenticate(
            self,
            server: SesSmtp,
            session: Session,
            envelope: Envelope,
            mechanism: str,
            auth_data: Any,
        ) -> AuthResult:
            if isinstance(auth_data, LoginPassword) and self.owner._authenticated(
                auth_data.login, auth_data.password
            ):
                return AuthResult(success=True, auth_data=None, message=AUTHENTICATED)
            return AuthResult(success=False, handled=False, message=INVALID_CREDENTIALS)

        def _protocol_for(self, listener: str) -> Any:
            self.owner._accepted()
            self._listener = listener  # read by factory(), synchronously, in this thread
            app = self._factory_invoker()
            if listener != "implicit":
                return app
            return TlsFromFirstByte(self.owner, app, self.owner._contexts["implicit"], self.loop)

        async def _serve(self) -> asyncio.AbstractServer:
            owner = self.owner
            for listener in ("implicit", "starttls", "plain"):
                server = await self.loop.create_server(
                    functools.partial(self._protocol_for, listener), sock=owner._sockets[listener]
                )
                owner._servers.append(server)
            return _Group(owner._servers)

        def _create_server(self) -> Any:
            return self._serve()

        def _trigger_server(self) -> None:
            """Prove the server answers: read the plain listener's banner once."""
            address = (self.owner.host, self.owner.plain_port)
            with socket.create_connection(address, timeout=_TIMEOUT) as probe:
                probe.recv(1024)

    return _Machinery(Listeners)


class _Group(asyncio.AbstractServer):
    """The three listening servers as one (aiosmtpd's Controller expects one)."""

    def __init__(self, servers: list[asyncio.AbstractServer]) -> None:
        self._servers = servers

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._servers[0].get_loop()

    def is_serving(self) -> bool:
        return all(server.is_serving() for server in self._servers)

    async def start_serving(self) -> None:
        for server in self._servers:
            await server.start_serving()

    async def serve_forever(self) -> None:
        await asyncio.gather(*(server.serve_forever() for server in self._servers))

    def close(self) -> None:
        for server in self._servers:
            server.close()

    async def wait_closed(self) -> None:
        for server in self._servers:
            await server.wait_closed()
