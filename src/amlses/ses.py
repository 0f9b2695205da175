"""Amazon SES as a small Python API: connections, cached clients and the documented operations.

This module is the only place that knows how an Automate connection (``ACCESSKEY``,
``SECRETKEY``, ``SERVICEURL``, ``MAXERRORRETRY``, ``PROXY…``, ``USERAGENT``) becomes a boto3
client, and how botocore's exceptions become amlses errors.  It is usable without any AML::

    from amlses.ses import SesSession

    with SesSession(access_key="AKIA…", secret_key="…", region="eu-west-1") as ses:
        for identity in ses.list_identities():
            print(identity.identity, identity.type)

The rules it implements are those of ``spec/ses-action.md`` section 4: the region follows the
endpoint's host (4.4), retries follow ``MAXERRORRETRY`` or the AWS configuration (4.5), the user
agent is appended (4.6), proxies take both schemes (4.7) and an Automate-encrypted secret is
looked up by access key id, never used to sign (4.9).

boto3 and botocore are imported inside functions so that ``import amlses.ses`` stays cheap: the
static checker imports this module for :data:`AUTOMATE_CIPHERTEXT` and must not pay ~150 ms for
botocore's data loaders.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypedDict, cast
from urllib.parse import quote, urlsplit

from .errors import AmlError, AwsError, SessionError, StepError

if TYPE_CHECKING:
    import boto3.session
    import botocore.config
    import botocore.session
    from botocore.client import BaseClient

__all__ = [
    "AUTOMATE_CIPHERTEXT",
    "DEFAULT_REGION",
    "ClientCache",
    "Connection",
    "Identity",
    "SendDataPoint",
    "SendQuota",
    "SesSession",
    "default_user_agent",
    "is_automate_ciphertext",
    "region_from_endpoint",
    "resolve_secret",
    "translate_errors",
]

#: Automate's encrypted form of a secret attribute, e.g. the seed's ``AM3i6P77pVEBOw=aME``.
#: Only Automate holds the key, so such a value is never usable as a secret.  A real AWS secret
#: (40 base64-like characters) matches by chance with a probability of about 1 in 10⁹.
AUTOMATE_CIPHERTEXT: Final[re.Pattern[str]] = re.compile(r"^AM.+aME$")

#: Where SES requests go when neither the connection nor the AWS configuration names a region.
DEFAULT_REGION: Final = "us-east-1"

# The documented API endpoints (spec 4.4): email.<region>.amazonaws.com and its FIPS twin.
_SES_HOST = re.compile(r"^email(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com$")

# SES caps MaxItems at 1000; asking for the cap keeps the number of round trips lowest.
_PAGE_SIZE: Final = 1000

# Retry attempts when neither MAXERRORRETRY nor the AWS configuration says (spec 4.5).
_DEFAULT_ATTEMPTS: Final = 3

_EMAIL_TYPES: Final = frozenset({"email", "emailaddress", "email_address"})
_DOMAIN_TYPES: Final = frozenset({"domain"})


def is_automate_ciphertext(value: str) -> bool:
    """Whether ``value`` is in Automate's encrypted form (``AM…aME``) and so cannot be used.

    ``fullmatch`` rather than ``match``: ``$`` alone would accept a trailing newline.
    """
    return AUTOMATE_CIPHERTEXT.fullmatch(value) is not None


def region_from_endpoint(endpoint_url: str) -> str | None:
    """The region named by an SES endpoint's host, or None for any other host.

    ``https://email.eu-west-1.amazonaws.com`` → ``eu-west-1``; an emulator or a VPC endpoint
    names no region, so the caller falls back to the AWS configuration (spec 4.4).
    """
    host = (urlsplit(endpoint_url).hostname or "").lower()
    match = _SES_HOST.match(host)
    return match.group(1) if match else None


def default_user_agent() -> str:
    """``amlses/<version>``, what amlses appends to the User-Agent when none is given."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"amlses/{version('amlses')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "amlses/unknown"


# --------------------------------------------------------------------------------------------
# Connection settings


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach SES: credentials, endpoint and client options.

    Frozen and hashable because it is the key of :class:`ClientCache`: two steps with equal
    settings share one client.  Secrets stay out of ``repr``.  Empty strings mean "not given",
    so the AML layer can pass attribute values through unchanged.

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
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SessionError(
                    f"The endpoint {_without_userinfo(self.endpoint_url)!r} is not an http:// "
                    "or https:// URL, "
                    "e.g. https://email.us-east-1.amazonaws.com."
                )
        if self.max_error_retry is not None and self.max_error_retry < 0:
            raise SessionError(
                f"The number of retries must be 0 or more, not {self.max_error_retry}."
            )
        _validate_proxy(self)
        _validate_credentials(self)

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


# An IAM role ARN: arn:<partition>:iam::<account>:role/<path/name> (spec §4, ROLEARN extension).
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]+")


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


