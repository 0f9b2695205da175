"""Bulk sends over SES's SMTP interface: one connection per worker, one MIME message per row.

The bulk runner (:mod:`amlses.mail.bulk_runner`) paces, journals and resends the same way
whatever carries the messages; this module is what differs over SMTP.  Each worker thread
keeps its own :class:`~amlses.smtp.transport.SmtpSender` (one TLS connection, ``RSET``
between messages), because opening a TLS connection and logging in per message would cap
the rate far below the account's.  Each row's message is built with :func:`build_message`
exactly as ``send_email`` builds one over SMTP (headers for the configuration set and tags,
the return path as ``MAIL FROM``), so a bulk message is the same as a single one.

Outcomes follow the SMTP answer: :class:`~amlses.smtp.transport.SmtpError` says whether SES
may have the message (``unknown``: never resent) and whether time may cure a refusal
(``retryable``: throttling, resent after a backoff).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from .addresses import address_of, parse_addresses
from .common import Addresses, MailError, Tags
from .mime import build_message, message_bytes, ses_headers
from .rows import UNKNOWN, Outcome
from .send import is_daily_quota, smtp_session, unknown_outcome

if TYPE_CHECKING:
    from ..aws.connection import Connection
    from ..smtp.transport import SmtpError, SmtpSender

__all__ = ["SmtpRows", "is_quota", "smtp_rows"]


class _SmtpSource(Protocol):
    """What a session sending over SMTP offers a bulk send (:class:`~amlses.ses.SesSession`)."""

    @property
    def connection(self) -> Connection: ...

    def new_smtp_sender(self) -> SmtpSender: ...


@dataclass(frozen=True)
class _Message:
    """What is the same in every row's message."""

    source: str
    subject: str
    text: str | None
    html: str | None
    charset: str
    reply_to: Addresses
    return_path: str | None
    headers: tuple[tuple[str, str], ...]


class SmtpRows:
    """Sends one row's message over the calling worker's own SMTP connection."""

    def __init__(self, session: _SmtpSource, message: _Message) -> None:
        self.session = session
        self.message = message
        returns = parse_addresses(message.return_path, "RETURNPATH") if message.return_path else []
        self.mail_from = address_of(returns[0] if returns else message.source)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._senders: list[SmtpSender] = []

    @property
    def retries(self) -> int:
        """Resends after a refusal time may cure: ``MAXERRORRETRY``, else 2 (as single sends)."""
        configured = self.session.connection.max_error_retry
        return 2 if configured is None else configured

    def attempt(self, to: Sequence[str]) -> tuple[Outcome, SmtpError | None]:
        """Send the message to ``to``: its outcome, and the SMTP error if there was one."""
        from ..smtp.transport import SmtpError

        raw = self._raw(to)
        try:
            message_id = self._sender().send(raw, self.mail_from, [address_of(a) for a in to])
        except SmtpError as error:
            if error.unknown:
                return Outcome(UNKNOWN, error=unknown_outcome(error).message), error
            return Outcome(error.code, error=error.message, retry=error.retryable), error
        return Outcome("Success", message_id), None

    def _raw(self, to: Sequence[str]) -> bytes:
        m = self.message
        message = build_message(
            sender=m.source,
            to=to,
            reply_to=m.reply_to,
            subject=m.subject,
            text=m.text,
            html=m.html,
            charset=m.charset,
            return_path=m.return_path,
        )
        for name, value in m.headers:
            message[name] = value
        return message_bytes(message)

    def _sender(self) -> SmtpSender:
        sender: SmtpSender | None = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = self.session.new_smtp_sender()
            with self._lock:
                self._senders.append(sender)
        return sender

    def close_mine(self) -> None:
        """Close the calling worker's connection (QUIT), when it has no more rows."""
        sender: SmtpSender | None = getattr(self._local, "sender", None)
        if sender is not None:
            self._local.sender = None
            with self._lock:
                if sender in self._senders:
                    self._senders.remove(sender)
            sender.close()

    def close_all(self) -> None:
        """Close what is still open (a worker stopped by an interrupt left its own)."""
        with self._lock:
            senders, self._senders = self._senders, []
        for sender in senders:
            sender.close()


def is_quota(error: SmtpError | None) -> bool:
    """Whether an SMTP refusal is SES's used-up daily quota (final: stop the send)."""
    return error is not None and is_daily_quota(error.code, error.message)


def smtp_rows(
    session: object,
    *,
    template: str | None,
    sender: str,
    subject: str,
    text: str | None,
    html: str | None,
    charset: str,
    reply_to: Addresses,
    return_path: str | None,
    configuration_set: str | None,
    tags: Tags | None,
) -> SmtpRows | None:
    """What sends the rows over SMTP when ``session`` is an SMTP session, else None.

    SES's SMTP interface has no templates: a bulk send with one needs the API endpoint.
    """
    smtp = smtp_session(session)
    if smtp is None:
        return None
    if template:
        raise MailError(
            "NotSupportedOverSmtp",
            "A bulk send with TEMPLATE uses SendBulkTemplatedEmail, which SES's SMTP interface "
            "does not have: give the session the API endpoint "
            "(https://email.<region>.amazonaws.com), or send without TEMPLATE, with SUBJECT "
            "and TEXTBODY/HTMLBODY.",
        )
    message = _Message(
        source=sender,
        subject=subject,
        text=text,
        html=html,
        charset=charset,
        reply_to=reply_to,
        return_path=return_path,
        headers=tuple(ses_headers(configuration_set, tags)),
    )
    return SmtpRows(cast(_SmtpSource, smtp), message)
