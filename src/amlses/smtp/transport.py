"""Sending through SES's SMTP interface, with every failure placed before or after the point
where SES could have taken the message.

SES's SMTP interface (``email-smtp.<region>.amazonaws.com``: ports 465 and 2465 speak TLS from
the first byte, 25, 587 and 2587 upgrade with STARTTLS) accepts the same messages as
``SendRawEmail``.  The rule of amlses holds here too: **a message is sent at most once**.  SMTP
makes the point of no return visible, so this module uses :mod:`smtplib`'s lower-level calls
(``mail``, ``rcpt``, ``DATA`` and its reply, the content written by hand) instead of
``sendmail``, and knows exactly which step failed:

* before ``DATA`` got its ``354`` nothing of the message has left: a failure there proves SES did
  not accept it (:attr:`SmtpError.unknown` is False).  A connection that could not be opened or
  was lost, a timeout and a ``4xx`` reply may be cured by time (:attr:`SmtpError.retryable`);
  a ``5xx`` reply will not be;
* once the content started to go out, a lost connection or a timeout before the final reply
  leaves the outcome unknown: SES may have accepted the message (code ``Unknown``, never
  resent automatically);
* a final ``4xx``/``5xx`` reply to the end of the content is a proven refusal, as in SMTP a
  reply is the whole answer (unlike an HTTP 5xx, after which the service may have acted).

SES's own replies get the codes its API uses, so ``AM_ERRORS`` matches either transport:
``454 Throttling failure: Maximum sending rate exceeded`` is ``Throttling`` and retryable;
``454 Throttling failure: Daily message quota exceeded`` is ``Throttling`` too, but *not*
retryable — waiting seconds cannot free a 24-hour quota; ``554 Message rejected: …`` is
``MessageRejected``; ``535`` is ``AuthenticationFailed``.

Credentials never cross an unencrypted connection: an endpoint without TLS refuses a login
before it connects, and a STARTTLS endpoint whose server does not offer STARTTLS is left before
``AUTH``.  A :class:`SmtpSender` keeps one connection for all its messages (a bulk send opens
one per worker), so a message costs ``RSET``, ``MAIL``, ``RCPT``… and ``DATA``, not a TLS
handshake and a login.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Literal
from urllib.parse import urlsplit

from ..aws.connection import smtp_region
from ..errors import SessionError, StepError

__all__ = [
    "IMPLICIT_PORTS",
    "STARTTLS_PORTS",
    "Security",
    "SmtpEndpoint",
    "SmtpError",
    "SmtpLogin",
    "SmtpSender",
    "smtp_endpoint",
    "wire_data",
]

Security = Literal["implicit", "starttls", "none"]

#: SES's SMTP ports that speak TLS from the first byte, and those that upgrade with STARTTLS
IMPLICIT_PORTS: Final = frozenset({465, 2465})
STARTTLS_PORTS: Final = frozenset({25, 587, 2587})
_DEFAULT_PORT: Final[dict[str, int]] = {"implicit": 465, "starttls": 587}

# SES's SMTP success reply names the MessageId: "250 Ok 0100018c2f…-000000"
_MESSAGE_ID = re.compile(r"^ok\s+<?([^\s<>]+)>?", re.IGNORECASE)
# what QUIT may wait for, at most: closing must not hang a finished run
_QUIT_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to reach an SMTP server: host, port and the kind of TLS.

    ``security`` is ``"implicit"`` (TLS from the first byte), ``"starttls"`` (required: a server
    that does not offer it is refused) or ``"none"`` (no TLS at all: only for a local test
    server, and never with a login).  ``verify=False`` skips the certificate check (Automate's
    ``IGNOREINVALIDCERTIFICATE="YES"``); ``ca_file`` is an extra CA to trust besides the system's
    store (and ``SSL_CERT_FILE``).  ``timeout`` bounds connecting and each wait for a reply.
    """

    host: str
    port: int
    security: Security
    region: str | None = None
    verify: bool = True
    ca_file: str | None = None
    timeout: float = 60.0

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def smtp_endpoint(
    url_or_host: str,
    *,
    region: str | None = None,
    verify: bool = True,
    ca_file: str | None = None,
) -> SmtpEndpoint | None:
    """The SMTP endpoint ``url_or_host`` names, or None when it names none (an API URL).

    * ``smtps://host[:port]`` — TLS from the first byte, port 465 unless given;
    * ``smtp://host[:port]`` — STARTTLS, required, port 587 unless given;
    * ``email-smtp.<region>.amazonaws.com[:port]``, bare or as ``https://…`` — by SES's ports:
      465 and 2465 are TLS, 25, 587 and 2587 STARTTLS; 465 unless given.

    The region comes from an SES host, else ``region``.  A URL that cannot be an endpoint (a bad
    port, a path, a user or password in it, a port SES does not listen on, a scheme that
    contradicts SES's port) raises :class:`~amlses.errors.SessionError`; a user or password is
    never echoed.
    """
    text = url_or_host.strip()
    if not text:
        return None
    scheme, _, rest = text.partition("://") if "://" in text else ("", "", text)
    scheme = scheme.lower()
    if scheme not in ("", "smtp", "smtps", "http", "https"):
        return None
    parts = urlsplit("//" + rest)
    if "@" in parts.netloc:
        raise SessionError(
            "The SMTP endpoint must not contain a user or password; the user is ACCESSKEY and "
            "the password is derived from SECRETKEY (or given as SMTPPASSWORD)."
        )
    try:
        port = parts.port
    except ValueError:
        raise SessionError(
            f"The SMTP endpoint {text!r} has a port that is not a number from 1 to 65535."
        ) from None
    host = (parts.hostname or "").rstrip(".")
    ses_region = smtp_region(host)
    if scheme in ("", "http", "https") and ses_region is None:
        return None  # an API endpoint (or not an endpoint at all): not SMTP's business
    if not host:
        raise SessionError(f"The SMTP endpoint {text!r} names no host.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SessionError(
            f"The SMTP endpoint {text!r} must be a host, optionally with :port, and nothing "
            "after it, e.g. smtps://email-smtp.eu-west-1.amazonaws.com:465."
        )
    if port == 0:
        raise SessionError(f"The SMTP endpoint {text!r} has port 0; give a port from 1 to 65535.")
    security = _security(text, scheme, port, ses_region is not None)
    return SmtpEndpoint(
        host=host,
        port=port if port is not None else _DEFAULT_PORT[security],
        security=security,
        region=ses_region or region or None,
        verify=verify,
        ca_file=ca_file or None,
    )


