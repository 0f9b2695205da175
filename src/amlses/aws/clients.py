"""botocore SES clients, one per distinct :class:`~amlses.aws.connection.Connection`.

:class:`ClientCache` is the only place where a connection becomes a client: the region (spec
4.4: the endpoint's host, the explicit region, the AWS configuration, us-east-1), the retries
(4.5: ``MAXERRORRETRY`` + 1 attempts in botocore's standard mode, else the AWS configuration,
else 3 attempts), the user agent (4.6) and the proxy (4.7) go into its botocore ``Config``; the
credentials come from :mod:`amlses.aws.credentials`.

:class:`SesClientSource` is what the layers above need of a session — a client, and the same
settings without botocore's retries — so that :mod:`amlses.mail` works on any session without
importing :mod:`amlses.ses` (which would make the two import each other).

Clients come from botocore's session directly, not through boto3's: ``import boto3`` also
imports s3transfer and boto3's resource layer (~25–40 ms of CPU before the first request),
which SES clients never use.  A boto3 session adds nothing else to an SES client but its
User-Agent prefix (``Boto3/<version> … Botocore/<version>``), which :func:`_new_session`
keeps, so requests look exactly as before.  botocore is imported when the first client is
built, not when this module is imported: the static checker and ``amlses --help`` must not pay
~150 ms for botocore's data loaders.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Final, Protocol, TypedDict

from ..errors import SessionError
from .connection import DEFAULT_REGION, Connection, region_from_endpoint
from .credentials import AssumeRole, revealed, role_session, static_credentials, sts_endpoint
from .transport import translate_errors

if TYPE_CHECKING:
    import botocore.config
    import botocore.session
    from botocore.client import BaseClient

__all__ = ["ClientCache", "SesClientSource", "client_config"]

# Retry attempts when neither MAXERRORRETRY nor the AWS configuration says (spec 4.5).
_DEFAULT_ATTEMPTS: Final = 3


class SesClientSource(Protocol):
    """What the mail layer needs of a session (:class:`amlses.ses.SesSession` is one).

    ``client`` is the session's ordinary SES client, with the connection's retries: its botocore
    config says how many attempts the connection allows.  ``without_retries()`` is the same
    settings with botocore's retries switched off, for sends, which must not be repeated
    blindly (:mod:`amlses.mail.send` decides itself which failures may be resent).
    """

    @property
    def client(self) -> BaseClient:
        """The SES client (shared; do not close it)."""
        ...

    def without_retries(self) -> SesClientSource:
        """These settings with botocore's retries off."""
        ...


class ClientCache:
    """botocore SES clients, one per distinct :class:`Connection`, safe to share between threads.

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

    The contract a test double keeps when it subclasses this: :meth:`get` and :meth:`close`.
    """

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._clients: dict[Connection, BaseClient] = {}
        self._sessions: dict[str | None, botocore.session.Session] = {}
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
        connection = revealed(connection)
        core = self._session(connection.profile)
        credentials = static_credentials(connection)
        region = _region_for(connection, core)
        config = client_config(connection, core)
        if connection.role_arn:
            sts = core.create_client(
                "sts",
                region_name=region,
                endpoint_url=sts_endpoint(connection),
                config=config,
                **credentials,
            )
            self._sts_clients.append(sts)
            role = role_session(connection, core, AssumeRole(sts, connection), self._clock)
            return role.create_client(
                "ses", region_name=region, endpoint_url=connection.endpoint_url, config=config
            )
        # botocore itself resolves AWS_ENDPOINT_URL_SES / AWS_ENDPOINT_URL when we pass None.
        return core.create_client(
            "ses",
            region_name=region,
            endpoint_url=connection.endpoint_url,
            config=config,
            **credentials,
        )

    def _session(self, profile: str | None = None) -> botocore.session.Session:
        """The botocore session for ``profile`` (None: the default, which honours AWS_PROFILE);
        it builds the clients and answers config queries."""
        core = self._sessions.get(profile)
        if core is None:
            if profile is None:
                core = _new_session()
            else:
                core = self._session_for_profile(profile)
            self._sessions[profile] = core
        return core

    def _session_for_profile(self, profile: str) -> botocore.session.Session:
        """A botocore session for a named profile, sharing the default's service models."""
        default = self._session(None)
        if profile not in default.available_profiles:
            known = ", ".join(sorted(default.available_profiles)) or "none"
            raise SessionError(
                f'The AWS profile "{profile}" does not exist in the AWS config or credentials '
                f"file (profiles found: {known})."
            )
        core = _new_session(profile)
        core.register_component("data_loader", default.get_component("data_loader"))
        return core


def _new_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session whose clients send the User-Agent a boto3 session's would.

    boto3's ``Session`` renames the botocore session it wraps: ``Boto3/<boto3 version>`` as
    the agent, ``Botocore/<botocore version>`` moved into the extra part.  That is all it adds to
    an SES client, so it is done here without importing boto3.  boto3's version comes from its
    installed metadata (boto3 stays a dependency); without it the agent is botocore's own.
    """
    import botocore.session

    core = botocore.session.Session(profile=profile)
    boto3_version = _boto3_version()
    if boto3_version is None:  # botocore alone: its own agent is the honest one
        return core
    if core.user_agent_name == "Botocore":
        botocore_info = f"Botocore/{core.user_agent_version}"
        extra = core.user_agent_extra
        core.user_agent_extra = f"{extra} {botocore_info}" if extra else botocore_info
        core.user_agent_name = "Boto3"
        core.user_agent_version = boto3_version
    return core


@cache
def _boto3_version() -> str | None:
    """The installed boto3's version, from its metadata: importing boto3 is what is avoided."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("boto3")
    except PackageNotFoundError:
        return None


def _region_for(connection: Connection, session: botocore.session.Session) -> str:
    """Spec 4.4: the endpoint's host, the explicit region, the AWS configuration, us-east-1."""
    if connection.endpoint_url:
        region = region_from_endpoint(connection.endpoint_url)
        if region:
            return region
    configured = session.get_config_variable("region")
    return connection.region or configured or DEFAULT_REGION


class _Retries(TypedDict):
    total_max_attempts: int
    mode: str


class _ConfigOptions(TypedDict, total=False):
    """The botocore ``Config`` arguments amlses sets."""

    user_agent_extra: str
    retries: _Retries
    proxies: dict[str, str]
    max_pool_connections: int


#: connections a client keeps open for reuse: as many as a bulk send has workers, so that
#: each worker's requests reuse one TLS connection (botocore keeps 10 by default, and each
#: request of an 11th worker would open, and drop, a connection of its own)
MAX_POOL_CONNECTIONS: Final = 32


def client_config(
    connection: Connection, session: botocore.session.Session
) -> botocore.config.Config:
    """The botocore ``Config`` for user agent (4.6), retries (4.5) and proxy (4.7)."""
    from botocore.config import Config

    options: _ConfigOptions = {
        "user_agent_extra": connection.user_agent_extra,
        "max_pool_connections": MAX_POOL_CONNECTIONS,
    }
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
