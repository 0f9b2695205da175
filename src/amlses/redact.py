"""Keeping secrets out of every output.

One mechanism serves every exit: a :class:`Redactor` collects the secret values a run has seen
(``SECRETKEY``, ``PROXYPWD`` and whatever they resolved to) and masks them, plain, URL-encoded
and base64-encoded, in any text about to be shown.  Attributes are declared secret by name in
:data:`SECRET_ATTRIBUTES`, so the parser and the step echo can mask them without knowing values.
"""

from __future__ import annotations

import base64
import logging
import re
from urllib.parse import quote, quote_plus

MASK = "****"

#: attribute names whose values are secrets wherever they appear
SECRET_ATTRIBUTES = frozenset({"SECRETKEY", "PROXYPWD", "SESSIONTOKEN", "PASSWORD"})

# A SigV4 signature or credential scope in botocore's debug output.
_SIGNATURE = re.compile(r"(Signature=)[0-9a-f]{16,}", re.IGNORECASE)
_MIN_SECRET = 4  # shorter values would mask ordinary words
# NAME="value" of a secret attribute in echoed AML (a source line under an error message).
_SECRET_PAIR = re.compile(
    r"\b(" + "|".join(sorted(SECRET_ATTRIBUTES)) + r""")(\s*=\s*)("[^"]*"|'[^']*')""",
    re.IGNORECASE,
)


def mask_secret_attributes(text: str) -> str:
    """Mask the values of secret attributes in AML text (``SECRETKEY="…"`` -> ``"****"``)."""
    return _SECRET_PAIR.sub(lambda m: f'{m.group(1)}{m.group(2)}"{MASK}"', text)


class Redactor:
    """Masks every registered secret in text.

    Values shorter than four characters are not registered: masking "ab" everywhere would
    garble output while protecting nothing.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secret: str | None) -> None:
        """Register ``secret`` (and its encoded forms) for masking."""
        if not secret or len(secret) < _MIN_SECRET or secret in self._secrets:
            return
        self._secrets.add(secret)
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        raw = secret.encode()
        for encoder in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encoder(raw).decode()
            forms.update({encoded, encoded.rstrip("=")})
        forms = {f for f in forms if len(f) >= _MIN_SECRET} - self._forms
        if forms:
            self._forms |= forms
            self._pattern = None

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``****``."""
        if not text:
            return text
        text = mask_secret_attributes(_SIGNATURE.sub(r"\1" + MASK, text))
        if not self._forms:
            return text
        if self._pattern is None:
            ordered = sorted(self._forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(f) for f in ordered))
        return self._pattern.sub(MASK, text)

    def logging_filter(self) -> logging.Filter:
        """A filter that redacts log records in place (for botocore's debug logging)."""
        return _RedactingFilter(self)


class _RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = self._redactor(message)
        record.args = None
        return True


def is_secret_attribute(name: str) -> bool:
    """Whether an attribute (any case) holds a secret."""
    return name.upper() in SECRET_ATTRIBUTES
