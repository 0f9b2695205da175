"""What a secret looks like: the one list of secret attribute names, the mask, and the shape of
Automate's own ciphertext.

This module is the bottom of the house (it imports no amlses module), so that the parser's step
echo, the error renderer, the registry's attribute specs, the redactor and the CLI all read the
same facts.  A name added to :data:`SECRET_ATTRIBUTES` is masked in every output from then on and
is decrypted by the vault like every other secret attribute.
"""

from __future__ import annotations

import re
from typing import Final

#: what a masked secret shows as, everywhere
MASK: Final = "****"

#: attribute names whose values are secrets wherever they appear, in tasks and subtasks alike
SECRET_ATTRIBUTES: Final = frozenset(
    {"SECRETKEY", "PROXYPWD", "SESSIONTOKEN", "PASSWORD", "CERTIFICATEPASSPHRASE", "SMTPPASSWORD"}
)

#: attributes whose value may carry credentials in URL form (``user:password@host:port``): the
#: password part is a secret
USERINFO_ATTRIBUTES: Final = frozenset({"PROXYHOST"})

#: Automate's encrypted form of a secret attribute, e.g. the seed's ``AM3i6P77pVEBOw=aME``.
#: Only Automate holds the key, so such a value is never usable as a secret.  A real AWS secret
#: (40 base64-like characters) matches by chance with a probability of about 1 in 10⁹.
AUTOMATE_CIPHERTEXT: Final[re.Pattern[str]] = re.compile(r"^AM.+aME$")

_QUOTED_VALUE = r"""(\\"[^"]*?\\"|"[^"]*"|'[^']*'|"[^"\n]*$|'[^'\n]*$)"""  # \"…\": AML inside JSON
# NAME="value" of a secret attribute in echoed AML (a source line under an error message).  A
# value whose closing quote is missing (a task that failed to parse) is masked to the line end.
_SECRET_PAIR = re.compile(
    r"\b(" + "|".join(sorted(SECRET_ATTRIBUTES)) + r")(\s*=\s*)" + _QUOTED_VALUE,
    re.IGNORECASE | re.MULTILINE,
)
# PROXYHOST="user:password@host:port": the password part of credentials written into a URL-like
# value, in echoed AML.  The user stays visible (it helps to see who connects), the rest is masked.
_USERINFO_PAIR = re.compile(
    r"\b((?:" + "|".join(sorted(USERINFO_ATTRIBUTES)) + r")\s*=\s*\\?[\"']"
    r"(?:[a-z][a-z0-9+.-]*://)?[^\"'\s:@/]*:)([^\"'\s@]+)(@)",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^:@/\s]*:([^@\s]+)@", re.IGNORECASE)


def is_secret_attribute(name: str) -> bool:
    """Whether an attribute (any case) holds a secret."""
    return name.upper() in SECRET_ATTRIBUTES


def userinfo_password(value: str) -> str:
    """The password of credentials written into a URL-like value (``ann:pw@proxy:8080`` ->
    ``pw``), or "" when there is none."""
    match = _USERINFO.match(value.strip())
    return match.group(1) if match else ""


def is_automate_ciphertext(value: str) -> bool:
    """Whether ``value`` is in Automate's encrypted form (``AM…aME``) and so cannot be used.

    ``fullmatch`` rather than ``match``: ``$`` alone would accept a trailing newline.
    """
    return AUTOMATE_CIPHERTEXT.fullmatch(value) is not None


def mask_secret_attributes(text: str) -> str:
    """Mask the values of secret attributes in AML text (``SECRETKEY="…"`` -> ``"****"``).

    The value's own quotes are kept (``\\"`` too), so masked JSON stays valid JSON.  A password
    written into ``PROXYHOST="user:pw@host"`` is masked as well.
    """
    text = _USERINFO_PAIR.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    return _SECRET_PAIR.sub(_masked_pair, text)


def _masked_pair(match: re.Match[str]) -> str:
    value = match.group(3)
    quote = '\\"' if value.startswith("\\") else value[0]
    return f"{match.group(1)}{match.group(2)}{quote}{MASK}{quote}"
