"""SES's SMTP interface: the password it takes, and a local endpoint to test against.

SES accepts mail over SMTP as well as over its API, at ``email-smtp.<region>.amazonaws.com``
(ports 465 and 2465 with TLS from the first byte, 25, 587 and 2587 with STARTTLS), with the
access key id as user name and a password *derived* from the secret access key.  This package
holds what every SMTP part of amlses needs:

* :mod:`~amlses.smtp.password` — the derivation (AWS's documented algorithm), the regions
  with SES SMTP and their host names (:func:`smtp_password`, :data:`SMTP_REGIONS`,
  :func:`smtp_host`, :func:`region_of_smtp_host`);
* :mod:`~amlses.smtp.transport` — sending over that interface: :func:`smtp_endpoint` reads
  where SES's SMTP interface is, :class:`SmtpSender` keeps one TLS connection and says of
  every failure whether SES can have taken the message (:class:`SmtpError`);
* :mod:`~amlses.smtp.local` — :class:`LocalSmtpServer`, an aiosmtpd endpoint on 127.0.0.1
  that behaves like SES's: real TLS (implicit and STARTTLS) with a per-server certificate,
  AUTH with the derived password, SES's replies, and scripted throttling, rejection and
  dropped connections, so that a client's handling of each can be tested for real.

Names are resolved on first use (PEP 562): ``import amlses.smtp`` loads neither aiosmtpd,
cryptography nor smtplib, and :class:`LocalSmtpServer` imports the first two only when a
server starts.
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
    **dict.fromkeys(
        (
            "IMPLICIT_PORTS",
            "STARTTLS_PORTS",
            "Security",
            "SmtpEndpoint",
            "SmtpError",
            "SmtpLogin",
            "SmtpSender",
            "smtp_endpoint",
            "wire_data",
        ),
        ".transport",
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
    from .transport import (
        IMPLICIT_PORTS,
        STARTTLS_PORTS,
        Security,
        SmtpEndpoint,
        SmtpError,
        SmtpLogin,
        SmtpSender,
        smtp_endpoint,
        wire_data,
    )

__all__ = [
    "IMPLICIT_PORTS",
    "LocalSmtpServer",
    "SMTP_FIPS_REGIONS",
    "SMTP_REGIONS",
    "STARTTLS_PORTS",
    "Security",
    "SmtpEndpoint",
    "SmtpError",
    "SmtpLogin",
    "SmtpMessage",
    "SmtpSender",
    "UnsupportedSmtpRegion",
    "region_of_smtp_host",
    "smtp_endpoint",
    "smtp_host",
    "smtp_password",
    "wire_data",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