# --------------------------------------------------------------------------------------------
# Secrets (spec 4.9)


class _Credentials(NamedTuple):
    secret: str
    token: str


def resolve_secret(access_key: str, secret: str) -> str:
    """The secret key to sign with for ``access_key``.

    A plain ``secret`` is returned as given.  An Automate-encrypted one (see
    :data:`AUTOMATE_CIPHERTEXT`) cannot be decrypted outside Automate, so the secret is looked
    up by access key id in the standard AWS credential sources instead: the environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), then every profile of the shared
    credentials file and of the config file.  An empty ``secret`` is looked up the same way.
    Raises :class:`~amlses.errors.SessionError` when no source knows the key; the message never
    contains the secret.
    """
    return _resolve_credentials(access_key, secret).secret


def _resolve_credentials(access_key: str, secret: str) -> _Credentials:
    """:func:`resolve_secret` plus the session token of the source that matched."""
    if secret and not is_automate_ciphertext(secret):
        return _Credentials(secret, "")
    if not access_key:
        raise SessionError(
            "A secret key can only be looked up by its access key id, and none was given."
        )
    found = _lookup_credentials(access_key)
    if found is not None:
        return found
    why = (
        f"The secret key for access key {access_key} is Automate-encrypted and cannot be "
        "decrypted outside Automate"
        if secret
        else f"No secret key was given for access key {access_key}"
    )
    raise SessionError(
        f"{why}, and no AWS credential source knows that key. Three ways out: (1) put the "
        "plain secret key in the task; (2) encrypt it with `amlses encrypt` and paste the "
        "amlses:v1:… token as the secret key; (3) keep it where AWS tools find it: a profile "
        f"with aws_access_key_id = {access_key} in ~/.aws/credentials or AWS_ACCESS_KEY_ID "
        "and AWS_SECRET_ACCESS_KEY (both found by key id), or leave the access key empty and "
        "select a profile with --profile NAME or AWS_PROFILE."
    )