def _security(text: str, scheme: str, port: int | None, ses: bool) -> Security:
    """The TLS mode a URL asks for; on an SES host it must agree with the port SES serves."""
    if ses and port is not None and port not in IMPLICIT_PORTS | STARTTLS_PORTS:
        raise SessionError(
            f"SES's SMTP interface does not listen on port {port} ({text!r}): use 465 or 2465 "
            "(TLS) or 25, 587 or 2587 (STARTTLS)."
        )
    if scheme == "smtps":
        if ses and port in STARTTLS_PORTS:
            raise SessionError(
                f"Port {port} of SES's SMTP interface speaks STARTTLS, not TLS from the first "
                f"byte ({text!r}): write smtp:// for it, or use port 465."
            )
        return "implicit"
    if scheme == "smtp":
        if ses and port in IMPLICIT_PORTS:
            raise SessionError(
                f"Port {port} of SES's SMTP interface speaks TLS from the first byte, not "
                f"STARTTLS ({text!r}): write smtps:// for it, or use port 587."
            )
        return "starttls"
    return "starttls" if port in STARTTLS_PORTS else "implicit"


@dataclass(frozen=True)
class SmtpLogin:
    """The SMTP user (for SES: the IAM access key id) and its password (never in ``repr``)."""

    user: str
    password: str = field(repr=False)


