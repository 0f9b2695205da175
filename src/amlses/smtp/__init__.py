"""SES's SMTP interface: the password it takes, and a local endpoint to test against.

SES accepts mail over SMTP as well as over its API, at ``email-smtp.<region>.amazonaws.com``
(ports 465 and 2465 with TLS from the first byte, 25, 587 and 2587 with STARTTLS), with the
access key id as user name and a password *derived* from the secret access key.  This package
holds what every SMTP part of amlses needs:

* :mod:`~amlses.smtp.password` — the derivation (AWS's documented algorithm), the regions
  with SES SMTP and their host names (:func:`smtp_password`, :data:`SMTP_REGIONS`,
  :func:`smtp_host`, :func:`region_of_smtp_host`);
* :mod:`~amlses.smtp.local` — :class:`LocalSmtpServer`, an aiosmtpd endpoint on 127.0.0.1
  that behaves like SES's: real TLS (implicit and STARTTLS) with a per-server certificate,
  AUTH with the derived password, SES's replies, and scripted throttling, rejection and
  dropped connections, so that a client's handling of each can be tested for real.

Names are resolved on first use (PEP 562): ``import amlses.smtp`` loads neither aiosmtpd
nor cryptography, and :class:`LocalSmtpServer` imports them only when a server starts.
"""

from typing import TYPE_CHECKING

from ..lazy import exports

_EXPORTS = {
    **dict.fromkeys(
        (
            "SMTP_FIPS_REGIONS",
            "SMTP_REGIONS",
            "UnsupportedSmtpRegion",
            "region_of_smtp_host",
            "smtp_host",
            "smtp_password",
        ),
        ".password",
    ),
    **dict.fromkeys(("LocalSmtpServer", "SmtpMessage"), ".local"),
}

if TYPE_CHECKING:
    from .local import LocalSmtpServer, SmtpMessage
    from .password import (
        SMTP_FIPS_REGIONS,
        SMTP_REGIONS,
        UnsupportedSmtpRegion,
        region_of_smtp_host,
        smtp_host,
        smtp_password,
    )

__all__ = [
    "LocalSmtpServer",
    "SMTP_FIPS_REGIONS",
    "SMTP_REGIONS",
    "SmtpMessage",
    "UnsupportedSmtpRegion",
    "region_of_smtp_host",
    "smtp_host",
    "smtp_password",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