def _lookup_credentials(access_key: str) -> _Credentials | None:
    """The secret (and token) stored for ``access_key`` in the environment or the AWS files."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") == access_key and env.get("AWS_SECRET_ACCESS_KEY"):
        return _Credentials(env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN", ""))
    files = (
        env.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        env.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    for path in files:
        for profile in _read_profiles(path).values():
            if profile.get("aws_access_key_id") == access_key:
                secret = profile.get("aws_secret_access_key", "")
                if secret and not is_automate_ciphertext(secret):
                    return _Credentials(secret, profile.get("aws_session_token", ""))
    return None


def _read_profiles(path: str) -> Mapping[str, Mapping[str, str]]:
    """Every section of an AWS INI file; an absent file has none."""
    from botocore.configloader import raw_config_parse
    from botocore.exceptions import ConfigNotFound, ConfigParseError

    try:
        return cast(Mapping[str, Mapping[str, str]], raw_config_parse(path))
    except ConfigNotFound:
        return {}
    except ConfigParseError as exc:
        raise SessionError(
            f"The AWS file {path} cannot be read while looking up a secret key: {exc}"
        ) from exc


# --------------------------------------------------------------------------------------------
# Error translation: the one boundary where botocore's exceptions become amlses errors


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into amlses errors, ``from`` the cause.

    ``operation`` is the SES operation (``ListIdentities``) and appears in the message.
    amlses errors pass through unchanged; exceptions botocore did not raise propagate as they
    are, since they are bugs rather than something a user can act on.
    """
    try:
        yield
    except AmlError:
        raise
    except Exception as exc:
        translated = _translate(exc, operation)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: Exception, operation: str) -> AmlError | None:
    """The amlses error for a botocore exception, most specific class first; None otherwise."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        return _client_error(exc, operation)
    if isinstance(exc, bx.ParamValidationError):
        return StepError(f"Invalid parameters for {operation}: {exc}")
    if isinstance(exc, bx.NoCredentialsError):
        return SessionError(
            "No AWS credentials were found. With no access key, the AWS default chain is "
            "searched (environment, shared credentials and config files, SSO, container and "
            "instance roles) and found nothing. Give an access key and secret key, set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile in "
            "~/.aws/credentials and select it with --profile NAME or AWS_PROFILE."
        )
    if isinstance(exc, bx.PartialCredentialsError):
        return SessionError(
            f"The AWS credentials from {exc.kwargs.get('provider', 'the configuration')} are "
            f"incomplete: {exc.kwargs.get('cred_var', 'a value')} is missing."
        )
    if isinstance(exc, bx.ProfileNotFound | bx.CredentialRetrievalError):
        return SessionError(f"The AWS credentials could not be loaded: {exc}")
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        # e.g. an emulator or a proxy answering with an HTML error page instead of SES XML
        return AwsError(
            "InvalidResponse",
            "the endpoint answered with something that is not an SES response "
            "(is SERVICEURL an SES endpoint?)",
            operation=operation,
        )
    return _network_error(exc, operation)


def _client_error(exc: Any, operation: str) -> AwsError:
    """AWS answered: keep its code, message and request id (spec 4.14)."""
    response = exc.response or {}
    error = response.get("Error", {})
    request_id = response.get("ResponseMetadata", {}).get("RequestId") or None
    return AwsError(
        str(error.get("Code") or "Unknown"),
        str(error.get("Message") or ""),
        request_id=request_id,
        operation=operation,
    )


def _network_error(exc: Exception, operation: str) -> AmlError | None:
    """AWS could not be reached: an :class:`AwsError` whose code says how, naming the endpoint.

    These codes (``ConnectionError``, ``Timeout``, ``ProxyError``, ``SSLError``) are amlses's,
    not AWS's; ``AM_ERRORS`` can match them like any other code.
    """
    from botocore import exceptions as bx

    kwargs: dict[str, Any] = getattr(exc, "kwargs", {}) or {}
    endpoint = _without_userinfo(str(kwargs.get("endpoint_url") or "the SES endpoint"))
    detail: tuple[str, str] | None = None
    if isinstance(exc, bx.ProxyConnectionError):
        proxy = _without_userinfo(str(kwargs.get("proxy_url") or "the proxy"))
        detail = ("ProxyError", f"Could not connect to SES through the proxy {proxy}.")
    elif isinstance(exc, bx.ConnectTimeoutError):
        detail = ("Timeout", f"Timed out connecting to {endpoint}.")
    elif isinstance(exc, bx.ReadTimeoutError):
        detail = ("Timeout", f"{endpoint} did not answer in time.")
    elif isinstance(exc, bx.SSLError):
        detail = ("SSLError", f"The TLS handshake with {endpoint} failed: {kwargs.get('error')}")
    elif isinstance(exc, bx.EndpointConnectionError):
        detail = ("ConnectionError", f"Could not connect to {endpoint}.")
    elif isinstance(exc, bx.ConnectionClosedError):
        detail = ("ConnectionError", f"{endpoint} closed the connection before answering.")
    elif isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        detail = ("ConnectionError", f"The connection to {endpoint} failed: {exc}")
    elif isinstance(exc, bx.BotoCoreError):
        return StepError(f"{operation} failed: {exc}")
    if detail is None:
        return None
    return AwsError(detail[0], detail[1], operation=operation)


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: a proxy URL may carry the proxy password."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


# --------------------------------------------------------------------------------------------
# Clients


class ClientCache:
    """boto3 SES clients, one per distinct :class:`Connection`, safe to share between threads.

    All clients share one botocore data loader, so the service model is loaded once; the
    credentials are passed per client.  The AWS configuration (environment and files) is read
    when a client is first built, so a cache should not outlive changes to it: tests and the
    runner make their own.  Building a client makes no request; a bad secret or profile fails
    here, before any request (spec 4.9).

    Where the credentials come from: the connection's access key (its secret decrypted when it
    is an amlses token, looked up by key id when Automate-encrypted); without one, the AWS
    default chain of ``connection.profile`` (or ``AWS_PROFILE``).  With ``role_arn`` those
    credentials only sign STS ``AssumeRole``; SES requests are signed with the role's
    temporary credentials, fetched on the first request and again before they expire.
    ``clock`` (an aware ``datetime`` source) is botocore's view of "now" for that refresh.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._clients: dict[Connection, BaseClient] = {}
        self._sessions: dict[str | None, tuple[boto3.session.Session, botocore.session.Session]]
        self._sessions = {}
        self._sts_clients: list[BaseClient] = []  # the clients that fetch role credentials
        self._clock = clock

    def get(self, connection: Connection) -> BaseClient:
        """The SES client for ``connection``, built on first use."""
        with self._lock:
            client = self._clients.get(connection)
            if client is None:
                with translate_errors("client creation"):
                    client = self._build(connection)
                self._clients[connection] = client
            return client

    def close(self) -> None:
        """Close every client's connection pool and forget them."""
        with self._lock:
            clients = [*self._clients.values(), *self._sts_clients]
            self._clients.clear()
            self._sts_clients.clear()
        for client in clients:
            client.close()

    def __len__(self) -> int:
        return len(self._clients)

    def _build(self, connection: Connection) -> BaseClient:
        connection = _revealed(connection)
        session, core = self._session_pair(connection.profile)
        credentials = _static_credentials(connection)
        region = _region_for(connection, core)
        config = _client_config(connection, core)
        if connection.role_arn:
            sts = session.client(
                "sts",
                region_name=region,
                endpoint_url=_sts_endpoint(connection),
                config=config,
                **credentials,
            )
            self._sts_clients.append(sts)
            role = self._role_session(connection, core, _AssumeRole(sts, connection))
            return role.create_client(
                "ses", region_name=region, endpoint_url=connection.endpoint_url, config=config
            )
        # botocore itself resolves AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL when we pass None.
        return session.client(
            "ses",
            region_name=region,
            endpoint_url=connection.endpoint_url,
            config=config,
            **credentials,
        )

    def _session_pair(
        self, profile: str | None = None
    ) -> tuple[boto3.session.Session, botocore.session.Session]:
        """The boto3 session for ``profile`` (None: the default, which honours AWS_PROFILE)
        and the botocore session under it (which answers config queries)."""
        pair = self._sessions.get(profile)
        if pair is None:
            import boto3.session
            import botocore.session

            if profile is None:
                core = botocore.session.get_session()
            else:
                core = self._session_for_profile(profile)
            pair = self._sessions[profile] = (boto3.session.Session(botocore_session=core), core)
        return pair

    def _session_for_profile(self, profile: str) -> botocore.session.Session:
        """A botocore session for a named profile, sharing the default's service models."""
        import botocore.session

        default = self._session_pair(None)[1]
        if profile not in default.available_profiles:
            known = ", ".join(sorted(default.available_profiles)) or "none"
            raise SessionError(
                f'The AWS profile "{profile}" does not exist in the AWS config or credentials '
                f"file (profiles found: {known})."
            )
        core = botocore.session.Session(profile=profile)
        core.register_component("data_loader", default.get_component("data_loader"))
        return core

    def _role_session(
        self, connection: Connection, base: botocore.session.Session, fetch: _AssumeRole
    ) -> botocore.session.Session:
        """A botocore session whose only credentials are the role's, refreshed by botocore.

        ``DeferredRefreshableCredentials`` calls ``fetch`` on the first request (so building
        the client stays free of network calls) and again when fewer than 15 minutes remain,
        so a task that runs for hours keeps signing with valid credentials.
        """
        import botocore.session
        from botocore.credentials import CredentialResolver, DeferredRefreshableCredentials

        options: dict[str, Any] = {} if self._clock is None else {"time_fetcher": self._clock}
        credentials = DeferredRefreshableCredentials(fetch, "assume-role", **options)
        core = botocore.session.Session(profile=connection.profile)
        core.register_component("data_loader", base.get_component("data_loader"))
        core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
        return core


