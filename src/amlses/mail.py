"""Sending mail through SES — an amlses extension, not part of Automate's documented action.

Automate's ``<AMAWSSES>`` manages identities but cannot send; this module adds sending as a
plain Python API over :class:`~amlses.ses.SesSession`, and ``actions/mail.py`` maps AML
attributes onto it.  Everything works on the session's connection, so credentials, endpoint,
proxy and secret handling are those of the other activities::

    from amlses import mail
    from amlses.ses import SesSession

    with SesSession(endpoint_url="http://127.0.0.1:5000") as ses:
        mail.send_email(ses, sender="me@example.com", to="ann@example.com; bob@example.com",
                        subject="Report", text="Attached.", attachments=["report.pdf"])
        report = mail.send_bulk_email(ses, ["a@example.com", "b@example.com"],
                                      sender="me@example.com", template="Welcome")

**Nothing is sent twice.**  botocore's own retries repeat a request after a read timeout, a
dropped connection or a 5xx answer — cases where SES may well have accepted the message, so a
retry could deliver it again.  Sends therefore go through a client with botocore's retries
switched off (:meth:`SesSession.without_retries`), and this module retries a send itself only
when the failure proves SES did not take the message: a throttling answer (including "Maximum
sending rate exceeded"), or a connection that could not even be opened.  The number of retries
is the connection's (``MAXERRORRETRY``, else the AWS configuration, else 2), so the setting
means the same here as everywhere else; only the set of retried errors is narrower.  A "Daily
message quota exceeded" answer is also a throttling error, but waiting seconds cannot cure it,
so it is never retried.

**Bulk sends** (:func:`send_bulk_email`) pace themselves with a :class:`TokenBucket` at the
account's ``MaxSendRate`` (SES counts recipients, not calls) and run the calls on a thread pool
— botocore clients are thread-safe.  With a template they use ``SendBulkTemplatedEmail``, up to
50 destinations a call, and retry only the destinations SES reports as throttled; without one,
one ``SendEmail`` per row.  A failed recipient never stops the others; its row in the report
says why.

Messages with attachments are built with the standard library's :mod:`email` package and sent
with ``SendRawEmail``.  SES refuses messages over 10 MB (after base64 encoding), more than 50
recipients, and unverified senders; the first two are caught here before any request, the
third is explained when SES answers.
"""

from __future__ import annotations

import itertools
import json
import math
import mimetypes
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formataddr, formatdate, getaddresses, parseaddr
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, NoReturn, TypedDict, cast

from .errors import AmlError, AwsError, StepError
from .ses import paginate, translate_errors

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from .ses import SesSession

__all__ = [
    "DEFAULT_CHARSET",
    "MAX_BULK_DESTINATIONS",
    "MAX_MESSAGE_BYTES",
    "MAX_RECIPIENTS",
    "BulkRecipient",
    "BulkReport",
    "Delivery",
    "MailError",
    "Template",
    "TemplateInfo",
    "TokenBucket",
    "address_of",
    "build_message",
    "create_template",
    "delete_template",
    "explain",
    "get_template",
    "is_daily_quota",
    "list_templates",
    "not_accepted",
    "parse_addresses",
    "parse_tags",
    "parse_template_data",
    "send_bulk_email",
    "send_email",
    "send_raw_email",
    "send_templated_email",
    "split_paths",
    "test_render_template",
    "update_template",
]

#: SES takes at most 50 recipients (To + Cc + Bcc) per message.
MAX_RECIPIENTS: Final = 50
#: SendBulkTemplatedEmail takes at most 50 destinations per call.
MAX_BULK_DESTINATIONS: Final = 50
#: SES's limit for a whole message, attachments included, after base64 encoding.
MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024
DEFAULT_CHARSET: Final = "UTF-8"

# Error codes that mean "slow down": SES uses Throttling; the others are AWS-wide spellings.
_THROTTLING: Final = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException"})
# Per-destination statuses of SendBulkTemplatedEmail that say SES did not take that destination
# and that time can cure; the other failure statuses (MessageRejected, …) are final.
_RETRYABLE_STATUSES: Final = frozenset({"AccountThrottled", "TransientFailure"})
_DAILY_QUOTA_STATUS: Final = "AccountDailyQuotaExceeded"
# Retries when the connection's client reports no attempt count (spec 4.5's default: 3 attempts).
_DEFAULT_RETRIES: Final = 2
# Full-jitter exponential backoff between attempts, in seconds (as botocore's standard mode,
# with a smaller base: a send is cheap and the bucket already spaces requests out).
_BACKOFF_BASE: Final = 0.1
_BACKOFF_CAP: Final = 5.0
# Worker threads for bulk sends: enough to keep the rate if a call takes 150 ms (SendEmail from
# a client far from its region), at most 32.  Beyond botocore's pool of 10 connections the extra
# threads open connections that are not kept (urllib3 discards them quietly): a small cost next
# to 10 threads capping a 150 ms round trip at 66 messages a second.
_MAX_WORKERS: Final = 32
_ASSUMED_LATENCY: Final = 0.15
# A list separator outside quotes and <…>: addresses are written "a@x.com; B <b@x.com>, …".
_LIST_SEPARATORS: Final = ",;"
_PATH_SEPARATORS: Final = "|;"

