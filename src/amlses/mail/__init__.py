"""Sending mail through SES — an amlses extension, not part of Automate's documented action.

Automate's ``<AMAWSSES>`` manages identities but cannot send; this package adds sending as a
plain Python API over any session with an SES client (:class:`~amlses.ses.SesSession`, or
anything that is a :class:`~amlses.aws.clients.SesClientSource`), and ``actions/mail.py`` maps
AML attributes onto it.  Everything works on the session's connection, so credentials,
endpoint, proxy and secret handling are those of the other activities::

    from amlses import mail
    from amlses.ses import SesSession

    with SesSession(endpoint_url="http://127.0.0.1:5000") as ses:
        mail.send_email(ses, sender="me@example.com", to="ann@example.com; bob@example.com",
                        subject="Report", text="Attached.", attachments=["report.pdf"])
        report = mail.send_bulk_email(ses, ["a@example.com", "b@example.com"],
                                      sender="me@example.com", template="Welcome")

The parts, each with the rules it implements:

* :mod:`~amlses.mail.common` — SES's limits, the argument types, :class:`MailError`;
* :mod:`~amlses.mail.addresses` — parsing what a user writes (addresses, tags, template data,
  file lists) and SES's recipient rules;
* :mod:`~amlses.mail.mime` — MIME messages (attachments) and the 10 MB limit;
* :mod:`~amlses.mail.send` — the single sends; **nothing is sent twice** (which failures are
  resent, and why), and the hints added to SES's errors;
* :mod:`~amlses.mail.templates` — the six template operations;
* :mod:`~amlses.mail.bulk` — paced, threaded bulk sends and their per-row report.

The package imports :mod:`amlses.aws` (never :mod:`amlses.ses`, which imports it).  The names
below are resolved on first use (PEP 562): ``from amlses.mail import parse_addresses`` loads
neither the MIME machinery nor the bulk sender's threads, and ``import amlses.ses`` (which
takes its defaults from :mod:`~amlses.mail.common`) stays cheap.
"""

from typing import TYPE_CHECKING

from ..lazy import exports

_EXPORTS = {
    **dict.fromkeys(
        ("DEFAULT_CHARSET", "MAX_BULK_DESTINATIONS", "MAX_MESSAGE_BYTES", "MAX_RECIPIENTS"),
        ".common",
    ),
    **dict.fromkeys(("Addresses", "MailError", "Tags", "TemplateData"), ".common"),
    **dict.fromkeys(
        ("address_of", "parse_addresses", "parse_tags", "parse_template_data", "split_paths"),
        ".addresses",
    ),
    "build_message": ".mime",
    **dict.fromkeys(
        (
            "explain",
            "is_daily_quota",
            "not_accepted",
            "send_email",
            "send_raw_email",
            "send_templated_email",
        ),
        ".send",
    ),
    **dict.fromkeys(
        (
            "Template",
            "TemplateInfo",
            "create_template",
            "delete_template",
            "get_template",
            "list_templates",
            "test_render_template",
            "update_template",
        ),
        ".templates",
    ),
    **dict.fromkeys(
        (
            "BulkFailed",
            "BulkInterrupted",
            "BulkProgress",
            "BulkRecipient",
            "BulkReport",
            "Delivery",
            "SendCancelled",
            "SendCancelled",
            "Tally",
            "TokenBucket",
            "send_bulk_email",
            "tally",
        ),
        ".bulk",
    ),
}

if TYPE_CHECKING:
    from .addresses import (
        address_of,
        parse_addresses,
        parse_tags,
        parse_template_data,
        split_paths,
    )
    from .bulk import (
        BulkFailed,
        BulkInterrupted,
        BulkProgress,
        BulkRecipient,
        BulkReport,
        Delivery,
        SendCancelled,
        Tally,
        TokenBucket,
        send_bulk_email,
        tally,
    )
    from .common import (
        DEFAULT_CHARSET,
        MAX_BULK_DESTINATIONS,
        MAX_MESSAGE_BYTES,
        MAX_RECIPIENTS,
        MailError,
    )
    from .common import (
        Addresses as Addresses,
    )
    from .common import (
        Tags as Tags,
    )
    from .common import (
        TemplateData as TemplateData,
    )
    from .mime import build_message
    from .send import (
        explain,
        is_daily_quota,
        not_accepted,
        send_email,
        send_raw_email,
        send_templated_email,
    )
    from .templates import (
        Template,
        TemplateInfo,
        create_template,
        delete_template,
        get_template,
        list_templates,
        test_render_template,
        update_template,
    )

__all__ = [
    "BulkFailed",
    "BulkInterrupted",
    "BulkProgress",
    "BulkRecipient",
    "BulkReport",
    "DEFAULT_CHARSET",
    "Delivery",
    "SendCancelled",
    "MAX_BULK_DESTINATIONS",
    "MAX_MESSAGE_BYTES",
    "MAX_RECIPIENTS",
    "MailError",
    "Tally",
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
    "tally",
    "test_render_template",
    "update_template",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