def _static_credentials(connection: Connection) -> dict[str, str]:
    """Explicit client credentials for a connection with an access key; none without one
    (botocore then searches its default chain)."""
    if not connection.access_key:
        return {}
    secret, token = _resolve_credentials(connection.access_key, connection.secret_key)
    credentials = {"aws_access_key_id": connection.access_key, "aws_secret_access_key": secret}
    if connection.session_token or token:
        credentials["aws_session_token"] = connection.session_token or token
    return credentials


# Connection fields that may hold an amlses token, and how messages name them.
_TOKEN_FIELDS: Final = {
    "secret_key": "The secret key",
    "session_token": "The session token",
    "proxy_password": "The proxy password",
}


def _revealed(connection: Connection) -> Connection:
    """``connection`` with its amlses tokens decrypted (Python API users may pass tokens; the
    AML runner has decrypted them already)."""
    from .vault import Vault, is_token

    tokens = {name: getattr(connection, name) for name in _TOKEN_FIELDS}
    tokens = {name: value for name, value in tokens.items() if is_token(value)}
    if not tokens:
        return connection
    vault = Vault()
    plain: dict[str, Any] = {
        name: vault.reveal(value, _TOKEN_FIELDS[name]) for name, value in tokens.items()
    }
    return replace(connection, **plain)


