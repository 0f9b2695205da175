"""Where a connection's credentials come from: secrets by access key id, roles, amlses tokens.

Three things a client needs before it can sign, kept apart from the client building in
:mod:`amlses.aws.clients` because each has rules of its own:

* **Secrets by key id (spec 4.9).**  An Automate-encrypted secret (``AM…aME``, see
  :data:`amlses.secrets.AUTOMATE_CIPHERTEXT`) can only be decrypted by Automate, so it is never
  used to sign: the secret is looked up by access key id in the standard AWS credential sources
  instead (:func:`resolve_secret`).  The AML layer calls it before the first step so that the
  secret is masked from the first line of output on.
* **Roles.**  With ``role_arn`` the connection's own credentials only sign STS ``AssumeRole``;
  SES requests are signed with the role's temporary credentials, which botocore refreshes before
  they expire (:func:`role_session`).
* **amlses tokens.**  Python API users may pass ``amlses:v1:…`` tokens as secrets; they are
  decrypted here (:func:`revealed`), through :mod:`amlses.vault`, imported only when needed.

botocore is imported inside the functions, so that importing this module stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Final, NamedTuple, TypedDict, cast

from ..errors import SessionError
from ..secrets import is_automate_ciphertext
from .connection import Connection, region_from_endpoint
from .transport import translate_errors

if TYPE_CHECKING:
    import botocore.credentials
    import botocore.session
    from botocore.client import BaseClient

__all__ = ["resolve_secret"]

# Connection fields that may hold an amlses token, and how messages name them.
_TOKEN_FIELDS: Final = {
    "secret_key": "The secret key",
    "session_token": "The session token",
    "proxy_password": "The proxy password",
}

# Shown in CloudTrail as the assumed role's session name.
_ROLE_SESSION_NAME: Final = "amlses"


class _Credentials(NamedTuple):
    secret: str
    token: str


# --------------------------------------------------------------------------------------------
# Secrets by access key id (spec 4.9)


def resolve_secret(access_key: str, secret: str) -> str:
    """The secret key to sign with for ``access_key``.

    A plain ``secret`` is returned as given.  An Automate-encrypted one (see
    :data:`~amlses.secrets.AUTOMATE_CIPHERTEXT`) cannot be decrypted outside Automate, so the
    secret is looked up by access key id in the standard AWS credential sources instead: the
    environment (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``), then every profile of the
    shared credentials file and of the config file.  An empty ``secret`` is looked up the same
    way.  Raises :class:`~amlses.errors.SessionError` when no source knows the key; the message
    never contains the secret.
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


def static_credentials(connection: Connection) -> dict[str, str]:
    """Explicit client credentials for a connection with an access key; none without one
    (botocore then searches its default chain)."""
    if not connection.access_key:
        return {}
    secret, token = _resolve_credentials(connection.access_key, connection.secret_key)
    credentials = {"aws_access_key_id": connection.access_key, "aws_secret_access_key": secret}
    if connection.session_token or token:
        credentials["aws_session_token"] = connection.session_token or token
    return credentials


# --------------------------------------------------------------------------------------------
# amlses tokens


def revealed(connection: Connection) -> Connection:
    """``connection`` with its amlses tokens decrypted (Python API users may pass tokens; the
    AML runner has decrypted them already)."""
    from ..vault import Vault, is_token

    if not any(is_token(getattr(connection, name)) for name in _TOKEN_FIELDS):
        return connection
    vault = Vault()

    def plain(name: str) -> str:
        value: str = getattr(connection, name)
        return vault.reveal(value, _TOKEN_FIELDS[name]) if is_token(value) else value

    return replace(
        connection,
        secret_key=plain("secret_key"),
        session_token=plain("session_token"),
        proxy_password=plain("proxy_password"),
    )


# --------------------------------------------------------------------------------------------
# Assuming a role


class _RoleCredentials(TypedDict):
    AccessKeyId: str
    SecretAccessKey: str
    SessionToken: str
    Expiration: datetime


class _AssumeRoleResponse(TypedDict):
    Credentials: _RoleCredentials


def sts_endpoint(connection: Connection) -> str | None:
    """Where AssumeRole goes: the connection's endpoint when it is not AWS's SES endpoint (an
    emulator serves STS on the same URL), else botocore's choice (``AWS_ENDPOINT_URL_STS``,
    ``AWS_ENDPOINT_URL``, the regional STS endpoint)."""
    endpoint = connection.endpoint_url
    if endpoint is None or region_from_endpoint(endpoint) is not None:
        return None
    return endpoint


class AssumeRole:
    """Fetches a role's temporary credentials in the form botocore's refresh expects."""

    def __init__(self, sts: BaseClient, connection: Connection) -> None:
        self._sts = sts
        self._params = {"RoleArn": connection.role_arn, "RoleSessionName": _ROLE_SESSION_NAME}
        if connection.external_id:
            self._params["ExternalId"] = connection.external_id

    def __call__(self) -> dict[str, str]:
        with translate_errors("AssumeRole"):
            response = cast(_AssumeRoleResponse, self._sts.assume_role(**self._params))
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

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        self._credentials = credentials

    def load(self) -> botocore.credentials.Credentials:
        return self._credentials


def role_session(
    connection: Connection,
    base: botocore.session.Session,
    fetch: AssumeRole,
    clock: Callable[[], datetime] | None = None,
) -> botocore.session.Session:
    """A botocore session whose only credentials are the role's, refreshed by botocore.

    ``DeferredRefreshableCredentials`` calls ``fetch`` on the first request (so building
    the client stays free of network calls) and again when fewer than 15 minutes remain,
    so a task that runs for hours keeps signing with valid credentials.  ``clock`` (an aware
    ``datetime`` source) is botocore's view of "now" for that refresh.  The session shares
    ``base``'s data loader, so the service models are loaded once.
    """
    import botocore.session
    from botocore.credentials import CredentialResolver, DeferredRefreshableCredentials

    options: dict[str, Callable[[], datetime]] = {} if clock is None else {"time_fetcher": clock}
    credentials = DeferredRefreshableCredentials(fetch, "assume-role", **options)
    core = botocore.session.Session(profile=connection.profile)
    core.register_component("data_loader", base.get_component("data_loader"))
    core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    return core
