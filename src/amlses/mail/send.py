"""Sending one message — ``SendEmail``, ``SendRawEmail``, ``SendTemplatedEmail`` — and which
failures may be resent.

**Nothing is sent twice.**  botocore's own retries repeat a request after a read timeout, a
dropped connection or a 5xx answer — cases where SES may well have accepted the message, so a
retry could deliver it again.  Sends therefore go through a client with botocore's retries
switched off (:meth:`SesClientSource.without_retries
<amlses.aws.clients.SesClientSource.without_retries>`), and this module retries a send itself
only when the failure proves SES did not take the message (:func:`not_accepted`): a throttling
answer (including "Maximum sending rate exceeded"), or a connection that could not even be
opened.  The number of retries is the connection's (``MAXERRORRETRY``, else the AWS
configuration, else 2), so the setting means the same here as everywhere else; only the set of
retried errors is narrower.  A "Daily message quota exceeded" answer is also a throttling
error, but waiting seconds cannot cure it, so it is never retried.

A failure after the request left — a read timeout, a connection dropped mid-request, a 5xx
answer — proves nothing either way: SES may have accepted the message.  Such a send ends as
:class:`~amlses.errors.UnknownOutcome` (code ``Unknown``, :func:`outcome_unknown`), which
nothing resends automatically: not this module, not botocore, not ``AM_RETRY``.  A send
given a ``cancel`` event (``AM_TIMEOUT`` abandoned the step) starts no attempt once it is set,
so no resend happens behind the task's back.

**Over SES's SMTP interface** (a session whose :attr:`~amlses.ses.SesSession.is_smtp` is
true) the same functions build the same MIME message ``SendRawEmail`` would carry — always, an
attachment or not — and hand it to the session's SMTP connection: every recipient, Bcc
included, in the envelope, Bcc in no header; the configuration set and tags as SES's
``X-SES-…`` headers; MAIL FROM the return path when one is given, else the sender.  SMTP draws
the line exactly: a failure before the message's content left, or a 4xx/5xx reply to it, is a
proven refusal (resent here only when it is retryable: throttling but not the daily quota, a
connection that could not be opened or was lost before the content, another 4xx); a connection
lost or a reply that never came after the content went out is :class:`UnknownOutcome`.  The
number of resends is ``MAXERRORRETRY``, else 2 (there is no botocore configuration to read).

SES refuses unverified senders; that, and the other SES errors users hit, are explained when
SES answers (:func:`explain`: the AWS code, message and request id are kept, a sentence saying
what to do is added).  The retry policy (:func:`retry_budget`, :class:`Backoff`,
:func:`not_accepted`) and the hints live here, with the single sends; the template and bulk
operations reuse them, so every part of :mod:`amlses.mail` resends by the same rules.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from os import PathLike
from typing import TYPE_CHECKING, Final, NoReturn, Protocol, TypedDict, cast

from ..aws.transport import translate_errors
from ..errors import AmlError, AwsError, UnknownOutcome
from .addresses import (
    address_of,
    check_recipients,
    parse_addresses,
    parse_tags,
    parse_template_data,
    single_sender,
    split_paths,
    template_name,
)
from .common import DEFAULT_CHARSET, Addresses, MailError, SendCancelled, Tags, TemplateData
from .mime import build_message, edit_headers, message_bytes, message_content, ses_headers

if TYPE_CHECKING:
    from collections.abc import Sequence

    from botocore.client import BaseClient

    from ..aws.clients import SesClientSource
    from ..aws.connection import Connection
    from ..smtp.transport import SmtpError

__all__ = [
    "explain",
    "is_daily_quota",
    "not_accepted",
    "send_email",
    "send_raw_email",
    "send_templated_email",
]

# Error codes that mean "slow down": SES uses Throttling; the others are AWS-wide spellings.
_THROTTLING: Final = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
# Retries when the connection's client reports no attempt count (spec 4.5's default: 3 attempts).
_DEFAULT_RETRIES: Final = 2
# Full-jitter exponential backoff between attempts, in seconds (as botocore's standard mode,
# with a smaller base: a send is cheap and the bucket already spaces requests out).
_BACKOFF_BASE: Final = 0.1
_BACKOFF_CAP: Final = 5.0


class BulkStatus(TypedDict, total=False):
    """One destination's entry in a ``SendBulkTemplatedEmail`` answer."""

    Status: str
    Error: str
    MessageId: str