def _sts_endpoint(connection: Connection) -> str | None:
    """Where AssumeRole goes: the connection's endpoint when it is not AWS's SES endpoint (an
    emulator serves STS on the same URL), else botocore's choice (``AWS_ENDPOINT_URL_STS``,
    ``AWS_ENDPOINT_URL``, the regional STS endpoint)."""
    endpoint = connection.endpoint_url
    if endpoint is None or region_from_endpoint(endpoint) is not None:
        return None
    return endpoint


# Shown in CloudTrail as the assumed role's session name.
_ROLE_SESSION_NAME: Final = "amlses"


class _AssumeRole:
    """Fetches a role's temporary credentials in the form botocore's refresh expects."""

    def __init__(self, sts: BaseClient, connection: Connection) -> None:
        self._sts = sts
        self._params = {"RoleArn": connection.role_arn, "RoleSessionName": _ROLE_SESSION_NAME}
        if connection.external_id:
            self._params["ExternalId"] = connection.external_id

    def __call__(self) -> dict[str, str]:
        with translate_errors("AssumeRole"):
            response = self._sts.assume_role(**self._params)
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }


class _Given:
    """A credential provider that hands out one credentials object (botocore's interface)."""

    METHOD = "amlses-assume-role"
    CANONICAL_NAME = None

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def _region_for(connection: Connection, session: botocore.session.Session) -> str:
    """Spec 4.4: the endpoint's host, the explicit region, the AWS configuration, us-east-1."""
    if connection.endpoint_url:
        region = region_from_endpoint(connection.endpoint_url)
        if region:
            return region
    configured = session.get_config_variable("region")
    return connection.region or configured or DEFAULT_REGION


def _client_config(
    connection: Connection, session: botocore.session.Session
) -> botocore.config.Config:
    """The botocore ``Config`` for user agent (4.6), retries (4.5) and proxy (4.7)."""
    from botocore.config import Config

    options: dict[str, Any] = {"user_agent_extra": connection.user_agent_extra}
    if connection.max_error_retry is not None:
        attempts = connection.max_error_retry + 1
        options["retries"] = {"total_max_attempts": attempts, "mode": "standard"}
    elif not _aws_configures_retries(session):
        options["retries"] = {"total_max_attempts": _DEFAULT_ATTEMPTS, "mode": "standard"}
    proxy = connection.proxy_url()
    if proxy is not None:
        options["proxies"] = {"http": proxy, "https": proxy}
    return Config(**options)


def _aws_configures_retries(session: botocore.session.Session) -> bool:
    """Whether the environment or the active profile sets ``max_attempts`` or ``retry_mode``.

    botocore's ``get_config_variable`` cannot tell a configured value from its default, so the
    sources are asked directly.
    """
    if os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE"):
        return True
    profile = session.get_scoped_config()
    return bool(profile.get("max_attempts") or profile.get("retry_mode"))


_DEFAULT_CACHE = ClientCache()


# --------------------------------------------------------------------------------------------
# Results


class Identity(NamedTuple):
    """One SES identity; ``type`` is ``EmailAddress`` when it contains ``@``, else ``Domain``."""

    identity: str
    type: str


