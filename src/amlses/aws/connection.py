"""The settings of one SES connection, checked: :class:`Connection` and the rules of spec 4.4–4.7.

An Automate connection (``ACCESSKEY``, ``SECRETKEY``, ``SERVICEURL``, ``MAXERRORRETRY``,
``PROXY…``, ``USERAGENT``) is a plain value here, validated on construction, so that a bad proxy
or endpoint fails before any request is made and before boto3 is even imported.  It is separate
from :mod:`amlses.aws.clients` because the static checker and the AML layer build and compare
connections without ever building a client: this module imports neither boto3 nor botocore.

The rules it implements: the region follows the endpoint's host (4.4, see
:func:`region_from_endpoint`), the user agent is appended (4.6), proxies take both schemes and a
port written into the host (4.7), and secrets never show in ``repr`` or messages.

An endpoint may also be SES's SMTP interface (``smtps://…``, ``smtp://…`` or an
``email-smtp.<region>.amazonaws.com`` host, see :func:`is_smtp_endpoint`): such a connection
sends mail only, as the access key id with an SMTP password, and the settings that make no
sense there (a proxy, a role, temporary credentials) are refused here.  How the URL becomes a
host, port and TLS mode is :mod:`amlses.smtp.transport`'s business, above this layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Final
from urllib.parse import quote, urlsplit

from ..errors import SessionError
from ..secrets import is_automate_ciphertext

__all__ = [
    "DEFAULT_REGION",
    "LOCAL_ACCESS_KEY",
    "LOCAL_SECRET",
    "Connection",
    "default_user_agent",
    "is_smtp_endpoint",
    "region_from_endpoint",
    "smtp_region",
    "without_userinfo",
]

#: Where SES requests go when neither the connection nor the AWS configuration names a region.
DEFAULT_REGION: Final = "us-east-1"

#: what a connection to a local emulator (``--local``, ``amlses stats --local``) signs with: the
#: emulator accepts any credentials, and these make botocore sign without looking for real ones
LOCAL_ACCESS_KEY: Final = "AKIAAMLSESLOCAL00000"
LOCAL_SECRET: Final = "amlses-local-emulator"

# The documented API endpoints (spec 4.4): email.<region>.amazonaws.com and its FIPS twin.
_SES_HOST = re.compile(r"^email(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")

# SES's SMTP hosts (spec 2): email-smtp.<region>.amazonaws.com and its FIPS twin.
_SMTP_HOST = re.compile(r"^email-smtp(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")

# An IAM role ARN: arn:<partition>:iam::<account>:role/<path/name> (spec §4, ROLEARN extension).
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")


def region_from_endpoint(endpoint_url: str) -> str | None:
    """The region named by an SES endpoint's host, or None for any other host.

    ``https://email.eu-west-1.amazonaws.com`` → ``eu-west-1``; an emulator or a VPC endpoint
    names no region, so the caller falls back to the AWS configuration (spec 4.4).
    """
    host = (urlsplit(endpoint_url).hostname or "").lower()
    match = _SES_HOST.match(host)
    return match.group(1) if match else None


def smtp_region(host: str) -> str | None:
    """The region an SES SMTP host names (``email-smtp.eu-west-1.amazonaws.com`` →
    ``eu-west-1``), or None for any other host.  Only the shape is checked: whether SES serves
    SMTP in that region is :func:`amlses.smtp.password.smtp_password`'s to say."""
    match = _SMTP_HOST.match(host.strip().lower().rstrip("."))
    return match.group(1) if match else None


def is_smtp_endpoint(endpoint_url: str) -> bool:
    """Whether an endpoint names SES's SMTP interface rather than its API: an ``smtps://`` or
    ``smtp://`` URL, or an ``email-smtp.<region>.amazonaws.com`` host (bare, with a port, or
    written as ``https://…``)."""
    text = endpoint_url.strip()
    scheme, found, rest = text.partition("://")
    if not found:
        scheme, rest = "", text
    scheme = scheme.lower()
    if scheme in ("smtp", "smtps"):
        return True
    if scheme not in ("", "http", "https"):
        return False
    host = urlsplit("//" + rest).hostname or ""
    return smtp_region(host) is not None


