"""What every part of :mod:`amlses.mail` shares: SES's message limits, the argument types, and
:class:`MailError`.

Kept apart, and free of the :mod:`email` package, so that :mod:`amlses.ses` can take the
defaults and argument types for its typed send methods from here without importing the MIME
machinery (``import amlses.ses`` must stay cheap: the static checker imports it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from ..errors import StepError

__all__ = [
    "DEFAULT_CHARSET",
    "MAX_BULK_DESTINATIONS",
    "MAX_MESSAGE_BYTES",
    "MAX_RECIPIENTS",
    "Addresses",
    "MailError",
    "Tags",
    "TemplateData",
]

#: SES takes at most 50 recipients (To + Cc + Bcc) per message.
MAX_RECIPIENTS: Final = 50
#: SendBulkTemplatedEmail takes at most 50 destinations per call.
MAX_BULK_DESTINATIONS: Final = 50
#: SES's limit for a whole message, attachments included, after base64 encoding.
MAX_MESSAGE_BYTES: Final = 10 * 1024 * 1024
DEFAULT_CHARSET: Final = "UTF-8"

#: addresses as a user writes them: ``"a@x.com; Bob <b@x.com>"``, or a sequence of such texts
Addresses = str | Iterable[str]
#: message tags: ``"campaign=spring; team=sales"`` or a mapping
Tags = str | Mapping[str, str]
#: a template's replacement data: JSON object text or a mapping (any JSON values)
TemplateData = str | Mapping[str, object]


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


def megabytes(size: int) -> str:
    """A size as messages show it: ``10.0 MB``."""
    return f"{size / (1024 * 1024):.1f} MB"


class SendCancelled(KeyboardInterrupt):
    """The caller gave up on the send (``AM_TIMEOUT``): a single send starts no new attempt, a
    bulk send stops as an interrupted one does.  An interrupt (not an :class:`MailError`) so
    that nothing on the way mistakes it for a failure to report or retry."""
