"""botocore SES clients, one per distinct :class:`~amlses.aws.connection.Connection`.

:class:`ClientCache` is the only place where a connection becomes a client: the region (spec
4.4: the endpoint's host, the explicit region, the AWS configuration, us-east-1), the retries
(4.5: ``MAXERRORRETRY`` + 1 attempts in botocore's standard mode, else the AWS configuration,
else 3 attempts), the user agent (4.6) and the proxy (4.7) go into its botocore ``Config``; the
credentials come from :mod:`amlses.aws.credentials`.

:class:`SesClientSource` is what the layers above need of a session — a client, and the same
settings without botocore's retries — so that :mod:`amlses.mail` works on any session without
importing :mod:`amlses.ses` (which would make the two import each other).

boto3 and botocore are imported when the first client is built, not when this module is
imported: the static checker and ``amlses --help`` must not pay ~150 ms for botocore's data
loaders.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol, TypedDict

from ..errors import SessionError
from .connection import DEFAULT_REGION, Connection, region_from_endpoint
from .credentials import AssumeRole, revealed, role_session, static_credentials, sts_endpoint
from .transport import translate_errors

if TYPE_CHECKING:
    import boto3.session
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

    The contract a test double keeps when it subclasses this: :meth:`get` and :meth:`close`.
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
        connection = revealed(connection)
        session, core = self._session_pair(connection.profile)
        credentials = static_credentials(connection)
        region = _region_for(connection, core)
        config = client_config(connection, core)
        if connection.role_arn:
            sts = session.client(
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


def client_config(
    connection: Connection, session: botocore.session.Session
) -> botocore.config.Config:
    """The botocore ``Config`` for user agent (4.6), retries (4.5) and proxy (4.7)."""
    from botocore.config import Config

    options: _ConfigOptions = {"user_agent_extra": connection.user_agent_extra}
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
