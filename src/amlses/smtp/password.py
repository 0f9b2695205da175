"""The SES SMTP password: derived from an IAM secret access key, one per region.

SES's SMTP interface does not take the secret access key itself.  Its password is a version
byte (``0x04``) and a SigV4-style HMAC-SHA256 chain over the key, keyed by region, base64
encoded — AWS's documented algorithm ("Obtaining Amazon SES SMTP credentials by converting
existing AWS credentials", https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html).
Because the region is part of the chain, a password works in one region only, and amlses
refuses to derive one for a region where it knows of no SES SMTP endpoint: a password for a
region without SMTP would only fail later, at AUTH, with "535 Authentication Credentials
Invalid" and no hint why.

AWS says temporary credentials (with a session token) cannot be converted; that is the
caller's to check (:mod:`amlses.commands.smtp_password` does).  Nothing here ever puts the
secret or the password into a message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Final

from ..errors import UsageError

__all__ = [
    "SMTP_FIPS_REGIONS",
    "SMTP_REGIONS",
    "UnsupportedSmtpRegion",
    "region_of_smtp_host",
    "smtp_host",
    "smtp_password",
]

#: the regions whose SES serves SMTP (``email-smtp.<region>.amazonaws.com``).
#:
#: Source: AWS's list in "Generate credentials to connect to an Amazon SES SMTP endpoint"
#: (https://docs.aws.amazon.com/ses/latest/dg/ses_example_ses_Scenario_GenerateSmtpCredentials_section.html),
#: plus us-west-1 and eu-west-3 from the "SMTP endpoints" table of "Amazon Simple Email Service
#: endpoints and quotas" (https://docs.aws.amazon.com/general/latest/gr/ses.html#ses_smtp_endpoints).
#: That table is the reference; a region added there belongs here.
SMTP_REGIONS: Final[frozenset[str]] = frozenset(
    {
        "us-east-1",  # US East (N. Virginia)
        "us-east-2",  # US East (Ohio)
        "us-west-1",  # US West (N. California)
        "us-west-2",  # US West (Oregon)
        "ap-south-1",  # Asia Pacific (Mumbai)
        "ap-northeast-1",  # Asia Pacific (Tokyo)
        "ap-northeast-2",  # Asia Pacific (Seoul)
        "ap-southeast-1",  # Asia Pacific (Singapore)
        "ap-southeast-2",  # Asia Pacific (Sydney)
        "ca-central-1",  # Canada (Central)
        "eu-central-1",  # Europe (Frankfurt)
        "eu-west-1",  # Europe (Ireland)
        "eu-west-2",  # Europe (London)
        "eu-west-3",  # Europe (Paris)
        "eu-south-1",  # Europe (Milan)
        "eu-north-1",  # Europe (Stockholm)
        "sa-east-1",  # South America (Sao Paulo)
        "us-gov-east-1",  # AWS GovCloud (US-East)
        "us-gov-west-1",  # AWS GovCloud (US-West)
    }
)

#: the regions with a FIPS SMTP endpoint (``email-smtp-fips.<region>.amazonaws.com``), from
#: the same table of https://docs.aws.amazon.com/general/latest/gr/ses.html
SMTP_FIPS_REGIONS: Final[frozenset[str]] = frozenset(
    {"us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-west-1"}
)

# The fixed inputs of AWS's algorithm ("These values are required to calculate the signature.
# Do not change them.").
_DATE: Final = "11111111"
_SERVICE: Final = "ses"
_TERMINAL: Final = "aws4_request"
_MESSAGE: Final = "SendRawEmail"
_VERSION: Final = b"\x04"

_HOST = re.compile(r"email-smtp(-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


class UnsupportedSmtpRegion(UsageError):
    """A region where amlses knows of no SES SMTP endpoint; the message lists the known ones."""

    code = "UnsupportedSmtpRegion"

    def __init__(self, region: str, known: frozenset[str] = SMTP_REGIONS, what: str = "") -> None:
        shown = region if region.isprintable() and len(region) <= 40 else repr(region[:40])
        super().__init__(
            f"amlses knows of no SES SMTP{what} endpoint in region {shown!r}; "
            f"the regions with one are: {', '.join(sorted(known))}."
        )
        self.region = region


def _region(region: str, known: frozenset[str] = SMTP_REGIONS, what: str = "") -> str:
    """``region`` as SES spells it (lower case, no blanks), or :class:`UnsupportedSmtpRegion`."""
    name = region.strip().lower()
    if name not in known:
        raise UnsupportedSmtpRegion(region, known, what)
    return name


def smtp_password(secret_key: str, region: str) -> str:
    """The SES SMTP password for ``secret_key`` in ``region`` (AWS's algorithm, version 4).

    The SMTP user name is the access key id itself.  Raises :class:`UnsupportedSmtpRegion`
    for a region without SES SMTP, and :class:`~amlses.errors.UsageError` for an empty key.
    """
    name = _region(region)
    if not secret_key:
        raise UsageError("the secret access key is empty")
    key = hmac.new(("AWS4" + secret_key).encode("utf-8"), _DATE.encode(), hashlib.sha256)
    signature = key.digest()
    for part in (name, _SERVICE, _TERMINAL, _MESSAGE):
        signature = hmac.new(signature, part.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(_VERSION + signature).decode("ascii")


def smtp_host(region: str, *, fips: bool = False) -> str:
    """``email-smtp.<region>.amazonaws.com`` (or its FIPS twin), for a region with SES SMTP."""
    if fips:
        return f"email-smtp-fips.{_region(region, SMTP_FIPS_REGIONS, ' FIPS')}.amazonaws.com"
    return f"email-smtp.{_region(region)}.amazonaws.com"


def region_of_smtp_host(host: str) -> str | None:
    """The region of an SES SMTP host name (``email-smtp.eu-west-1.amazonaws.com`` →
    ``eu-west-1``, the FIPS names too), or None for any other host: a name that merely looks
    like one, with a region SES has no SMTP endpoint in, is not one."""
    match = _HOST.fullmatch(host.strip().rstrip(".").lower())
    if match is None:
        return None
    fips, region = match.groups()
    return region if region in (SMTP_FIPS_REGIONS if fips else SMTP_REGIONS) else None
