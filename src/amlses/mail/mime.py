"""MIME messages and SES's size limits: what ``SendRawEmail`` and ``SendEmail`` carry.

Messages with attachments are built with the standard library's :mod:`email` package (never by
hand) and sent with ``SendRawEmail``.  SES refuses messages over 10 MB (after base64 encoding)
and more than 50 recipients; both are caught before any request — the attachments' total from
their file sizes, before anything is read, so a 2 GB file fails at once.  Separate from
:mod:`amlses.mail.send` because building a message is useful on its own
(:func:`build_message`, then :func:`~amlses.mail.send.send_raw_email`) and needs no session.

Over SES's SMTP interface there are no API parameters, so what ``SendRawEmail`` takes beside
the message travels in it: the configuration set and the message tags as SES's own headers
(:func:`ses_headers`, ``X-SES-CONFIGURATION-SET`` and ``X-SES-MESSAGE-TAGS``, which SES
removes before delivery), and :func:`edit_headers` adds them to a prepared message and takes
its ``Bcc`` header out — Bcc recipients travel in the envelope only — without touching
anything else of it (a signed message stays signed).
"""

from __future__ import annotations

import math
import mimetypes
import re
import stat
from collections.abc import Iterable, Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from os import PathLike
from pathlib import Path
from typing import NoReturn, TypedDict

from ..files import FileTooLargeError, printable, read_bounded
from .addresses import parse_addresses, parse_tags, split_paths
from .common import DEFAULT_CHARSET, MAX_MESSAGE_BYTES, Addresses, MailError, Tags, megabytes

__all__ = ["build_message", "edit_headers", "ses_headers"]

#: what SES accepts in a configuration set's name and in message tags (its documented rule)
_SES_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
# the end of a message's header block, and where one header field starts
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_LINE = re.compile(rb"(?m)^(?=[^ \t\r\n])")


class _TextPart(TypedDict):
    Data: str
    Charset: str


class _Body(TypedDict, total=False):
    Text: _TextPart
    Html: _TextPart


class MessageContent(TypedDict):
    """SendEmail's ``Message`` parameter."""

    Subject: _TextPart
    Body: _Body


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
    if "\r" in subject or "\n" in subject:
        # one would start a header of its own ("…\nBcc: x@example.com"): a subject is one line
        raise MailError(
            "InvalidParameterValue", "The subject holds a line break; a subject is one line."
        )
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
    """Every path is a regular file, and base64 keeps their sum under the SES limit.

    Checked from the file sizes before anything is read, so a 2 GB file fails at once; a
    FIFO or a device (``/dev/zero``) is refused here too, before it could block or fill memory.
    """
    sizes: list[tuple[Path, int]] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            if info is None:
                why = "does not exist"
            elif stat.S_ISDIR(info.st_mode):
                why = "is a folder, not a file"
            else:
                why = "is not a regular file (a device, FIFO or socket)"
            raise MailError(
                "AttachmentNotFound",
                f"The attachment {printable(str(path))} {why}; ATTACHMENTS takes file paths "
                "separated by | (or ;), relative paths being relative to the task file's folder.",
            )
        sizes.append((path, info.st_size))
    total = sum(size for _, size in sizes)
    if _base64_size(total) > MAX_MESSAGE_BYTES:
        _too_large(sizes)
    return paths


def _too_large(sizes: list[tuple[Path, int]]) -> NoReturn:
    total = sum(size for _, size in sizes)
    listing = ", ".join(f"{printable(path.name)} ({megabytes(size)})" for path, size in sizes)
    raise MailError(
        "MessageTooLarge",
        f"The attachments {listing} add up to {megabytes(total)}, about "
        f"{megabytes(_base64_size(total))} once base64-encoded, and SES accepts at most "
        f"{megabytes(MAX_MESSAGE_BYTES)} per message, attachments included. Share large "
        "files by link, or spread them over several messages.",
    )


def _base64_size(size: int) -> int:
    """Bytes after base64 with 76-character lines and CRLF (what :mod:`email` produces)."""
    encoded = 4 * math.ceil(size / 3)
    return encoded + 2 * math.ceil(encoded / 76)


