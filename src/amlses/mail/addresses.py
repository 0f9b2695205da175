"""Parsing what a user writes: address lists, tags, template data, file lists, template names.

Automate users write lists as text — ``"a@x.com; Bob <b@x.com>"``, ``"campaign=spring;
team=sales"``, ``"a.pdf|b.csv"`` — and this module turns them into what SES wants, refusing
what SES would refuse (or, worse, accept and fail later: bad template data only shows when SES
renders, after the message was accepted) with a :class:`~amlses.mail.common.MailError` that
says how to write it.  It also holds SES's recipient rules (one sender; 1 to 50 recipients),
which every send checks before any request.  No request is made here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from email.utils import formataddr, parseaddr
from os import PathLike
from pathlib import Path
from typing import Final

from ..errors import StepError
from ..values import shortened
from .common import MAX_RECIPIENTS, Addresses, MailError, Tags, TemplateData

__all__ = [
    "address_of",
    "parse_addresses",
    "parse_tags",
    "parse_template_data",
    "split_paths",
]

# A list separator outside quotes and <…>: addresses are written "a@x.com; B <b@x.com>, …".
_LIST_SEPARATORS: Final = ",;"
_PATH_SEPARATORS: Final = "|;"


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
    if not any(char in text for char in separators):  # one item: the string itself, kept
        return [text.strip()] if text.strip() else []
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


#: an address that is already what :func:`_normalised_address` makes of it: no display name,
#: a plain ASCII local part and domain — by far the commonest entry of a bulk list, so it skips
#: ``parseaddr`` (~15 µs a call) and keeps its string instead of building an equal one
_PLAIN_ADDRESS: Final = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}"
)


def _normalised_address(item: str, what: str) -> str:
    if _PLAIN_ADDRESS.fullmatch(item):
        return item
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
    if _PLAIN_ADDRESS.fullmatch(entry):
        return entry
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


def _excerpt(text: str) -> str:
    return repr(shortened(text))


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


def check_recipients(to: list[str], cc: list[str], bcc: list[str]) -> None:
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


def single_sender(sender: str) -> str:
    """``sender`` normalised; :class:`MailError` unless it is exactly one address."""
    addresses = parse_addresses(sender, "FROM")
    if len(addresses) != 1:
        raise MailError(
            "InvalidAddress",
            "FROM must be exactly one address, the verified identity the mail comes from.",
        )
    return addresses[0]


def template_name(name: str) -> str:
    """``name`` stripped; StepError when it is empty."""
    if not name or not name.strip():
        raise StepError("The template name is empty; give TEMPLATE.")
    return name.strip()
