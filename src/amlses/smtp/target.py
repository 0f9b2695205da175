"""Where a ``--local`` run's SMTP goes: the local SES SMTP endpoint, as the run's steps see it.

``amlses run --local`` must never let a step reach a real server, and SMTP steps (an SMTP
``SERVICEURL``, ``<AMEMAIL>``/``<AMSENDEMAIL>``) name real hosts.  The run therefore gets a
:class:`LocalSmtpTarget` — host, the two TLS listeners, the CA that signed their certificate
and the dummy credentials — and each SMTP step is pointed at the listener of its own security
mode, trusting that CA for that connection only, and logging in with the password *derived*
from the dummy secret for the region its host names (so a wrong derivation fails locally as it
would on SES).  The target is a plain value: the server itself runs elsewhere (in the
emulator's child process, see :mod:`amlses.localstart`), and nothing here imports aiosmtpd.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LocalSmtpTarget"]


@dataclass(frozen=True)
class LocalSmtpTarget:
    """The local SES SMTP endpoint: where each security mode connects, and who logs in."""

    host: str
    #: TLS from the first byte (SES's 465 and 2465)
    implicit_port: int
    #: STARTTLS required (SES's 587); also where a step without TLS connects (and is refused
    #: MAIL before STARTTLS and AUTH, as SES refuses it)
    starttls_port: int
    #: the PEM file of the CA that signed the listeners' certificate
    ca_file: str
    #: the SMTP user name: the emulator's dummy access key id
    access_key: str
    #: the dummy secret key the SMTP passwords are derived from (not a secret: a public dummy)
    secret_key: str = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalSmtpTarget:
        """The target the emulator's child reported (see :meth:`to_json`)."""
        return cls(
            str(data["host"]),
            int(data["implicit_port"]),
            int(data["starttls_port"]),
            str(data["ca_file"]),
            str(data["access_key"]),
            str(data["secret_key"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "implicit_port": self.implicit_port,
            "starttls_port": self.starttls_port,
            "ca_file": self.ca_file,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
        }

    @property
    def shown_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    def port_for(self, security: str) -> int:
        """The listener for a step's TLS mode: implicit TLS, else the STARTTLS one."""
        return self.implicit_port if security == "implicit" else self.starttls_port

    def url_for(self, security: str) -> str:
        """An SMTP ``SERVICEURL`` for the listener of ``security``."""
        scheme = "smtps" if security == "implicit" else "smtp"
        return f"{scheme}://{self.shown_host}:{self.port_for(security)}"

    def describe(self) -> str:
        """``smtps://127.0.0.1:N (STARTTLS smtp://127.0.0.1:M, CA /tmp/…/ca.pem)``."""
        return (
            f"{self.url_for('implicit')} (STARTTLS {self.url_for('starttls')}, CA {self.ca_file})"
        )