class SmtpError(StepError):
    """An SMTP server refused, or could not be asked, or its answer was lost.

    ``code`` says what happened in SES's API words where there are some (``Throttling``,
    ``MessageRejected``, ``AuthenticationFailed``), else ``CertificateError``,
    ``ConnectionError``, ``Unknown`` or ``SmtpError``, so ``AM_ERRORS`` can match it.
    ``reply_code`` is the server's reply code when it answered.  ``unknown`` is True when the
    message may have been accepted (never resend it); ``retryable`` is True only when the server
    provably did not take the message *and* time may cure the failure.
    """

    code = "SmtpError"

    def __init__(
        self,
        message: str,
        *,
        code: str = "SmtpError",
        reply_code: int | None = None,
        unknown: bool = False,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reply_code = reply_code
        self.unknown = unknown
        self.retryable = retryable and not unknown


def _reply_text(reply: bytes | str) -> str:
    """A server reply as one line of text (multi-line replies joined with spaces)."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _refusal(endpoint: SmtpEndpoint, stage: str, reply_code: int, reply: bytes | str) -> SmtpError:
    """The error for a reply that refuses: SES's codes, and whether waiting may help."""
    text = _reply_text(reply)
    lowered = text.lower()
    code = "SmtpError"
    retryable = 400 <= reply_code < 500
    if reply_code == 454 and "throttling" in lowered:
        code = "Throttling"
        # the daily quota is a throttling reply too, but seconds of waiting cannot cure it
        retryable = "daily message quota" not in lowered
    elif reply_code == 535:
        code = "AuthenticationFailed"
    elif 500 <= reply_code < 600 and lowered.startswith("message rejected"):
        code = "MessageRejected"
    answer = f"{reply_code} {text}".strip()
    return SmtpError(
        f"The SMTP server {endpoint} refused {stage}: {answer}",
        code=code,
        reply_code=reply_code,
        retryable=retryable,
    )


def _lost(endpoint: SmtpEndpoint, stage: str, error: BaseException) -> SmtpError:
    """A connection lost (or a reply timed out) before the message left: safe to resend."""
    reason = _reason(error)
    return SmtpError(
        f"The connection to the SMTP server {endpoint} was lost {stage} ({reason}); the "
        "message was not sent.",
        code="ConnectionError",
        retryable=True,
    )


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _keeps_connection(error: SmtpError) -> bool:
    """Whether the connection is still in a known state after ``error``: a clean refusal (or a
    check before anything was said) leaves it ready for ``RSET``; a loss, an unknown outcome, a
    ``421`` (the server is closing) or a garbled reply does not."""
    if error.unknown or error.code == "ConnectionError" or error.reply_code == 421:
        return False
    return error.reply_code is None or 400 <= error.reply_code < 600


def _tls_context(endpoint: SmtpEndpoint) -> ssl.SSLContext:
    """The system's trust store (so ``SSL_CERT_FILE`` counts) plus ``ca_file``; hostname checked."""
    context = ssl.create_default_context()
    if endpoint.ca_file:
        try:
            context.load_verify_locations(cafile=endpoint.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SessionError(
                f"The CA file {endpoint.ca_file!r} could not be read as PEM certificates "
                f"({_reason(exc)})."
            ) from exc
    if not endpoint.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _certificate_error(endpoint: SmtpEndpoint, error: ssl.SSLCertVerificationError) -> SmtpError:
    reason = error.verify_message or _reason(error)
    return SmtpError(
        f"The TLS certificate of the SMTP server {endpoint} could not be verified ({reason}). "
        "If the server's certificate comes from a private CA, point the SSL_CERT_FILE "
        "environment variable at that CA's certificate (PEM); to skip the check, which lets "
        'anyone in between read the password, set IGNOREINVALIDCERTIFICATE="YES".',
        code="CertificateError",
    )


def _local_hostname() -> str:
    """What EHLO names: the host's name when it is a plain DNS name (``socket.getfqdn``, which
    smtplib would call, may wait seconds for a reverse lookup)."""
    name = socket.gethostname()
    return name if re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", name) else "localhost"


def wire_data(raw: bytes) -> bytes:
    """A message as it goes after ``DATA``: CRLF line ends, leading dots doubled, and the
    final ``.`` line (RFC 5321 4.5.2)."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpSender:
    """Sends messages over one SMTP connection, opened on the first :meth:`send` and reused.

    Between messages the connection is reset (``RSET``), never logged in again.  If the
    server closed it while idle — noticed at ``RSET`` or ``MAIL FROM``, before anything of the
    next message left — it is opened again, once.  One thread at a time may use a sender.
    ``login`` is None for a server without authentication; with ``security="none"`` a login is
    refused at once (:class:`~amlses.errors.SessionError`), before any connection.
    """

    def __init__(self, endpoint: SmtpEndpoint, login: SmtpLogin | None) -> None:
        if endpoint.security == "none" and login is not None:
            raise SessionError(
                f"The SMTP endpoint {endpoint} has no TLS, and the SMTP password is never sent "
                "over an unencrypted connection: use smtps:// (TLS) or smtp:// (STARTTLS)."
            )
        self.endpoint = endpoint
        self.login = login
        self._smtp: smtplib.SMTP | None = None
        self._used = False  # a transaction was started on the open connection: RSET first

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        user = self.login.user if self.login else None
        return f"SmtpSender({self.endpoint}, user={user!r})"

    def close(self) -> None:
        """Say ``QUIT`` and close the connection (nothing happens when none is open)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.sock is not None:
                smtp.sock.settimeout(min(self.endpoint.timeout, _QUIT_TIMEOUT))
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Send ``raw`` (a whole RFC 5322 message) from ``sender`` to ``recipients`` (the
        envelope: Bcc recipients included); returns the MessageId SES names in its ``250 Ok``
        reply ('' when the server names none).

        Raises :class:`SmtpError`: see the module docstring for ``unknown`` and
        ``retryable``.  Nothing is ever resent here.
        """
        if not recipients:
            raise SmtpError("A message needs at least one recipient; nothing was sent.")
        data = wire_data(raw)
        try:
            smtp = self._begin(sender, recipients, data)
            self._envelope(smtp, recipients)
            return self._content(smtp, data)
        except SmtpError as error:
            if not _keeps_connection(error):
                self._drop()  # the connection's state is not known (or the server ends it)
            raise
        except BaseException:
            self._drop()  # an interrupt mid-transaction: the connection cannot be reused
            raise

    # -- the steps of one message ------------------------------------------------------------

    def _begin(self, sender: str, recipients: Sequence[str], data: bytes) -> smtplib.SMTP:
        """A connection on which ``MAIL FROM`` has been accepted for this message."""
        reused = self._smtp is not None
        smtp = self._smtp or self._open()
        if reused and self._used:
            try:
                code, _ = smtp.rset()
            except smtplib.SMTPServerDisconnected:
                code = 421
            if code != 250:  # the server closed the idle connection: nothing was sent
                self._drop()
                smtp, reused = self._open(), False
        self._used = True
        options = self._mail_options(smtp, sender, recipients, data)
        try:
            code, reply = smtp.mail(sender, options)
        except smtplib.SMTPServerDisconnected as exc:
            if not reused:
                self._drop()
                raise _lost(self.endpoint, "before MAIL FROM was answered", exc) from exc
            self._drop()
            smtp = self._open()
            self._used = True
            return self._mail_again(smtp, sender, options)
        if code == 421 and reused:
            self._drop()
            smtp = self._open()
            self._used = True
            return self._mail_again(smtp, sender, options)
        if code != 250:
            raise self._refused(f"the sender {sender} (MAIL FROM)", code, reply)
        return smtp

    def _mail_again(self, smtp: smtplib.SMTP, sender: str, options: list[str]) -> smtplib.SMTP:
        """``MAIL FROM`` on the fresh connection that replaced a closed idle one."""
        try:
            code, reply = smtp.mail(sender, options)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise _lost(self.endpoint, "before MAIL FROM was answered", exc) from exc
        if code != 250:
            raise self._refused(f"the sender {sender} (MAIL FROM)", code, reply)
        return smtp

    def _mail_options(
        self, smtp: smtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes
    ) -> list[str]:
        """``BODY=8BITMIME`` for 8-bit content, ``SMTPUTF8`` for non-ASCII addresses, when the
        server offers them; a non-ASCII address the server cannot take is refused here."""
        options = []
        if not data.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        wide = [a for a in (sender, *recipients) if not a.isascii()]
        if wide:
            if not smtp.has_extn("smtputf8"):
                raise SmtpError(
                    f"The SMTP server {self.endpoint} does not accept non-ASCII addresses "
                    f"(SMTPUTF8), such as {wide[0]}; nothing was sent.",
                )
            options.append("SMTPUTF8")
        return options

    def _envelope(self, smtp: smtplib.SMTP, recipients: Sequence[str]) -> None:
        """``RCPT TO`` for every recipient, then ``DATA`` up to its ``354``.

        One refused recipient refuses the message: sending it to the others would make a
        resend after fixing the address a second copy for them.
        """
        try:
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    raise self._refused(f"the recipient {recipient} (RCPT TO)", code, reply)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
        except smtplib.SMTPServerDisconnected as exc:
            raise _lost(self.endpoint, "before the message's content was sent", exc) from exc
        if code != 354:
            raise self._refused("the message (DATA)", code, reply)

    def _content(self, smtp: smtplib.SMTP, data: bytes) -> str:
        """Send the content and read the final reply: from here on a loss is ``Unknown``."""
        try:
            smtp.send(data)
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise SmtpError(
                f"The connection to the SMTP server {self.endpoint} was lost after the "
                f"message's content was sent, before the server answered ({_reason(exc)}): "
                "it may or may not have accepted the message.",
                code="Unknown",
                unknown=True,
            ) from exc
        if 200 <= code < 300:
            match = _MESSAGE_ID.match(_reply_text(reply))
            return match.group(1) if match else ""
        if 400 <= code < 600:
            raise self._refused("the message", code, reply)
        raise SmtpError(
            f"The SMTP server {self.endpoint} answered the message's content with "
            f"{code} {_reply_text(reply)}, which says neither yes nor no: it may or may not "
            "have accepted the message.",
            code="Unknown",
            reply_code=code,
            unknown=True,
        )

    def _refused(self, stage: str, code: int, reply: bytes) -> SmtpError:
        if code < 400:  # not a refusal SMTP knows of (smtplib says -1 for a garbled reply)
            return SmtpError(
                f"The SMTP server {self.endpoint} answered {stage} with "
                f"{code} {_reply_text(reply)}; nothing was sent.",
                reply_code=code,
            )
        return _refusal(self.endpoint, stage, code, reply)

    # -- the connection ----------------------------------------------------------------------

    def _drop(self) -> None:
        """Forget the connection without a word: its state is not trusted any more."""
        smtp, self._smtp = self._smtp, None
        self._used = False
        if smtp is not None:
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        """Connect, greet, secure and log in; every failure here proves nothing was sent."""
        endpoint = self.endpoint
        context = _tls_context(endpoint) if endpoint.security != "none" else None
        try:
            smtp = self._connect(context)
        except ssl.SSLCertVerificationError as exc:
            raise _certificate_error(endpoint, exc) from exc
        except ssl.SSLError as exc:
            raise self._handshake_error(exc) from exc
        except smtplib.SMTPConnectError as exc:
            error = _refusal(endpoint, "the connection", exc.smtp_code, exc.smtp_error)
            error.code = "ConnectionError"
            raise error from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpError(
                f"Could not connect to the SMTP server {endpoint} ({_reason(exc)}); nothing "
                "was sent.",
                code="ConnectionError",
                retryable=True,
            ) from exc
        try:
            self._authenticate(smtp)
        except BaseException:
            smtp.close()
            raise
        self._smtp = smtp
        self._used = False
        return smtp

    def _connect(self, context: ssl.SSLContext | None) -> smtplib.SMTP:
        endpoint = self.endpoint
        name = _local_hostname()
        if endpoint.security == "implicit":
            return smtplib.SMTP_SSL(
                endpoint.host,
                endpoint.port,
                local_hostname=name,
                timeout=endpoint.timeout,
                context=context,
            )
        smtp = smtplib.SMTP(
            endpoint.host, endpoint.port, local_hostname=name, timeout=endpoint.timeout
        )
        try:
            smtp.ehlo_or_helo_if_needed()
            if endpoint.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise SmtpError(
                        f"The SMTP server {endpoint} does not offer STARTTLS, and amlses sends "
                        "neither the password nor the message unencrypted; nothing was sent. "
                        "Check the port (465 and 2465 speak TLS from the start: smtps://).",
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
        except smtplib.SMTPResponseException as exc:
            smtp.close()
            error = _refusal(endpoint, "STARTTLS", exc.smtp_code, exc.smtp_error)
            raise error from exc
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _handshake_error(self, error: ssl.SSLError) -> SmtpError:
        other = "smtp:// (STARTTLS)" if self.endpoint.security == "implicit" else "smtps:// (TLS)"
        return SmtpError(
            f"The TLS handshake with the SMTP server {self.endpoint} failed ({_reason(error)}); "
            f"nothing was sent. If the server expects {other} on this port, change the scheme "
            "or the port.",
            code="ConnectionError",
        )

    def _authenticate(self, smtp: smtplib.SMTP) -> None:
        login = self.login
        if login is None:
            return
        endpoint = self.endpoint
        try:
            smtp.login(login.user, login.password)
        except smtplib.SMTPAuthenticationError as exc:
            error = _refusal(endpoint, f"the login of {login.user}", exc.smtp_code, exc.smtp_error)
            if exc.smtp_code == 535:
                error = SmtpError(
                    f"{error.message}. The SMTP password is derived from the secret key for "
                    "one region (the endpoint's), and the key's IAM user needs permission "
                    "ses:SendRawEmail.",
                    code="AuthenticationFailed",
                    reply_code=535,
                )
            raise error from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpError(
                f"The SMTP server {endpoint} does not offer a login (AUTH); nothing was sent.",
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise _lost(endpoint, "during the login", exc) from exc
        except smtplib.SMTPException as exc:
            raise SmtpError(
                f"The SMTP server {endpoint} offers no login method amlses knows "
                f"(PLAIN, LOGIN, CRAM-MD5): {_reason(exc)}; nothing was sent.",
            ) from exc