def _read_attachment(path: Path) -> bytes:
    """An attachment's bytes, bounded by SES's message limit (:func:`amlses.files.read_bounded`:
    regular files only, opened without blocking), so a file swapped or grown after
    :func:`_checked_attachments` looked at it cannot hang the run or fill memory."""
    try:
        return read_bounded(path, MAX_MESSAGE_BYTES)
    except FileTooLargeError as exc:
        _too_large([(path, exc.size)])
    except OSError as exc:
        raise MailError(
            "AttachmentNotFound",
            f"The attachment {printable(str(path))} cannot be read: {exc.strerror or exc}",
        ) from None


def message_bytes(message: EmailMessage | bytes | str) -> bytes:
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
            f"The message is {megabytes(len(data))} and SES accepts at most "
            f"{megabytes(MAX_MESSAGE_BYTES)} per message, attachments included "
            "(after base64 encoding).",
        )
    return data


def message_content(
    subject: str, text: str | None, html: str | None, charset: str
) -> MessageContent:
    """SendEmail's ``Message``: subject and bodies, checked against the size limit."""
    if text is None and html is None:
        raise MailError(
            "NoBody",
            "The message has no body: give TEXTBODY or HTMLBODY (or TEXTBODYFILE / "
            "HTMLBODYFILE), or both.",
        )
    body: _Body = {}
    if text is not None:
        body["Text"] = {"Data": text, "Charset": charset}
    if html is not None:
        body["Html"] = {"Data": html, "Charset": charset}
    size = sum(len(part.encode("utf-8")) for part in (subject, text or "", html or ""))
    if size > MAX_MESSAGE_BYTES:
        raise MailError(
            "MessageTooLarge",
            f"The message is {megabytes(size)} and SES accepts at most "
            f"{megabytes(MAX_MESSAGE_BYTES)} per message.",
        )
    return {"Subject": {"Data": subject, "Charset": charset}, "Body": body}


def ses_headers(configuration_set: str | None, tags: Tags | None) -> list[tuple[str, str]]:
    """SES's headers for a configuration set and message tags, for messages sent over SMTP.

    Names and values must be letters, digits, ``-`` and ``_`` (SES's rule), which also keeps a
    line break from smuggling in a header of its own.
    """
    headers: list[tuple[str, str]] = []
    if configuration_set:
        if not _SES_NAME.fullmatch(configuration_set):
            raise MailError(
                "InvalidParameterValue",
                f"The configuration set name {configuration_set!r} may hold only letters, "
                "digits, '-' and '_'.",
            )
        headers.append(("X-SES-CONFIGURATION-SET", configuration_set))
    pairs = parse_tags(tags)
    for pair in pairs:
        for part in (pair["Name"], pair["Value"]):
            if not _SES_NAME.fullmatch(part):
                raise MailError(
                    "InvalidTag",
                    f"The tag {pair['Name']}={pair['Value']} has characters SES does not "
                    "accept in tags: use only letters, digits, '-' and '_'.",
                )
    if pairs:
        tags_text = ", ".join(f"{pair['Name']}={pair['Value']}" for pair in pairs)
        headers.append(("X-SES-MESSAGE-TAGS", tags_text))
    return headers


def edit_headers(
    data: bytes, *, add: Sequence[tuple[str, str]] = (), remove: Iterable[str] = ()
) -> bytes:
    """``data`` (a whole message) with the header fields named in ``remove`` taken out (their
    folded lines too) and ``add`` put first; the rest stays byte for byte as it was."""
    end = _HEADER_END.search(data)
    head, body = (data[: end.start()], data[end.start() :]) if end else (data, b"")
    newline = b"\r\n" if b"\r\n" in head or not head else b"\n"
    names = {name.lower().encode("ascii") for name in remove}
    fields = [
        field if field.endswith(b"\n") else field + newline
        for field in _FIELD_LINE.split(head)
        if field
    ]
    kept = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in names]
    added = [f"{name}: {value}".encode("ascii") + newline for name, value in add]
    result = b"".join([*added, *kept])
    if body:  # the body starts with the line break that ends the last field
        result = result.removesuffix(b"\n").removesuffix(b"\r")
    return result + body