class SendResponse(TypedDict, total=False):
    """What the send operations answer: a MessageId, or (bulk) one status per destination."""

    MessageId: str
    Status: list[BulkStatus]


class SmtpSession(Protocol):
    """What a session that sends over SES's SMTP interface offers (:class:`~amlses.ses.
    SesSession` with an SMTP endpoint)."""

    @property
    def is_smtp(self) -> bool: ...

    @property
    def connection(self) -> Connection: ...

    def send_smtp(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str: ...


def smtp_session(session: object) -> SmtpSession | None:
    """``session`` when it sends over SMTP, else None (it sends through SES's API)."""
    return cast(SmtpSession, session) if getattr(session, "is_smtp", False) is True else None


def retry_budget(session: SesClientSource) -> int:
    """Retries the connection allows: ``MAXERRORRETRY`` or the AWS configuration (spec 4.5).

    Read from the session's ordinary client, whose botocore config already resolved
    ``MAXERRORRETRY``, ``AWS_MAX_ATTEMPTS`` and the profile into ``total_max_attempts``.
    """
    retries = session.client.meta.config.retries or {}
    attempts = retries.get("total_max_attempts")
    return max(int(attempts) - 1, 0) if attempts else _DEFAULT_RETRIES


def is_daily_quota(code: str, message: str) -> bool:
    """Whether an SES error is the daily sending quota (a Throttling code, but final)."""
    return code in _THROTTLING and "daily message quota" in message.lower()


def not_accepted(error: AmlError) -> bool:
    """Whether ``error`` proves that SES did not accept the message, so resending is safe.

    True for throttling ("Rate exceeded", "Maximum sending rate exceeded") but not the daily
    quota, and for connections that failed before any byte of the request was sent (refused,
    DNS, connect timeout).  False for everything else — notably read timeouts, connections
    closed mid-request and 5xx answers, after which SES may have accepted the message.  An
    SMTP failure says it itself (:attr:`~amlses.smtp.transport.SmtpError.retryable`).
    """
    smtp = _smtp_error(error)
    if smtp is not None:
        return smtp.retryable
    from botocore import exceptions as bx

    cause = error.__cause__
    if isinstance(cause, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return True
    if isinstance(error, AwsError) and error.code in _THROTTLING:
        return not is_daily_quota(error.code, error.aws_message)
    return False


#: words of a TLS error that happened in the handshake, before any byte of the request was sent
_HANDSHAKE_FAILURES: Final = ("certificate", "handshake", "wrong version number", "unknown ca")


def outcome_unknown(error: AmlError) -> bool:
    """Whether SES may have accepted a message despite ``error``: the request left, and no
    answer proves a refusal.

    Proven refusals: an answer with a 4xx status (SES's own refusal: MessageRejected,
    Throttling, AccessDenied …) and failures before any byte of the request was sent (no
    connection, a connect timeout, a proxy or TLS handshake failure).  Unknown: a 5xx answer,
    a read timeout, a connection closed before the answer, an answer that could not be read.
    Over SMTP: a connection lost, or a reply that never came, after the content went out.
    """
    smtp = _smtp_error(error)
    if smtp is not None:
        return smtp.unknown
    from botocore import exceptions as bx
    from botocore.parsers import ResponseParserError

    cause = error.__cause__
    if isinstance(cause, bx.SSLError):
        # urllib3 reports a TLS failure while reading the answer as SSLError too: only a
        # failed handshake or certificate proves the request never left
        text = str(cause).lower()
        return not any(sign in text for sign in _HANDSHAKE_FAILURES)
    before_sending = (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)
    if isinstance(cause, before_sending):
        return False
    if isinstance(error, AwsError) and error.status is not None:
        return error.status >= 500
    after_sending = (bx.ReadTimeoutError, bx.ConnectionError, bx.HTTPClientError)
    return isinstance(cause, (*after_sending, ResponseParserError))


def _smtp_error(error: BaseException) -> SmtpError | None:
    """``error`` when it is an SMTP failure, else None."""
    from ..smtp.transport import SmtpError

    return error if isinstance(error, SmtpError) else None


def unknown_outcome(error: AmlError) -> UnknownOutcome:
    """The :class:`UnknownOutcome` a send ends with after ``error`` (kept as its cause)."""
    if _smtp_error(error) is not None:  # its message says what was lost, and when
        unknown = UnknownOutcome(
            f"{error.message} It was not sent again, so it reaches each recipient at most "
            "once; check before sending it again on purpose."
        )
        unknown.__cause__ = error
        return unknown
    reason = error.message.removeprefix("AWS error ")
    unknown = UnknownOutcome(
        f"SES may or may not have accepted the message ({reason}). It was not sent again, so "
        "it reaches each recipient at most once; check before sending it again on purpose."
    )
    unknown.__cause__ = error
    return unknown


class Backoff:
    """Backoff for resends: full jitter, exponential, capped; sleeps through the injected call."""

    def __init__(self, sleep: Callable[[float], None], rng: random.Random | None = None) -> None:
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def wait(self, attempt: int) -> None:
        with self._lock:  # random.Random is not documented as thread-safe
            delay = self._rng.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        self.sleep(delay)


def call(client: BaseClient, operation: str, params: Mapping[str, object]) -> SendResponse:
    """One SES request, botocore errors translated (``__cause__`` keeps the original)."""
    method = getattr(client, _SNAKE[operation])
    with translate_errors(operation):
        return cast(SendResponse, method(**params))


_SNAKE: Final = {
    "SendEmail": "send_email",
    "SendRawEmail": "send_raw_email",
    "SendTemplatedEmail": "send_templated_email",
    "SendBulkTemplatedEmail": "send_bulk_templated_email",
}


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise SendCancelled("the step was abandoned (AM_TIMEOUT): no further attempt")


def _send(
    session: SesClientSource,
    operation: str,
    params: Mapping[str, object],
    *,
    sleep: Callable[[float], None],
    facts: Mapping[str, str],
    cancel: threading.Event | None = None,
) -> str:
    """Send one message, resending only after errors that prove it was not accepted; no
    attempt starts once ``cancel`` is set (the step was abandoned)."""
    client = session.without_retries().client
    retries = retry_budget(session)
    backoff = Backoff(sleep)
    for attempt in itertools.count():
        _check_cancel(cancel)
        try:
            return str(call(client, operation, params)["MessageId"])
        except AwsError as error:
            if attempt < retries and not_accepted(error):
                backoff.wait(attempt)
                continue
            if outcome_unknown(error):
                raise unknown_outcome(error) from error
            raise_explained(error, facts)
    raise AssertionError("unreachable")  # pragma: no cover


def _send_smtp(
    session: SmtpSession,
    raw: bytes,
    mail_from: str,
    recipients: list[str],
    *,
    sleep: Callable[[float], None],
    facts: Mapping[str, str],
    cancel: threading.Event | None = None,
) -> str:
    """Send one message over SMTP, resending only after refusals that time may cure."""
    from ..smtp.transport import SmtpError

    configured = session.connection.max_error_retry
    retries = _DEFAULT_RETRIES if configured is None else configured
    backoff = Backoff(sleep)
    for attempt in itertools.count():
        _check_cancel(cancel)
        try:
            return session.send_smtp(raw, mail_from, recipients)
        except SmtpError as error:
            if error.unknown:
                raise unknown_outcome(error) from error
            if error.retryable and attempt < retries:
                backoff.wait(attempt)
                continue
            hint = _hint(error.code, error.message, facts)
            if hint is None:
                raise
            explained = SmtpError(
                f"{error.message.rstrip('. ')}. {hint}",
                code=error.code,
                reply_code=error.reply_code,
                retryable=error.retryable,
            )
            raise explained from error
    raise AssertionError("unreachable")  # pragma: no cover


def explain(error: AwsError, facts: Mapping[str, str]) -> AwsError:
    """``error`` with a sentence telling the user what to do, for the SES errors they hit.

    ``facts`` may name the ``sender``, ``template`` and ``configuration_set`` involved.  The
    AWS code, message and request id are kept, so ``AM_ERRORS`` matches as before.
    """
    hint = _hint(error.code, error.aws_message, facts)
    if hint is None:
        return error
    message = error.aws_message.rstrip(". ")
    text = f"{message}. {hint}" if message else hint
    return AwsError(error.code, text, request_id=error.request_id, operation=error.operation)


def raise_explained(error: AwsError, facts: Mapping[str, str]) -> NoReturn:
    """Raise :func:`explain`'s version of ``error`` (``error`` itself when nothing is added)."""
    explained = explain(error, facts)
    if explained is error:
        raise error
    raise explained from error


def _hint(code: str, message: str, facts: Mapping[str, str]) -> str | None:
    lowered = message.lower()
    sender = facts.get("sender") or "the sender"
    template = facts.get("template", "")
    if code == "MessageRejected" and ("not verified" in lowered or "authority" in lowered):
        return (
            f"SES sends only from verified identities: verify {sender} (or its domain) with "
            'ACTIVITY="verify_identity" and confirm the e-mail SES sends. While the account '
            "is in the SES sandbox, every recipient must be verified too. In --local runs, "
            "list the sender in the --fixture file."
        )
    if code == "TemplateDoesNotExist":
        return (
            f'There is no template named "{template}" in this account and region: create it '
            'with ACTIVITY="create_template", or see ACTIVITY="list_templates" for the names '
            "that exist (names are case-sensitive)."
        )
    if is_daily_quota(code, message):
        return (
            "The account's daily sending quota (Max24HourSend) is used up, and SES refuses "
            "every message until the rolling 24-hour window frees capacity; "
            'ACTIVITY="email_statistics" shows the quota. Ask AWS for a higher quota if this '
            "happens regularly."
        )
    if code in _THROTTLING and facts.get("bulk"):
        return "SES throttled every attempt: raise MAXERRORRETRY, or lower MAXSENDRATE."
    if code in _THROTTLING:
        return (
            "SES throttled every attempt (the account's MaxSendRate). Raise MAXERRORRETRY, "
            'send more slowly, or use ACTIVITY="send_bulk_email", which paces itself to the '
            "rate."
        )
    if code in ("AlreadyExists", "TemplateNameAlreadyExists"):
        return f'To change the template "{template}", use ACTIVITY="update_template".'
    if code in ("MissingRenderingAttribute", "InvalidRenderingParameter"):
        return "Give TEMPLATEDATA a JSON object with a value for every {{name}} of the template."
    if code.startswith("ConfigurationSetDoesNotExist"):
        return (
            f'The configuration set "{facts.get("configuration_set", "")}" does not exist in '
            "this region: create it in the SES console or correct CONFIGURATIONSET."
        )
    return None


def common_params(
    *,
    reply_to: Addresses,
    return_path: str | None,
    configuration_set: str | None,
    tags: Tags | None,
    tags_key: str = "Tags",
) -> dict[str, object]:
    """The parameters every send shares: reply-to, return path, configuration set, tags."""
    params: dict[str, object] = {}
    replies = parse_addresses(reply_to, "REPLYTO")
    if replies:
        params["ReplyToAddresses"] = replies
    if return_path:
        params["ReturnPath"] = address_of(parse_addresses(return_path, "RETURNPATH")[0])
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    tag_list = parse_tags(tags)
    if tag_list:
        params[tags_key] = tag_list
    return params


def send_email(
    session: SesClientSource,
    *,
    sender: str,
    to: Addresses = (),
    cc: Addresses = (),
    bcc: Addresses = (),
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    charset: str = DEFAULT_CHARSET,
    reply_to: Addresses = (),
    return_path: str | None = None,
    configuration_set: str | None = None,
    tags: Tags | None = None,
    attachments: Iterable[str | PathLike[str]] = (),
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> str:
    """Send one message; returns SES's MessageId.

    Without attachments this is ``SendEmail``.  With attachments the message is built with
    :func:`build_message` and sent with ``SendRawEmail``; Bcc recipients then go only in the
    envelope, and a ``return_path`` becomes the Return-Path header (SES lets a raw message's
    Source override that header, so Source is left out in that case).  Over SMTP the message
    is always built so (see the module docstring).  ``sleep`` is what the backoff between
    resends calls (see the module docstring for which errors are resent).
    """
    source = single_sender(sender)
    to_list, cc_list = parse_addresses(to, "TO"), parse_addresses(cc, "CC")
    bcc_list = parse_addresses(bcc, "BCC")
    check_recipients(to_list, cc_list, bcc_list)
    files = split_paths(list(attachments))
    facts = {"sender": address_of(source), "configuration_set": configuration_set or ""}
    smtp = smtp_session(session)
    if smtp is not None or files:  # a MIME message: over SMTP always, else for attachments
        if not files:
            message_content(subject, text, html, charset)  # a body, and SES's size limit
        message = build_message(
            sender=source,
            to=to_list,
            cc=cc_list,
            reply_to=reply_to,
            subject=subject,
            text=text,
            html=html,
            charset=charset,
            attachments=files,
            return_path=return_path,
        )
    if smtp is not None:
        for name, value in ses_headers(configuration_set, tags):
            message[name] = value
        envelope = [address_of(a) for a in (*to_list, *cc_list, *bcc_list)]
        returns = parse_addresses(return_path, "RETURNPATH") if return_path else [source]
        data = message_bytes(message)
        return _send_smtp(
            smtp, data, address_of(returns[0]), envelope, sleep=sleep, facts=facts, cancel=cancel
        )
    if files:
        envelope = [*to_list, *cc_list, *bcc_list] if bcc_list else []
        params = _raw_params(message, source, envelope, return_path=bool(return_path))
        params.update(
            common_params(
                reply_to=(), return_path=None, configuration_set=configuration_set, tags=tags
            )
        )
        return _send(session, "SendRawEmail", params, sleep=sleep, facts=facts, cancel=cancel)
    params = {
        "Source": source,
        "Destination": _destination(to_list, cc_list, bcc_list),
        "Message": message_content(subject, text, html, charset),
        **common_params(
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
        ),
    }
    return _send(session, "SendEmail", params, sleep=sleep, facts=facts, cancel=cancel)


def _raw_params(
    message: EmailMessage, source: str, envelope: list[str], *, return_path: bool
) -> dict[str, object]:
    """SendRawEmail's parameters for a message :func:`build_message` made.

    ``envelope`` (every recipient) is given as ``Destinations`` only when there are Bcc
    recipients, who appear in no header; otherwise SES reads To and Cc from the headers.
    (moto counts header and envelope addresses both, so giving both always would make it
    see twice the recipients.)  ``Source`` is left out with a Return-Path header, because SES
    lets Source override that header.
    """
    params: dict[str, object] = {"RawMessage": {"Data": message_bytes(message)}}
    if envelope:
        params["Destinations"] = envelope
    if not return_path:
        params["Source"] = source
    return params


def _destination(to: list[str], cc: list[str], bcc: list[str]) -> dict[str, list[str]]:
    destination: dict[str, list[str]] = {}
    for key, addresses in (("ToAddresses", to), ("CcAddresses", cc), ("BccAddresses", bcc)):
        if addresses:
            destination[key] = addresses
    return destination


def send_raw_email(
    session: SesClientSource,
    message: EmailMessage | bytes | str,
    *,
    sender: str | None = None,
    destinations: Addresses = (),
    configuration_set: str | None = None,
    tags: Tags | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> str:
    """Send a prepared MIME message as it is (``SendRawEmail``); returns the MessageId.

    ``sender`` (Source) defaults to the message's From header; ``destinations`` default to
    its To, Cc and Bcc headers.  The message must name a sender and at least one recipient
    one way or the other, and stay within SES's 50 recipients and 10 MB.  Over SMTP the
    message goes byte for byte as well, except that a Bcc header is taken out and SES's
    headers for ``configuration_set`` and ``tags`` are put in.
    """
    data = message_bytes(message)
    headers = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    source = single_sender(sender) if sender else ""
    if not source and not headers.get("From"):
        raise MailError(
            "InvalidMessage",
            "The message has no From header and no FROM was given: SES needs to know which "
            "verified identity sends it.",
        )
    given = parse_addresses(destinations, "the destinations")
    found: list[str] = []
    if given:
        check_recipients(given, [], [])
    else:
        found = [
            a
            for _, a in getaddresses(
                [str(v) for k in ("To", "Cc", "Bcc") for v in headers.get_all(k, [])]
            )
            if a
        ]
        check_recipients(found, [], [])
    sender_text = source or str(headers.get("From", ""))
    facts = {
        "sender": address_of(sender_text) or sender_text,
        "configuration_set": configuration_set or "",
    }
    smtp = smtp_session(session)
    if smtp is not None:
        mail_from = address_of(source) if source else _first_address(headers.get_all("From", []))
        data = edit_headers(data, add=ses_headers(configuration_set, tags), remove=("Bcc",))
        envelope = [address_of(a) for a in given] if given else found
        return _send_smtp(smtp, data, mail_from, envelope, sleep=sleep, facts=facts, cancel=cancel)
    params: dict[str, object] = {"RawMessage": {"Data": data}}
    if source:
        params["Source"] = source
    if given:
        params["Destinations"] = given
    params.update(
        common_params(reply_to=(), return_path=None, configuration_set=configuration_set, tags=tags)
    )
    return _send(session, "SendRawEmail", params, sleep=sleep, facts=facts, cancel=cancel)


def _first_address(values: list[object]) -> str:
    """The bare address of the first From header, or a MailError when it names none."""
    for _, found in getaddresses([str(v) for v in values]):
        if found:
            return found
    raise MailError(
        "InvalidMessage",
        "The message's From header names no address and no FROM was given: SES needs to "
        "know which verified identity sends it.",
    )


def send_templated_email(
    session: SesClientSource,
    *,
    sender: str,
    template: str,
    template_data: TemplateData | None = None,
    to: Addresses = (),
    cc: Addresses = (),
    bcc: Addresses = (),
    reply_to: Addresses = (),
    return_path: str | None = None,
    configuration_set: str | None = None,
    tags: Tags | None = None,
    sleep: Callable[[float], None] = time.sleep,
    cancel: threading.Event | None = None,
) -> str:
    """Send a stored template to one destination (``SendTemplatedEmail``); the MessageId.

    ``template_data`` is a JSON object (text or mapping) with a value for each ``{{name}}``
    of the template; it is checked before the request (see :func:`parse_template_data`).
    """
    source = single_sender(sender)
    name = template_name(template)
    data = parse_template_data(template_data, "TEMPLATEDATA")
    to_list, cc_list = parse_addresses(to, "TO"), parse_addresses(cc, "CC")
    bcc_list = parse_addresses(bcc, "BCC")
    check_recipients(to_list, cc_list, bcc_list)
    params = {
        "Source": source,
        "Destination": _destination(to_list, cc_list, bcc_list),
        "Template": name,
        "TemplateData": data,
        **common_params(
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
        ),
    }
    facts = {
        "sender": address_of(source),
        "template": name,
        "configuration_set": configuration_set or "",
    }
    return _send(session, "SendTemplatedEmail", params, sleep=sleep, facts=facts, cancel=cancel)