class SendQuota(NamedTuple):
    """``GetSendQuota``; field names are the dataset columns of spec 4.12 (-1 = unlimited)."""

    Max24HourSend: float
    MaxSendRate: float
    SentLast24Hours: float


class SendDataPoint(NamedTuple):
    """One 15-minute interval of ``GetSendStatistics``; field names are dataset columns."""

    Timestamp: datetime
    DeliveryAttempts: int
    Bounces: int
    Complaints: int
    Rejects: int


class _ListIdentitiesResponse(TypedDict, total=False):
    Identities: list[str]
    NextToken: str


class _SendQuotaResponse(TypedDict):
    Max24HourSend: float
    MaxSendRate: float
    SentLast24Hours: float


class _SendDataPointResponse(TypedDict, total=False):
    Timestamp: datetime
    DeliveryAttempts: int
    Bounces: int
    Complaints: int
    Rejects: int


# --------------------------------------------------------------------------------------------
# The session


def paginate(call: Callable[..., Any], operation: str, **params: Any) -> Iterator[Any]:
    """Every page of a ``NextToken``-paged SES operation, errors translated.

    A server that hands back a token it gave before would make the loop endless; that is an
    ``InvalidNextToken`` error instead.
    """
    seen: set[str] = set()
    token: str | None = None
    while True:
        with translate_errors(operation):
            page = call(**params, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return
        if token in seen:
            raise AwsError(
                "InvalidNextToken",
                "SES returned the same NextToken twice.",
                operation=operation,
            )
        seen.add(token)


class SesSession:
    """The SES operations of the Automate action, over one :class:`Connection`.

    ``SesSession(connection)`` or ``SesSession(access_key=…, secret_key=…, …)``; keyword
    settings given with a connection override its fields.  The client comes from ``cache``
    (a module-wide one by default), so sessions with equal settings share a client.  Every
    method raises only amlses errors: :class:`~amlses.errors.AwsError` when AWS answers with an
    error or cannot be reached, :class:`~amlses.errors.SessionError` for credentials and a
    closed session, :class:`~amlses.errors.StepError` for bad arguments.
    """

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        cache: ClientCache | None = None,
        **connection_fields: Any,
    ) -> None:
        if connection is None:
            connection = Connection(**connection_fields)
        elif connection_fields:
            connection = replace(connection, **connection_fields)
        self.connection = connection
        self._cache = cache if cache is not None else _DEFAULT_CACHE
        self._client: BaseClient | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SesSession {state} {self.connection!r}>"

    @property
    def client(self) -> BaseClient:
        """The boto3 SES client (shared through the cache; do not close it yourself)."""
        if self._closed:
            raise SessionError("The SES session has been closed and cannot be used any more.")
        if self._client is None:  # the cache's lock and key hashing, once per session
            self._client = self._cache.get(self.connection)
        return self._client

    def list_identities(self) -> list[Identity]:
        """Every identity of the account, any status, in SES order, across all pages."""
        pages = paginate(self.client.list_identities, "ListIdentities", MaxItems=_PAGE_SIZE)
        return [_identity(value) for page in pages for value in page.get("Identities", [])]

    def verify_identity(self, identity: str, identity_type: str | None = None) -> str:
        """Start verifying an address or a domain; the domain's TXT token, or "" for an address.

        ``identity_type`` is ``email``/``emailaddress``/``email_address`` or ``domain`` in any
        case; empty or None infers it from ``@`` (spec 4.11).  SES mails the address a
        confirmation link; a domain is verified once the token is published as a TXT record.
        """
        if not identity.strip():
            raise StepError("The identity to verify is empty; give an address or a domain.")
        if _is_email(identity, identity_type):
            with translate_errors("VerifyEmailIdentity"):
                self.client.verify_email_identity(EmailAddress=identity)
            return ""
        with translate_errors("VerifyDomainIdentity"):
            response = self.client.verify_domain_identity(Domain=identity)
        return str(response["VerificationToken"])

    def delete_identity(self, identity: str) -> None:
        """Remove an identity; one that does not exist is not an error (SES semantics)."""
        if not identity.strip():
            raise StepError("The identity to delete is empty; give an address or a domain.")
        with translate_errors("DeleteIdentity"):
            self.client.delete_identity(Identity=identity)

    def email_statistics(self) -> tuple[SendQuota, list[SendDataPoint]]:
        """The sending quota and the last two weeks' data points, oldest first (spec 4.12).

        SES returns the data points in no documented order, hence the sort.
        """
        with translate_errors("GetSendQuota"):
            quota = cast(_SendQuotaResponse, self.client.get_send_quota())
        with translate_errors("GetSendStatistics"):
            response = self.client.get_send_statistics()
        points = [
            _data_point(cast(_SendDataPointResponse, raw))
            for raw in response.get("SendDataPoints", [])
        ]
        points.sort(key=lambda point: point.Timestamp)
        return (
            SendQuota(
                float(quota["Max24HourSend"]),
                float(quota["MaxSendRate"]),
                float(quota["SentLast24Hours"]),
            ),
            points,
        )

    # -- sending mail (amlses extensions): thin delegates to amlses.mail, documented there --

    def without_retries(self) -> SesSession:
        """This session's settings with botocore's retries off, sharing the client cache.

        For sends, which must not be repeated blindly: botocore would resend after a read
        timeout or a 5xx, when SES may already have accepted the message (see amlses.mail).
        """
        return SesSession(replace(self.connection, max_error_retry=0), cache=self._cache)

    def send_email(self, **options: Any) -> str:
        """:func:`amlses.mail.send_email` on this session; returns the MessageId."""
        from . import mail

        return mail.send_email(self, **options)

    def send_raw_email(self, message: Any, **options: Any) -> str:
        """:func:`amlses.mail.send_raw_email` on this session; returns the MessageId."""
        from . import mail

        return mail.send_raw_email(self, message, **options)

    def send_templated_email(self, **options: Any) -> str:
        """:func:`amlses.mail.send_templated_email` on this session; returns the MessageId."""
        from . import mail

        return mail.send_templated_email(self, **options)

    def send_bulk_email(self, recipients: Any, **options: Any) -> Any:
        """:func:`amlses.mail.send_bulk_email` on this session; returns a BulkReport."""
        from . import mail

        return mail.send_bulk_email(self, recipients, **options)

    def create_template(self, name: str, **options: Any) -> None:
        """:func:`amlses.mail.create_template` on this session."""
        from . import mail

        mail.create_template(self, name, **options)

    def update_template(self, name: str, **options: Any) -> None:
        """:func:`amlses.mail.update_template` on this session."""
        from . import mail

        mail.update_template(self, name, **options)

    def delete_template(self, name: str) -> bool:
        """:func:`amlses.mail.delete_template` on this session; whether it existed."""
        from . import mail

        return mail.delete_template(self, name)

    def get_template(self, name: str) -> Any:
        """:func:`amlses.mail.get_template` on this session; a Template."""
        from . import mail

        return mail.get_template(self, name)

    def list_templates(self) -> list[Any]:
        """:func:`amlses.mail.list_templates` on this session; TemplateInfo rows."""
        from . import mail

        return list(mail.list_templates(self))

    def test_render_template(self, name: str, data: Any = None) -> str:
        """:func:`amlses.mail.test_render_template` on this session; the rendered MIME text."""
        from . import mail

        return mail.test_render_template(self, name, data)

    def close(self) -> None:
        """End the session; later calls raise SessionError.  The shared client stays open."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> SesSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _identity(value: str) -> Identity:
    return Identity(value, "EmailAddress" if "@" in value else "Domain")


def _is_email(identity: str, identity_type: str | None) -> bool:
    """Whether to verify ``identity`` as an address; raises StepError for an unknown type."""
    kind = (identity_type or "").strip().lower()
    if not kind:
        return "@" in identity
    if kind in _EMAIL_TYPES:
        return True
    if kind in _DOMAIN_TYPES:
        return False
    raise StepError(
        f"The identity type {identity_type!r} is not known; use email (also emailaddress, "
        "email_address) or domain, in any case, or leave it empty to infer it from '@'."
    )


def _data_point(raw: _SendDataPointResponse) -> SendDataPoint:
    return SendDataPoint(
        raw["Timestamp"],
        int(raw.get("DeliveryAttempts", 0)),
        int(raw.get("Bounces", 0)),
        int(raw.get("Complaints", 0)),
        int(raw.get("Rejects", 0)),
    )