Addresses = str | Iterable[str]
Tags = str | Mapping[str, str]
TemplateData = str | Mapping[str, Any]


class MailError(StepError):
    """A message that cannot be sent as given, found before any request is made.

    ``code`` names the problem for ``AM_ERRORS`` and the bulk report's ``Status`` column:
    ``NoRecipients``, ``TooManyRecipients``, ``InvalidAddress``, ``InvalidTag``, ``NoBody``,
    ``InvalidCharset``, ``InvalidTemplateData``, ``AttachmentNotFound``, ``MessageTooLarge``,
    ``InvalidMessage``, ``AccountDailyQuotaExceeded``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------
# Parsing what a user writes


def parse_addresses(value: Addresses | None, what: str = "the address list") -> list[str]:
    """Addresses from ``"a@x.com; Bob <b@x.com>, …"`` (or a sequence of such strings).

    Commas and semicolons separate addresses, except inside quotes and ``<…>``, so
    ``"Doe, John" <j@x.com>`` stays one address.  Each address is checked and normalised the
    way SES wants it: a non-ASCII display name becomes a MIME encoded-word and a non-ASCII
    domain becomes punycode.  Raises :class:`MailError` (``InvalidAddress``) naming ``what``.
    """
    if value is None:
        return []
    texts = [value] if isinstance(value, str) else list(value)
    return [_normalised_address(item, what) for text in texts for item in _split_list(text)]


def _split_list(text: str, separators: str = _LIST_SEPARATORS) -> list[str]:
    """``text`` split at ``separators`` outside double quotes and angle brackets."""
    items: list[str] = []
    current: list[str] = []
    quoted = angled = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"' and not angled:
            quoted = not quoted
        elif char == "<" and not quoted:
            angled = True
        elif char == ">" and not quoted:
            angled = False
        elif char in separators and not quoted and not angled:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def _normalised_address(item: str, what: str) -> str:
    name, address = parseaddr(item)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in address):
        raise MailError(
            "InvalidAddress",
            f'"{item}" in {what} is not an e-mail address; write addresses like '
            '"ann@example.com" or "Ann Lee <ann@example.com>", separated by commas or '
            "semicolons.",
        )
    if not local.isascii():
        raise MailError(
            "InvalidAddress",
            f'"{item}" in {what} has non-ASCII characters before the @, which SES does not accept.',
        )
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise MailError("InvalidAddress", f'"{item}" in {what} has an invalid domain.') from None
    address = f"{local}@{domain}"
    return formataddr((name, address), charset="utf-8") if name else address


def address_of(entry: str) -> str:
    """The bare address of a normalised entry (``Ann <a@x.com>`` -> ``a@x.com``)."""
    return parseaddr(entry)[1]


def parse_tags(value: Tags | None) -> list[dict[str, str]]:
    """Message tags from ``"campaign=spring; team=sales"`` (or a mapping), in SES's shape.

    SES tags classify sent mail for event publishing through a configuration set.  Raises
    :class:`MailError` (``InvalidTag``) for an entry that is not ``name=value``.
    """
    if not value:
        return []
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in _split_list(value):
            name, eq, tag_value = item.partition("=")
            if not eq or not name.strip() or not tag_value.strip():
                raise MailError(
                    "InvalidTag",
                    f'The tag "{item}" is not name=value; write tags like '
                    '"campaign=spring; team=sales".',
                )
            pairs.append((name.strip(), tag_value.strip()))
    return [{"Name": name, "Value": tag_value} for name, tag_value in pairs]


def parse_template_data(data: TemplateData | None, what: str = "the template data") -> str:
    """The JSON object text for a template's replacement data; ``None``/empty is ``{}``.

    SES answers bad JSON only when it renders, after the message was accepted for sending
    (the rendering failure then arrives as an event), so the text is checked here first.
    Raises :class:`MailError` (``InvalidTemplateData``) saying where the JSON breaks.
    """
    if data is None:
        return "{}"
    if isinstance(data, Mapping):
        return json.dumps(dict(data), ensure_ascii=False, default=str)
    text = data.strip()
    if not text:
        return "{}"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MailError(
            "InvalidTemplateData",
            f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno} of "
            f'{_excerpt(text)}. Write a JSON object such as {{"name": "Ann"}} (in AML, '
            "put the attribute value in single quotes or write &quot; for each double "
            "quote).",
        ) from None
    if not isinstance(parsed, dict):
        raise MailError(
            "InvalidTemplateData",
            f'{what} must be a JSON object such as {{"name": "Ann"}}, not a JSON '
            f"{type(parsed).__name__}: {_excerpt(text)}.",
        )
    return text


def _excerpt(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def split_paths(value: str | Iterable[str | PathLike[str]] | None) -> list[Path]:
    """File paths from ``"a.pdf|b.csv"`` (``|`` or ``;`` separated) or a sequence.

    ``|`` cannot occur in a Windows file name, which makes it the safe separator for
    Automate users; ``;`` is accepted too.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [Path(item) for item in _split_list(value, _PATH_SEPARATORS)]
    return [Path(item) for item in value]


