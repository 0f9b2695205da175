"""Keeping secrets out of every output.

One mechanism serves every exit: a :class:`Redactor` collects the secret values a run has seen
(``SECRETKEY``, ``PROXYPWD`` and whatever they resolved to) and masks them, plain, URL-encoded
and base64-encoded, in any text about to be shown.  Attributes are declared secret by name, once,
in :data:`amlses.secrets.SECRET_ATTRIBUTES`, so the step echo masks them without their values.

Some secrets are never known by value: the temporary credentials STS hands out for a role, or
a request's signature.  They are masked by *shape* wherever botocore prints them (the
``Signature=`` of an ``Authorization`` header, ``x-amz-security-token``, ``<SecretAccessKey>``
in a response body, Basic proxy credentials).  Log records take the same path:
:func:`redacted_logging` puts the redactor on the logging handlers while a run lasts, and
:func:`debug_logging` is ``amlses run --debug``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from .secrets import MASK, mask_secret_attributes

#: the loggers whose records may carry wire traffic (botocore's debug output)
LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")

_MIN_SECRET = 4  # shorter values would mask ordinary words
# XML's five escapes, "&" first.  Written out rather than ``xml.sax.saxutils.escape``: that
# module imports urllib.request, http.client and email (~25 ms of CPU) for a str.replace chain,
# and every `amlses check` and `amlses run` imports this module.
_XML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&apos;"))
# Secrets known only by shape, as botocore prints them in debug logs: a SigV4 signature
# ("Signature=…" in the Authorization header, "Signature:\n…" from botocore.auth).
_SIGNATURE = re.compile(r"(Signature[=:]\s*)[0-9a-f]{16,}", re.IGNORECASE)
# A header or field holding a credential, in a header dict, a canonical request
# ("x-amz-security-token:…"), a response body ("<SessionToken>…</SessionToken>") or parsed
# output ("'SecretAccessKey': '…'").
_FIELDS = (
    r"x-amz-security-token|SecretAccessKey|SessionToken|aws_secret_access_key"
    r"|aws_session_token"
)
_FIELD_VALUE = re.compile(
    r"""((?:\b|['"<])(?:"""
    + _FIELDS
    + r""")(?:['"]?>|\\?['"]?\s*[:=]\s*b?\\?['"]?))([^'"<\s,}&\\]+)""",
    re.IGNORECASE,
)
# HTTP Basic/Bearer credentials ("Proxy-Authorization: Basic dXNlcjpwYXNz").
_AUTH_SCHEME = re.compile(r"\b(Basic|Bearer)(\s+)[A-Za-z0-9+/=._~-]{8,}")


def _xml_escape(text: str) -> str:
    """``text`` as it appears in an XML body (``xml.sax.saxutils.escape`` with both quotes)."""
    for char, entity in _XML_ESCAPES:
        text = text.replace(char, entity)
    return text


def mask_credential_shapes(text: str) -> str:
    """Mask what looks like a credential whatever its value: signatures, security tokens,
    STS secrets in responses, Basic/Bearer credentials, secret attributes in AML."""
    text = _SIGNATURE.sub(r"\1" + MASK, text)
    text = _FIELD_VALUE.sub(r"\1" + MASK, text)
    text = _AUTH_SCHEME.sub(r"\1\2" + MASK, text)
    return mask_secret_attributes(text)


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
        """Register ``secret`` (and its encoded forms) for masking.

        The forms are the ones output can carry a value in: URL-encoded (query strings, proxy
        URLs), base64 (Basic auth, encoded bodies), JSON and Python string escapes (``--json``
        and logged dicts), XML escapes (request and response bodies).
        """
        if not secret or len(secret) < _MIN_SECRET or secret in self._secrets:
            return
        from urllib.parse import quote, quote_plus  # only once a run has a secret to mask

        self._secrets.add(secret)
        forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret, safe="")}
        forms.update({json.dumps(secret)[1:-1], repr(secret)[1:-1], _xml_escape(secret)})
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
        text = mask_credential_shapes(text)
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
    """Redacts a record in place, traceback included, so every later handler sees it masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad format string must not break the caller)
            message = f"{record.msg} {record.args}"
        record.msg = self._redactor(message)
        record.args = None
        if record.exc_info:
            # Formatters print exc_text when it is set; exc_info would be formatted afresh.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redactor(record.stack_info)
        return True


@contextmanager
def redacted_logging(redactor: Redactor) -> Iterator[None]:
    """While the block runs, mask secrets in every record that reaches a logging handler.

    The filter goes on the *handlers* of the root logger and of :data:`LOGGERS`, not on the
    loggers: a logger's filter sees only records logged to that very logger, never those of
    ``botocore.endpoint`` or ``botocore.auth`` below it, whereas a handler's sees them all.
    The filters are removed afterwards, so runs in one process do not pile them up.
    """
    handlers = {id(h): h for name in ("", *LOGGERS) for h in logging.getLogger(name).handlers}
    installed = [(handler, redactor.logging_filter()) for handler in handlers.values()]
    for handler, log_filter in installed:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler, log_filter in installed:
            handler.removeFilter(log_filter)


class _DebugFormatter(logging.Formatter):
    """Exceptions in one line: ``--debug`` shows the wire, not amlses's or botocore's frames
    (the step's error says what failed; botocore logs each retried exception with its stack)."""

    def format(self, record: logging.LogRecord) -> str:
        traceback, record.exc_text = record.exc_text, None
        try:
            text = super().format(record)
        finally:
            record.exc_text = traceback
        if traceback:
            text += f" ({traceback.strip().splitlines()[-1]})"
        return text


@contextmanager
def debug_logging(stream: IO[str], redactor: Redactor) -> Iterator[logging.Handler]:
    """``amlses run --debug``: DEBUG records of :data:`LOGGERS` (the requests and responses
    on the wire) to ``stream``, masked by ``redactor``; levels are restored afterwards."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_DebugFormatter("debug: %(name)s: %(message)s"))
    handler.addFilter(redactor.logging_filter())
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