@cache
def default_user_agent() -> str:
    """``amlses/<version>``, what amlses appends to the User-Agent when none is given.

    Cached: reading the installed metadata scans ``sys.path`` (~1–3 ms), and the answer cannot
    change while the process runs.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"amlses/{version('amlses')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "amlses/unknown"


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: a proxy URL may carry the proxy password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach SES: credentials, endpoint and client options.

    Frozen and hashable because it is the key of :class:`~amlses.aws.clients.ClientCache`: two
    steps with equal settings share one client.  Secrets stay out of ``repr``.  Empty strings
    mean "not given", so the AML layer can pass attribute values through unchanged.

    The settings are checked on construction (see :meth:`validate`), so a bad proxy or endpoint
    fails before any request is made.  ``proxy_host`` may carry the port (``"proxy:3128"``); it
    is then split into ``proxy_host`` and ``proxy_port``, so equal settings compare equal.
    """

    access_key: str = ""
    secret_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)
    endpoint_url: str | None = None
    region: str | None = None
    user_agent: str = ""
    max_error_retry: int | None = None
    proxy_host: str = ""
    proxy_port: int | None = None
    proxy_user: str = ""
    proxy_password: str = field(default="", repr=False)
    #: the AWS profile to use: its settings, and its credentials when ``access_key`` is empty
    profile: str | None = None
    #: a role to assume with STS (credentials refreshed before they expire), and its external id
    role_arn: str = ""
    external_id: str = ""
    #: SMTP endpoints only: the SMTP password, when it is not derived from ``secret_key``
    smtp_password: str = field(default="", repr=False)
    #: SMTP endpoints only: False skips the TLS certificate check (IGNOREINVALIDCERTIFICATE)
    verify_certificate: bool = True
    #: SMTP endpoints only: a CA to trust for this connection alone, besides the system's (the
    #: local SES SMTP endpoint's, in ``--local`` runs; no task attribute sets it)
    smtp_ca_file: str = ""

    def __post_init__(self) -> None:
        # Normalise "" to None so that "not given" has one spelling in the cache key.
        if not self.endpoint_url:
            object.__setattr__(self, "endpoint_url", None)
        if not self.region:
            object.__setattr__(self, "region", None)
        if not self.profile:
            object.__setattr__(self, "profile", None)
        host, port = _split_proxy_host(self.proxy_host.strip(), self.proxy_port)
        object.__setattr__(self, "proxy_host", host)
        object.__setattr__(self, "proxy_port", port)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~amlses.errors.SessionError` for settings no request could use.

        Called on construction; public so that a checker can re-run it on settings it built.
        """
        if self.is_smtp:
            _validate_smtp(self)
        elif self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SessionError(
                    f"The endpoint {without_userinfo(self.endpoint_url)!r} is not an http:// "
                    "or https:// URL, e.g. https://email.us-east-1.amazonaws.com (or an SMTP "
                    "endpoint: smtps://email-smtp.us-east-1.amazonaws.com)."
                )
        if self.smtp_password and not self.is_smtp:
            raise SessionError(
                "SMTPPASSWORD is given, but the endpoint is SES's API, which signs with "
                "SECRETKEY: give SERVICEURL an SMTP endpoint (smtps://email-smtp.<region>"
                ".amazonaws.com) or leave SMTPPASSWORD out."
            )
        if self.smtp_ca_file and not self.is_smtp:
            raise SessionError("A CA file for SMTP was given, but the endpoint is SES's API.")
        if not self.verify_certificate and not self.is_smtp:
            raise SessionError(
                'IGNOREINVALIDCERTIFICATE="YES" applies to SMTP endpoints only; SES\'s API '
                "endpoints always have valid certificates, so leave it out."
            )
        if self.max_error_retry is not None and self.max_error_retry < 0:
            raise SessionError(
                f"The number of retries must be 0 or more, not {self.max_error_retry}."
            )
        _validate_proxy(self)
        _validate_credentials(self)

    @property
    def is_smtp(self) -> bool:
        """Whether the endpoint is SES's SMTP interface (see :func:`is_smtp_endpoint`)."""
        return self.endpoint_url is not None and is_smtp_endpoint(self.endpoint_url)

    @property
    def user_agent_extra(self) -> str:
        """What is appended to botocore's User-Agent: ``user_agent`` or ``amlses/<version>``."""
        return self.user_agent or default_user_agent()

    def proxy_url(self) -> str | None:
        """The proxy URL with user and password percent-encoded, or None without a proxy.

        A method rather than a field on purpose: the URL embeds the password and must never
        show up in ``repr`` or equality output.
        """
        if not self.proxy_host:
            return None
        host = f"[{self.proxy_host}]" if ":" in self.proxy_host else self.proxy_host
        netloc = f"{host}:{self.proxy_port}" if self.proxy_port is not None else host
        if self.proxy_user:
            auth = quote(self.proxy_user, safe="")
            if self.proxy_password:
                auth += ":" + quote(self.proxy_password, safe="")
            netloc = f"{auth}@{netloc}"
        return f"http://{netloc}"


def _split_proxy_host(host: str, port: int | None) -> tuple[str, int | None]:
    """Split ``"host:port"`` (also ``http://host:port`` and ``[::1]:3128``) into its parts."""
    if not host:
        return host, port
    if "@" in host:
        # Not echoed: the part before "@" may well be a password.
        raise SessionError(
            "The proxy host must not contain a user or password; give them as the proxy user "
            "and proxy password instead."
        )
    if "://" in host:
        scheme, _, rest = host.partition("://")
        if scheme.lower() != "http":
            raise SessionError(
                f"The proxy host {host!r} must be a host name, optionally with :port; "
                "only plain http:// proxies are supported."
            )
        host = rest.rstrip("/")
    if host.count(":") > 1 and not host.startswith("["):
        return host, port  # a bare IPv6 address: no port can be told apart
    try:
        parts = urlsplit("//" + host)
        embedded = parts.port
    except ValueError as exc:
        raise SessionError(
            f"The proxy host {host!r} has a port that is not a number from 1 to 65535."
        ) from exc
    name = parts.hostname or ""
    if not name or parts.path or parts.query or parts.fragment:
        raise SessionError(f"The proxy host {host!r} is not a host name, optionally with :port.")
    if embedded is not None and port is not None and embedded != port:
        raise SessionError(
            f"The proxy host {host!r} names port {embedded}, but the proxy port is {port}; "
            "give the port once."
        )
    return name, embedded if embedded is not None else port


def _validate_proxy(connection: Connection) -> None:
    """The proxy rules of spec 4.7: no user, password or port without a host; ports 1–65535."""
    if not connection.proxy_host:
        if connection.proxy_user or connection.proxy_password:
            raise SessionError(
                "A proxy user or password was given without a proxy host; "
                "give the proxy host (and port) too, or remove the proxy user."
            )
        if connection.proxy_port is not None:
            raise SessionError(
                f"A proxy port ({connection.proxy_port}) was given without a proxy host."
            )
        return
    port = connection.proxy_port
    if port is not None and not 1 <= port <= 65535:
        raise SessionError(f"The proxy port must be a number from 1 to 65535, not {port}.")
    if connection.proxy_password and not connection.proxy_user:
        raise SessionError("A proxy password was given without a proxy user.")
    if is_automate_ciphertext(connection.proxy_password):
        raise SessionError(
            "The proxy password is in Automate's encrypted form (AM…aME), which only "
            "Automate can decrypt; give the plain password, or an amlses token made with "
            "`amlses encrypt`, instead."
        )
    # botocore builds the Proxy-Authorization header with .encode("ascii") and would fail
    # with a UnicodeEncodeError deep inside the first request.  Values are not echoed.
    for what, value in (("user", connection.proxy_user), ("password", connection.proxy_password)):
        if not value.isascii():
            raise SessionError(
                f"The proxy {what} contains non-ASCII characters, which botocore cannot send "
                "in the Proxy-Authorization header; use an ASCII-only proxy account."
            )


def _validate_smtp(connection: Connection) -> None:
    """What an SMTP endpoint cannot use: no key to log in with, temporary or role credentials
    (AWS cannot turn them into an SMTP password), an HTTP proxy, Automate's ciphertext."""
    if not connection.access_key:
        raise SessionError(
            "An SMTP endpoint needs ACCESSKEY: SES's SMTP user name is the IAM access key id "
            "(the AWS default credential chain cannot be used over SMTP)."
        )
    if connection.role_arn:
        raise SessionError(
            "ROLEARN cannot be used with an SMTP endpoint: SES's SMTP password is derived from "
            "a long-term secret key, and a role's credentials are temporary."
        )
    if connection.session_token and not connection.smtp_password:
        raise SessionError(
            "A session token cannot be used with an SMTP endpoint: AWS derives SMTP passwords "
            "from long-term secret keys only; give the key of an IAM user, or SMTPPASSWORD."
        )
    if connection.proxy_host:
        raise SessionError(
            "PROXYHOST cannot be used with an SMTP endpoint: SMTP does not go through an HTTP "
            "proxy; leave the proxy out, or use the API endpoint "
            "(https://email.<region>.amazonaws.com)."
        )
    if is_automate_ciphertext(connection.smtp_password):
        raise SessionError(
            "SMTPPASSWORD is in Automate's encrypted form (AM…aME), which only Automate can "
            "decrypt; give the plain SMTP password, or an amlses token made with "
            "`amlses encrypt`, or leave it out so amlses derives it from SECRETKEY."
        )


def _validate_credentials(connection: Connection) -> None:
    """A session token needs the key it belongs to; a role must look like a role ARN."""
    if connection.session_token and not connection.access_key:
        raise SessionError(
            "A session token was given without an access key; temporary credentials are "
            "an access key, a secret key and a session token together."
        )
    if connection.external_id and not connection.role_arn:
        raise SessionError("An external id was given without a role ARN to assume.")
    if connection.role_arn and not _ROLE_ARN.fullmatch(connection.role_arn):
        raise SessionError(
            f"The role {connection.role_arn!r} is not an IAM role ARN such as "
            "arn:aws:iam::123456789012:role/SesSender."
        )