# --------------------------------------------------------------------------------------------
# Building MIME messages


def build_message(
    *,
    sender: str,
    to: Addresses = (),
    cc: Addresses = (),
    reply_to: Addresses = (),
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    charset: str = DEFAULT_CHARSET,
    attachments: Iterable[str | PathLike[str]] = (),
    return_path: str | None = None,
) -> EmailMessage:
    """A MIME message built with :mod:`email` (never by hand): text and/or HTML, attachments.

    Bcc recipients are deliberately absent: they travel only in the envelope (SendRawEmail's
    ``Destinations``), never in a header every recipient can read.  Raises :class:`MailError`
    for a missing or oversized attachment and for text the charset cannot encode.
    """
    files = _checked_attachments(split_paths(list(attachments)))
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = parse_addresses(sender, "FROM")[0] if sender else ""
    for header, value in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        addresses = parse_addresses(value, header)
        if addresses:
            message[header] = ", ".join(addresses)
    if return_path:
        message["Return-Path"] = parse_addresses(return_path, "RETURNPATH")[0]
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    codec = charset.lower()
    try:
        if text is not None or html is None:
            message.set_content(text or "", charset=codec)
            if html is not None:
                message.add_alternative(html, subtype="html", charset=codec)
        else:
            message.set_content(html, subtype="html", charset=codec)
    except (UnicodeError, LookupError) as exc:
        raise MailError(
            "InvalidCharset",
            f"The message body cannot be written in charset {charset}: {exc}. Use UTF-8.",
        ) from None
    for path in files:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = ctype.partition("/")
        message.add_attachment(
            _read_attachment(path), maintype=maintype, subtype=subtype, filename=path.name
        )
    return message


def _checked_attachments(paths: list[Path]) -> list[Path]:
    """Every path exists and is a file, and base64 keeps their sum under the SES limit.

    Checked from the file sizes before anything is read, so a 2 GB file fails at once.
    """
    sizes: list[tuple[Path, int]] = []
    for path in paths:
        if not path.is_file():
            why = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise MailError(
                "AttachmentNotFound",
                f"The attachment {path} {why}; ATTACHMENTS takes file paths separated by | "
                "(or ;), relative paths being relative to the task file's folder.",
            )
        sizes.append((path, path.stat().st_size))
    total = sum(size for _, size in sizes)
    if _base64_size(total) > MAX_MESSAGE_BYTES:
        listing = ", ".join(f"{path.name} ({_megabytes(size)})" for path, size in sizes)
        raise MailError(
            "MessageTooLarge",
            f"The attachments {listing} add up to {_megabytes(total)}, about "
            f"{_megabytes(_base64_size(total))} once base64-encoded, and SES accepts at most "
            f"{_megabytes(MAX_MESSAGE_BYTES)} per message, attachments included. Share large "
            "files by link, or spread them over several messages.",
        )
    return paths


def _base64_size(size: int) -> int:
    """Bytes after base64 with 76-character lines and CRLF (what :mod:`email` produces)."""
    encoded = 4 * math.ceil(size / 3)
    return encoded + 2 * math.ceil(encoded / 76)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _read_attachment(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MailError(
            "AttachmentNotFound", f"The attachment {path} cannot be read: {exc.strerror or exc}"
        ) from None


def _message_bytes(message: EmailMessage | bytes | str) -> bytes:
    """The wire form of a message, refused when over SES's size limit."""
    if isinstance(message, EmailMessage):
        data = message.as_bytes(policy=policy.SMTP)
    elif isinstance(message, str):
        data = message.encode("utf-8")
    else:
        data = message
    if len(data) > MAX_MESSAGE_BYTES:
        raise MailError(
            "MessageTooLarge",
            f"The message is {_megabytes(len(data))} and SES accepts at most "
            f"{_megabytes(MAX_MESSAGE_BYTES)} per message, attachments included "
            "(after base64 encoding).",
        )
    return data


# --------------------------------------------------------------------------------------------
# Sending once, retrying only what SES provably did not accept


def _retry_budget(session: SesSession) -> int:
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
    closed mid-request and 5xx answers, after which SES may have accepted the message.
    """
    from botocore import exceptions as bx

    cause = error.__cause__
    if isinstance(cause, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return True
    if isinstance(error, AwsError) and error.code in _THROTTLING:
        return not is_daily_quota(error.code, error.aws_message)
    return False


class _Retry:
    """Backoff for resends: full jitter, exponential, capped; sleeps through the injected call."""

    def __init__(self, sleep: Callable[[float], None], rng: random.Random | None = None) -> None:
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def wait(self, attempt: int) -> None:
        with self._lock:  # random.Random is not documented as thread-safe
            delay = self._rng.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        self.sleep(delay)


def _call(client: BaseClient, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """One SES request, botocore errors translated (``__cause__`` keeps the original)."""
    method = getattr(client, _SNAKE[operation])
    with translate_errors(operation):
        return cast(dict[str, Any], method(**params))


_SNAKE: Final = {
    "SendEmail": "send_email",
    "SendRawEmail": "send_raw_email",
    "SendTemplatedEmail": "send_templated_email",
    "SendBulkTemplatedEmail": "send_bulk_templated_email",
}


def _send(
    session: SesSession,
    operation: str,
    params: Mapping[str, Any],
    *,
    sleep: Callable[[float], None],
    facts: Mapping[str, str],
) -> str:
    """Send one message, resending only after errors that prove it was not accepted."""
    client = session.without_retries().client
    retries = _retry_budget(session)
    backoff = _Retry(sleep)
    for attempt in itertools.count():
        try:
            return str(_call(client, operation, params)["MessageId"])
        except AwsError as error:
            if attempt >= retries or not not_accepted(error):
                _raise_explained(error, facts)
            backoff.wait(attempt)
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


def _raise_explained(error: AwsError, facts: Mapping[str, str]) -> NoReturn:
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


def _recipients(to: list[str], cc: list[str], bcc: list[str]) -> None:
    """SES's recipient rules: at least one, at most 50 (To + Cc + Bcc)."""
    total = len(to) + len(cc) + len(bcc)
    if total == 0:
        raise MailError(
            "NoRecipients",
            "The message has no recipients: give at least one address in TO, CC or BCC.",
        )
    if total > MAX_RECIPIENTS:
        raise MailError(
            "TooManyRecipients",
            f"The message has {total} recipients (To {len(to)}, Cc {len(cc)}, Bcc {len(bcc)}) "
            f"and SES accepts at most {MAX_RECIPIENTS} per message; split the list, or use "
            'ACTIVITY="send_bulk_email", which sends one message per recipient.',
        )


def _common_params(
    *,
    reply_to: Addresses,
    return_path: str | None,
    configuration_set: str | None,
    tags: Tags | None,
    tags_key: str = "Tags",
) -> dict[str, Any]:
    params: dict[str, Any] = {}
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


def _sender(sender: str) -> str:
    addresses = parse_addresses(sender, "FROM")
    if len(addresses) != 1:
        raise MailError(
            "InvalidAddress",
            "FROM must be exactly one address, the verified identity the mail comes from.",
        )
    return addresses[0]


# --------------------------------------------------------------------------------------------
# The single-message sends


def send_email(
    session: SesSession,
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
) -> str:
    """Send one message; returns SES's MessageId.

    Without attachments this is ``SendEmail``.  With attachments the message is built with
    :func:`build_message` and sent with ``SendRawEmail``; Bcc recipients then go only in the
    envelope, and a ``return_path`` becomes the Return-Path header (SES lets a raw message's
    Source override that header, so Source is left out in that case).  ``sleep`` is what the
    backoff between resends calls (see the module docstring for which errors are resent).
    """
    source = _sender(sender)
    to_list, cc_list = parse_addresses(to, "TO"), parse_addresses(cc, "CC")
    bcc_list = parse_addresses(bcc, "BCC")
    _recipients(to_list, cc_list, bcc_list)
    files = split_paths(list(attachments))
    facts = {"sender": address_of(source), "configuration_set": configuration_set or ""}
    if files:
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
        envelope = [*to_list, *cc_list, *bcc_list] if bcc_list else []
        params = _raw_params(message, source, envelope, return_path=bool(return_path))
        params.update(
            _common_params(
                reply_to=(), return_path=None, configuration_set=configuration_set, tags=tags
            )
        )
        return _send(session, "SendRawEmail", params, sleep=sleep, facts=facts)
    params = {
        "Source": source,
        "Destination": _destination(to_list, cc_list, bcc_list),
        "Message": _content(subject, text, html, charset),
        **_common_params(
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
        ),
    }
    return _send(session, "SendEmail", params, sleep=sleep, facts=facts)


def _raw_params(
    message: EmailMessage, source: str, envelope: list[str], *, return_path: bool
) -> dict[str, Any]:
    """SendRawEmail's parameters for a message :func:`build_message` made.

    ``envelope`` (every recipient) is given as ``Destinations`` only when there are Bcc
    recipients, who appear in no header; otherwise SES reads To and Cc from the headers.
    (moto counts header and envelope addresses both, so giving both always would make it
    see twice the recipients.)  ``Source`` is left out with a Return-Path header, because SES
    lets Source override that header.
    """
    params: dict[str, Any] = {"RawMessage": {"Data": _message_bytes(message)}}
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


def _content(subject: str, text: str | None, html: str | None, charset: str) -> dict[str, Any]:
    """SendEmail's ``Message``: subject and bodies, checked against the size limit."""
    if text is None and html is None:
        raise MailError(
            "NoBody",
            "The message has no body: give TEXTBODY or HTMLBODY (or TEXTBODYFILE / "
            "HTMLBODYFILE), or both.",
        )
    body: dict[str, Any] = {}
    if text is not None:
        body["Text"] = {"Data": text, "Charset": charset}
    if html is not None:
        body["Html"] = {"Data": html, "Charset": charset}
    size = sum(len(part.encode("utf-8")) for part in (subject, text or "", html or ""))
    if size > MAX_MESSAGE_BYTES:
        raise MailError(
            "MessageTooLarge",
            f"The message is {_megabytes(size)} and SES accepts at most "
            f"{_megabytes(MAX_MESSAGE_BYTES)} per message.",
        )
    return {"Subject": {"Data": subject, "Charset": charset}, "Body": body}


def send_raw_email(
    session: SesSession,
    message: EmailMessage | bytes | str,
    *,
    sender: str | None = None,
    destinations: Addresses = (),
    configuration_set: str | None = None,
    tags: Tags | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Send a prepared MIME message as it is (``SendRawEmail``); returns the MessageId.

    ``sender`` (Source) defaults to the message's From header; ``destinations`` default to
    its To, Cc and Bcc headers.  The message must name a sender and at least one recipient
    one way or the other, and stay within SES's 50 recipients and 10 MB.
    """
    data = _message_bytes(message)
    headers = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    source = _sender(sender) if sender else ""
    if not source and not headers.get("From"):
        raise MailError(
            "InvalidMessage",
            "The message has no From header and no FROM was given: SES needs to know which "
            "verified identity sends it.",
        )
    given = parse_addresses(destinations, "the destinations")
    if given:
        _recipients(given, [], [])
    else:
        found = [
            a
            for _, a in getaddresses(
                [str(v) for k in ("To", "Cc", "Bcc") for v in headers.get_all(k, [])]
            )
            if a
        ]
        _recipients(found, [], [])
    params: dict[str, Any] = {"RawMessage": {"Data": data}}
    if source:
        params["Source"] = source
    if given:
        params["Destinations"] = given
    params.update(
        _common_params(
            reply_to=(), return_path=None, configuration_set=configuration_set, tags=tags
        )
    )
    sender_text = source or str(headers.get("From", ""))
    facts = {
        "sender": address_of(sender_text) or sender_text,
        "configuration_set": configuration_set or "",
    }
    return _send(session, "SendRawEmail", params, sleep=sleep, facts=facts)


def send_templated_email(
    session: SesSession,
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
) -> str:
    """Send a stored template to one destination (``SendTemplatedEmail``); the MessageId.

    ``template_data`` is a JSON object (text or mapping) with a value for each ``{{name}}``
    of the template; it is checked before the request (see :func:`parse_template_data`).
    """
    source = _sender(sender)
    name = _template_name(template)
    data = parse_template_data(template_data, "TEMPLATEDATA")
    to_list, cc_list = parse_addresses(to, "TO"), parse_addresses(cc, "CC")
    bcc_list = parse_addresses(bcc, "BCC")
    _recipients(to_list, cc_list, bcc_list)
    params = {
        "Source": source,
        "Destination": _destination(to_list, cc_list, bcc_list),
        "Template": name,
        "TemplateData": data,
        **_common_params(
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
    return _send(session, "SendTemplatedEmail", params, sleep=sleep, facts=facts)


# --------------------------------------------------------------------------------------------
# Templates


@dataclass(frozen=True)
class Template:
    """An SES template: ``{{name}}`` placeholders in subject and bodies."""

    name: str
    subject: str
    text: str = ""
    html: str = ""


class TemplateInfo(NamedTuple):
    """One row of :func:`list_templates`; field names are the dataset's columns."""

    Name: str
    CreatedTimestamp: datetime | str


class _TemplateResponse(TypedDict, total=False):
    TemplateName: str
    SubjectPart: str
    TextPart: str
    HtmlPart: str


def _template_name(name: str) -> str:
    if not name or not name.strip():
        raise StepError("The template name is empty; give TEMPLATE.")
    return name.strip()


@contextmanager
def _checked(operation: str, template: str) -> Iterator[None]:
    """:func:`~amlses.ses.translate_errors`, then :func:`explain` for the template errors."""
    try:
        with translate_errors(operation):
            yield
    except AwsError as error:
        _raise_explained(error, {"template": template})


def _template_payload(
    name: str, subject: str, text: str | None, html: str | None
) -> dict[str, str]:
    if not subject.strip():
        raise StepError("A template needs a subject; give SUBJECT (it may use {{name}}).")
    if text is None and html is None:
        raise MailError("NoBody", "A template needs a body: give TEXTBODY or HTMLBODY, or both.")
    payload = {"TemplateName": _template_name(name), "SubjectPart": subject}
    if text is not None:
        payload["TextPart"] = text
    if html is not None:
        payload["HtmlPart"] = html
    return payload


def create_template(
    session: SesSession,
    name: str,
    *,
    subject: str,
    text: str | None = None,
    html: str | None = None,
) -> None:
    """Create a template; one of the same name already existing is an error (SES)."""
    _put_template(session, "CreateTemplate", name, subject, text, html)


def update_template(
    session: SesSession,
    name: str,
    *,
    subject: str,
    text: str | None = None,
    html: str | None = None,
) -> None:
    """Replace an existing template's subject and bodies."""
    _put_template(session, "UpdateTemplate", name, subject, text, html)


def _put_template(
    session: SesSession,
    operation: str,
    name: str,
    subject: str,
    text: str | None,
    html: str | None,
) -> None:
    """CreateTemplate and UpdateTemplate take the same payload; one place builds and sends it."""
    payload = _template_payload(name, subject, text, html)
    call = (
        session.client.create_template
        if operation == "CreateTemplate"
        else (session.client.update_template)
    )
    with _checked(operation, payload["TemplateName"]):
        call(Template=payload)


def delete_template(session: SesSession, name: str) -> bool:
    """Delete a template; returns whether it existed.

    Deleting a template that does not exist succeeds, as in SES (and like deleting an
    identity, spec 4.13).  The existence check (``GetTemplate``) comes first because moto
    answers that case with a 500 rather than SES's 200.
    """
    template = _template_name(name)
    try:
        get_template(session, template)
    except AwsError as error:
        if error.code != "TemplateDoesNotExist":
            raise
        return False
    with _checked("DeleteTemplate", template):
        session.client.delete_template(TemplateName=template)
    return True


def get_template(session: SesSession, name: str) -> Template:
    """A template's subject and bodies."""
    template = _template_name(name)
    with _checked("GetTemplate", template):
        raw = cast(
            _TemplateResponse, session.client.get_template(TemplateName=template)["Template"]
        )
    return Template(
        raw.get("TemplateName", template),
        raw.get("SubjectPart", ""),
        raw.get("TextPart", ""),
        raw.get("HtmlPart", ""),
    )


def list_templates(session: SesSession) -> list[TemplateInfo]:
    """Every template of the account and region, across all pages, in SES order."""
    pages = paginate(session.client.list_templates, "ListTemplates", MaxItems=100)  # SES's max
    return [
        TemplateInfo(str(item["Name"]), item.get("CreatedTimestamp", ""))
        for page in pages
        for item in page.get("TemplatesMetadata", [])
    ]


def test_render_template(session: SesSession, name: str, data: TemplateData | None) -> str:
    """The MIME message SES would send for ``name`` with ``data`` (``TestRenderTemplate``)."""
    template = _template_name(name)
    text = parse_template_data(data, "TEMPLATEDATA")
    with _checked("TestRenderTemplate", template):
        response = session.client.test_render_template(TemplateName=template, TemplateData=text)
    return str(response["RenderedTemplate"])


# --------------------------------------------------------------------------------------------
# Pacing


class TokenBucket:
    """A thread-safe token bucket: on average ``rate`` tokens a second, bursts up to ``burst``.

    :meth:`acquire` reserves tokens and sleeps until they are due.  Reservations may run the
    bucket into debt, so a request for more tokens than ``burst`` (a 50-destination bulk call
    on a 14/s account) still works: it simply waits longer, and so do the callers after it.
    Waiting happens outside the lock.  ``clock`` and ``sleep`` are injected so tests control
    time.  A rate of ``inf`` never waits.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"the rate must be positive, not {rate}")
        self.rate = rate
        # A tenth of a second's worth absorbs scheduling jitter without bursting noticeably.
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = min(1.0, self.burst)  # start nearly empty: no opening burst
        self._last = clock()

    def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, sleeping until the rate allows them; returns the seconds waited."""
        if math.isinf(self.rate):
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= tokens
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


# --------------------------------------------------------------------------------------------
# Bulk sending


@dataclass(frozen=True)
class BulkRecipient:
    """One message of a bulk send: its row number, the To address(es) and template data."""

    row: int
    to: str
    data: Mapping[str, Any] = field(default_factory=dict)


class Delivery(NamedTuple):
    """What happened to one recipient; the field names are the result dataset's columns.

    ``Status`` is ``Success`` or a failure code (an SES error code or status, or a
    :class:`MailError` code; ``NotSent`` when the run stopped before that row).
    """

    Row: int
    Recipient: str
    Status: str
    MessageId: str
    Error: str


@dataclass
class BulkReport:
    """The outcome of :func:`send_bulk_email`: one :class:`Delivery` per recipient, in row order."""

    deliveries: list[Delivery]
    #: the pace used, in recipients a second (``inf`` when unlimited)
    rate: float
    seconds: float
    #: SES send requests made, retries included
    requests: int
    warnings: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """How many recipients SES accepted."""
        return sum(1 for d in self.deliveries if d.Status == "Success")

    @property
    def failed(self) -> list[Delivery]:
        """The recipients SES did not accept."""
        return [d for d in self.deliveries if d.Status != "Success"]


@dataclass
class _Pending:
    """A recipient waiting to be sent: its place in the input, addresses and JSON data."""

    index: int
    recipient: BulkRecipient
    to: list[str]
    data: str
    attempts: int = 0


class _Outcome(NamedTuple):
    status: str
    message_id: str = ""
    error: str = ""
    retry: bool = False


def send_bulk_email(
    session: SesSession,
    recipients: Iterable[BulkRecipient | str],
    *,
    sender: str,
    template: str | None = None,
    default_template_data: TemplateData | None = None,
    subject: str = "",
    text: str | None = None,
    html: str | None = None,
    charset: str = DEFAULT_CHARSET,
    reply_to: Addresses = (),
    return_path: str | None = None,
    configuration_set: str | None = None,
    tags: Tags | None = None,
    max_send_rate: float | None = None,
    concurrency: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BulkReport:
    """Send one message per recipient, at the account's rate, each recipient at most once.

    ``recipients`` are :class:`BulkRecipient` rows or plain addresses (numbered from 1).  With
    ``template``, they go out through ``SendBulkTemplatedEmail`` in calls of up to 50
    destinations, each row's ``data`` being its replacement data; otherwise each row is one
    ``SendEmail`` of ``subject``/``text``/``html``.

    The pace is ``max_send_rate`` recipients a second, or else the account's ``MaxSendRate``
    from ``GetSendQuota`` — which also refuses to start when the daily quota is used up, and
    warns when it will run out.  ``concurrency`` sets the number of worker threads (default:
    enough for the rate, at most 32).  Failures are per recipient and never stop the others,
    except that a "daily quota exceeded" answer stops further sends (rows then ``NotSent``).  Raises
    :class:`MailError` or :class:`~amlses.errors.AwsError` only for problems that concern every
    row (no rows, a bad sender or default data, a template that does not exist), before
    anything is sent.
    """
    started = clock()
    source = _sender(sender)
    rows = [
        r if isinstance(r, BulkRecipient) else BulkRecipient(i, r)
        for i, r in enumerate(recipients, start=1)
    ]
    if not rows:
        raise MailError(
            "NoRecipients", "The recipient list is empty: there is no row to send a message to."
        )
    plan = _BulkPlan(
        source=source,
        template=_template_name(template) if template else None,
        default_data=parse_template_data(default_template_data, "DEFAULTTEMPLATEDATA"),
        common=_common_params(
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
            tags_key="DefaultTags" if template else "Tags",
        ),
        message=None if template else _content(subject, text, html, charset),
        facts={
            "sender": address_of(source),
            "template": (template or "").strip(),
            "configuration_set": configuration_set or "",
            "bulk": "yes",
        },
    )
    if plan.template:
        get_template(session, plan.template)  # one clear error now rather than one per row
    results: dict[int, Delivery] = {}
    pending = [p for p in (_prepare(i, row, results) for i, row in enumerate(rows)) if p]
    warnings: list[str] = []
    rate = _rate(session, max_send_rate, sum(len(p.to) for p in pending), warnings)
    runner = _BulkRunner(session, plan, rate, clock=clock, sleep=sleep)
    runner.run(_batches(pending, plan.template is not None), concurrency, results)
    if runner.stopped:
        warnings.append(
            "The daily sending quota ran out during the send: the rows marked NotSent were "
            "not sent and can be sent again once the quota allows."
        )
    deliveries = [results[i] for i in range(len(rows))]
    return BulkReport(deliveries, rate, clock() - started, runner.requests, warnings)


@dataclass(frozen=True)
class _BulkPlan:
    """What is the same for every message of a bulk send."""

    source: str
    template: str | None
    default_data: str
    common: dict[str, Any]
    message: dict[str, Any] | None
    facts: dict[str, str]


def _prepare(index: int, row: BulkRecipient, results: dict[int, Delivery]) -> _Pending | None:
    """A row ready to send, or None after recording why it cannot be sent at all."""
    try:
        to = parse_addresses(row.to, f"row {row.row}")
        _recipients(to, [], [])
        data = parse_template_data(row.data, f"the template data of row {row.row}")
    except MailError as error:
        results[index] = Delivery(row.row, row.to, error.code, "", error.message)
        return None
    return _Pending(index, row, to, data)


def _rate(session: SesSession, given: float | None, recipients: int, warnings: list[str]) -> float:
    """The pace: ``given``, else GetSendQuota's MaxSendRate (checking the daily quota too).

    A given rate skips GetSendQuota altogether: sending-only IAM policies often lack
    ``ses:GetSendQuota``, and the user has said what the rate is.
    """
    if given is not None:
        if not given > 0:
            raise StepError(f"The sending rate must be positive, not {given:g}.")
        return float(given)
    with translate_errors("GetSendQuota"):
        quota = session.client.get_send_quota()
    rate = float(quota.get("MaxSendRate", 1.0))
    daily = float(quota.get("Max24HourSend", -1.0))
    sent = float(quota.get("SentLast24Hours", 0.0))
    if daily >= 0:
        left = max(daily - sent, 0.0)
        if left <= 0:
            raise MailError(
                _DAILY_QUOTA_STATUS,
                f"The account's daily sending quota is used up: SES reports {sent:g} of "
                f"{daily:g} messages sent in the last 24 hours (Max24HourSend), so it would "
                "refuse every message. Send again when the rolling 24-hour window frees "
                "capacity, or ask AWS for a higher quota.",
            )
        if left < recipients:
            warnings.append(
                f"The daily sending quota leaves room for {left:g} more messages but "
                f"{recipients} are to be sent; SES will refuse the rest."
            )
    return rate if rate > 0 else math.inf  # no positive rate reported: no limit to keep


def _batches(pending: list[_Pending], bulk: bool) -> list[list[_Pending]]:
    """One row per call, or up to 50 destinations (and 50 recipients) per bulk call."""
    if not bulk:
        return [[p] for p in pending]
    batches: list[list[_Pending]] = []
    current: list[_Pending] = []
    count = 0
    for item in pending:
        full = len(current) == MAX_BULK_DESTINATIONS or count + len(item.to) > MAX_RECIPIENTS
        if current and full:
            batches.append(current)
            current, count = [], 0
        current.append(item)
        count += len(item.to)
    if current:
        batches.append(current)
    return batches


class _BulkRunner:
    """Worker threads sending batches at the bucket's pace, resending only what SES refused."""

    def __init__(
        self,
        session: SesSession,
        plan: _BulkPlan,
        rate: float,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.client = session.without_retries().client
        self.retries = _retry_budget(session)
        self.plan = plan
        self.rate = rate
        self.bucket = TokenBucket(rate, clock=clock, sleep=sleep)
        self.backoff = _Retry(sleep)
        self.requests = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def stopped(self) -> bool:
        """Whether a daily-quota answer stopped the run."""
        return self._stop.is_set()

    def run(
        self, batches: list[list[_Pending]], concurrency: int | None, results: dict[int, Delivery]
    ) -> None:
        """Send every batch, recording one delivery per recipient in ``results``."""
        if not batches:
            return
        queue = iter(batches)

        def work() -> None:
            while True:
                with self._lock:
                    batch = next(queue, None)
                if batch is None:
                    return
                for item, outcome in self._deliver(batch):
                    row = item.recipient
                    delivery = Delivery(
                        row.row, row.to, outcome.status, outcome.message_id, outcome.error
                    )
                    with self._lock:
                        results[item.index] = delivery

        workers = min(concurrency or self._workers(batches), len(batches))
        if workers <= 1:
            work()
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="amlses-bulk") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()

    def _workers(self, batches: list[list[_Pending]]) -> int:
        """Enough threads to keep up with the rate if a call takes ~150 ms; at most 32."""
        if math.isinf(self.rate):
            return _MAX_WORKERS
        per_call = sum(len(p.to) for batch in batches for p in batch) / len(batches)
        calls_per_second = self.rate / max(per_call, 1.0)
        return max(1, min(_MAX_WORKERS, math.ceil(calls_per_second * _ASSUMED_LATENCY) + 1))

    def _deliver(self, batch: list[_Pending]) -> list[tuple[_Pending, _Outcome]]:
        """Send ``batch`` until every recipient in it has a final outcome."""
        done: list[tuple[_Pending, _Outcome]] = []
        todo = batch
        while todo:
            if self._stop.is_set():
                reason = "not sent: the daily sending quota ran out earlier in this send"
                done.extend((item, _Outcome("NotSent", error=reason)) for item in todo)
                break
            self.bucket.acquire(sum(len(item.to) for item in todo))
            retry: list[_Pending] = []
            for item, outcome in zip(todo, self._attempt(todo), strict=True):
                if outcome.retry and item.attempts < self.retries:
                    item.attempts += 1
                    retry.append(item)
                else:
                    done.append((item, outcome))
            if retry:
                self.backoff.wait(max(item.attempts for item in retry) - 1)
            todo = retry
        return done

    def _attempt(self, todo: list[_Pending]) -> list[_Outcome]:
        """One request for ``todo``: an outcome per recipient, in order."""
        with self._lock:
            self.requests += 1
        try:
            if self.plan.template is None:
                response = _call(self.client, "SendEmail", self._single(todo[0]))
                return [_Outcome("Success", str(response["MessageId"]))]
            response = _call(self.client, "SendBulkTemplatedEmail", self._bulk(todo))
        except AwsError as error:
            return [self._failure(error)] * len(todo)
        statuses = list(response.get("Status", []))
        missing = _Outcome("Failed", error="SES returned no status for this destination.")
        return [
            self._status(statuses[i]) if i < len(statuses) else missing for i in range(len(todo))
        ]

    def _single(self, item: _Pending) -> dict[str, Any]:
        return {
            "Source": self.plan.source,
            "Destination": {"ToAddresses": item.to},
            "Message": self.plan.message,
            **self.plan.common,
        }

    def _bulk(self, todo: list[_Pending]) -> dict[str, Any]:
        return {
            "Source": self.plan.source,
            "Template": self.plan.template,
            "DefaultTemplateData": self.plan.default_data,
            "Destinations": [
                {"Destination": {"ToAddresses": item.to}, "ReplacementTemplateData": item.data}
                for item in todo
            ],
            **self.plan.common,
        }

    def _failure(self, error: AwsError) -> _Outcome:
        """The outcome of a request SES answered with an error (or that never reached it)."""
        explained = explain(error, self.plan.facts).aws_message
        if is_daily_quota(error.code, error.aws_message):
            self._stop.set()
            return _Outcome(_DAILY_QUOTA_STATUS, error=explained)
        return _Outcome(error.code, error=explained, retry=not_accepted(error))

    def _status(self, status: Mapping[str, Any]) -> _Outcome:
        """One destination's entry of a SendBulkTemplatedEmail answer."""
        code = str(status.get("Status") or "Success")
        if code == "Success":
            return _Outcome("Success", str(status.get("MessageId", "")))
        if code == _DAILY_QUOTA_STATUS:
            self._stop.set()
        error = str(status.get("Error", "")) or f"SES did not send to this destination ({code})."
        return _Outcome(code, error=error, retry=code in _RETRYABLE_STATUSES)
