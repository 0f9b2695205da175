"""Amazon SES as a small Python API: :class:`SesSession` and the documented operations.

This is the public facade of amlses's SES support, usable without any AML::

    from amlses.ses import SesSession

    with SesSession(access_key="AKIA…", secret_key="…", region="eu-west-1") as ses:
        for identity in ses.list_identities():
            print(identity.identity, identity.type)

It holds the identity and statistics operations of Automate's action (spec 4.10–4.13) and, as
typed methods, the sending extensions of :mod:`amlses.mail`.  How a connection becomes a
client, and how botocore's exceptions become amlses errors, is the AWS layer's business
(:mod:`amlses.aws`): the region follows the endpoint's host (4.4), retries follow
``MAXERRORRETRY`` or the AWS configuration (4.5), the user agent is appended (4.6), proxies
take both schemes (4.7) and an Automate-encrypted secret is looked up by access key id, never
used to sign (4.9).  The names of that layer are re-exported here, because ``amlses.ses`` is
where they have always been imported from.

A session whose endpoint is SES's SMTP interface (``smtps://…``, ``smtp://…``, an
``email-smtp.<region>.amazonaws.com`` host) sends mail over SMTP instead: the user is the access
key id, the password is derived from the secret key for the endpoint's region (or given as
``smtp_password``), and the session keeps one connection for its messages
(:meth:`SesSession.send_smtp`); a bulk send asks :meth:`SesSession.new_smtp_sender` for one
connection per worker.  SMTP only sends, so everything else on such a session fails in one
sentence naming the API endpoint it needs.

The layering is ``ses`` → ``mail`` → ``aws``: :mod:`amlses.mail` works on any
:class:`~amlses.aws.clients.SesClientSource`, so it never imports this module.  boto3, botocore
and the MIME machinery of :mod:`amlses.mail` are imported inside functions so that ``import
amlses.ses`` stays cheap: the static checker imports this module for
:data:`AUTOMATE_CIPHERTEXT` and must not pay ~150 ms for botocore's data loaders.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Final, NamedTuple, TypedDict, Unpack, cast

from .aws.clients import ClientCache
from .aws.connection import DEFAULT_REGION, Connection, default_user_agent, region_from_endpoint
from .aws.credentials import resolve_secret
from .aws.transport import paginate, translate_errors
from .errors import AmlError, SessionError, StepError
from .mail.common import DEFAULT_CHARSET, Addresses, Tags, TemplateData
from .secrets import AUTOMATE_CIPHERTEXT, is_automate_ciphertext

if TYPE_CHECKING:
    from email.message import EmailMessage

    from botocore.client import BaseClient

    from .mail.bulk import BulkProgress, BulkRecipient, BulkReport
    from .mail.templates import Template, TemplateInfo
    from .smtp.transport import SmtpEndpoint, SmtpLogin, SmtpSender

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
    "paginate",
    "region_from_endpoint",
    "resolve_secret",
    "translate_errors",
]

# SES caps MaxItems at 1000; asking for the cap keeps the number of round trips lowest.
_PAGE_SIZE: Final = 1000

_EMAIL_TYPES: Final = frozenset({"email", "emailaddress", "email_address"})
_DOMAIN_TYPES: Final = frozenset({"domain"})

#: The cache of sessions made without one: sessions with equal settings share a client.
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


class _VerifyDomainIdentityResponse(TypedDict):
    VerificationToken: str


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


class _SendStatisticsResponse(TypedDict, total=False):
    SendDataPoints: list[_SendDataPointResponse]


class _ConnectionFields(TypedDict, total=False):
    """The fields of :class:`Connection`, as keyword arguments of :class:`SesSession`."""

    access_key: str
    secret_key: str
    session_token: str
    endpoint_url: str | None
    region: str | None
    user_agent: str
    max_error_retry: int | None
    proxy_host: str
    proxy_port: int | None
    proxy_user: str
    proxy_password: str
    profile: str | None
    role_arn: str
    external_id: str
    smtp_password: str
    verify_certificate: bool


# --------------------------------------------------------------------------------------------
# The session


class SesSession:
    """The SES operations of the Automate action, over one :class:`Connection`.

    ``SesSession(connection)`` or ``SesSession(access_key=…, secret_key=…, …)``; keyword
    settings given with a connection override its fields.  The client comes from ``cache``
    (a module-wide one by default), so sessions with equal settings share a client.  Every
    method raises only amlses errors: :class:`~amlses.errors.AwsError` when AWS answers with an
    error or cannot be reached, :class:`~amlses.errors.SessionError` for credentials and a
    closed session, :class:`~amlses.errors.StepError` for bad arguments.

    A session is a :class:`~amlses.aws.clients.SesClientSource`, so the functions of
    :mod:`amlses.mail` take it as it is; the send and template methods below are those
    functions on this session, with the same parameters.

    With an SMTP endpoint (:attr:`is_smtp`) the endpoint and login are worked out at once, so a
    bad URL or a key that cannot be found fails here, before any connection; ``send_email`` and
    ``send_raw_email`` then go over SMTP, and :attr:`client` (so every other operation) raises
    :class:`~amlses.errors.SessionError`.
    """

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        cache: ClientCache | None = None,
        **connection_fields: Unpack[_ConnectionFields],
    ) -> None:
        if connection is None:
            connection = Connection(**connection_fields)
        elif connection_fields:
            connection = replace(connection, **connection_fields)
        self.connection = connection
        self._cache = cache if cache is not None else _DEFAULT_CACHE
        self._client: BaseClient | None = None
        self._closed = False
        self._smtp_endpoint: SmtpEndpoint | None = None
        self._smtp_login: SmtpLogin | None = None
        self._smtp_sender: SmtpSender | None = None
        self._smtp_lock = threading.Lock()  # one message at a time on the session's connection
        if connection.is_smtp:
            self._smtp_endpoint, self._smtp_login = _smtp_settings(connection)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SesSession {state} {self.connection!r}>"

    @property
    def client(self) -> BaseClient:
        """The boto3 SES client (shared through the cache; do not close it yourself)."""
        if self._closed:
            raise SessionError("The SES session has been closed and cannot be used any more.")
        if self._smtp_endpoint is not None:
            raise SessionError(_api_only(self._smtp_endpoint))
        if self._client is None:  # the cache's lock and key hashing, once per session
            self._client = self._cache.get(self.connection)
        return self._client

    # -- SES's SMTP interface

    @property
    def is_smtp(self) -> bool:
        """Whether this session sends through SES's SMTP interface instead of its API."""
        return self._smtp_endpoint is not None

    @property
    def smtp_endpoint(self) -> SmtpEndpoint:
        """The SMTP endpoint (host, port, TLS mode, region); SessionError for an API session."""
        if self._smtp_endpoint is None:
            raise SessionError(self._not_smtp())
        return self._smtp_endpoint

    @staticmethod
    def _not_smtp() -> str:
        return (
            "This SES session uses SES's API, not its SMTP interface; give it an SMTP "
            "endpoint (smtps://email-smtp.<region>.amazonaws.com) to send over SMTP."
        )

    @property
    def smtp_login(self) -> SmtpLogin:
        """The SMTP user (the access key id) and password (never in ``repr``); SessionError for
        an API session.  Callers that print anything register the password as a secret."""
        if self._smtp_login is None:
            raise SessionError(self._not_smtp())
        return self._smtp_login

    def new_smtp_sender(self) -> SmtpSender:
        """A new :class:`~amlses.smtp.transport.SmtpSender` for this session's endpoint and
        login, with a connection of its own (opened on its first message): one per bulk
        worker.  The caller closes it; the session does not keep it."""
        from .smtp.transport import SmtpSender

        endpoint = self.smtp_endpoint
        if self._closed:
            raise SessionError("The SES session has been closed and cannot be used any more.")
        return SmtpSender(endpoint, self.smtp_login)

    def send_smtp(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """Send one whole message over the session's own SMTP connection (opened on the first
        message, kept for the next ones until :meth:`close`); returns SES's MessageId.

        Sends on one session wait for each other.  Raises
        :class:`~amlses.smtp.transport.SmtpError`, whose ``unknown`` and ``retryable`` say
        whether SES may have the message and whether a resend may help; nothing is resent here.
        """
        with self._smtp_lock:
            if self._smtp_sender is None:
                self._smtp_sender = self.new_smtp_sender()
            return self._smtp_sender.send(raw, sender, recipients)

    def list_identities(self) -> list[Identity]:
        """Every identity of the account, any status, in SES order, across all pages."""
        pages = paginate(self.client.list_identities, "ListIdentities", MaxItems=_PAGE_SIZE)
        return [
            _identity(value)
            for page in cast(Iterator[_ListIdentitiesResponse], pages)
            for value in page.get("Identities", [])
        ]

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
            response = cast(
                _VerifyDomainIdentityResponse, self.client.verify_domain_identity(Domain=identity)
            )
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
            response = cast(_SendStatisticsResponse, self.client.get_send_statistics())
        points = [_data_point(raw) for raw in response.get("SendDataPoints", [])]
        points.sort(key=lambda point: point.Timestamp)
        return (
            SendQuota(
                float(quota["Max24HourSend"]),
                float(quota["MaxSendRate"]),
                float(quota["SentLast24Hours"]),
            ),
            points,
        )

    # -- sending mail (amlses extensions): amlses.mail on this session, documented there.
    # amlses.mail's sending modules are imported on the first call: they load the email
    # package and concurrent.futures, which `import amlses.ses` must not pay for.

    def without_retries(self) -> SesSession:
        """This session's settings with botocore's retries off, sharing the client cache.

        For sends, which must not be repeated blindly: botocore would resend after a read
        timeout or a 5xx, when SES may already have accepted the message (see
        :mod:`amlses.mail.send`).  An SMTP session has no botocore retries: it is its own.
        """
        if self.is_smtp:
            return self
        return SesSession(replace(self.connection, max_error_retry=0), cache=self._cache)

    def send_email(
        self,
        *,
        sender: str,
        to: Addresses = (),
        cc: Addresses = (),
        bcc: Addresses = (),
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        charset: str = DEFAULT_CHARSET,
        reply_to: Addresses = (),
        return_path: str | None = None,
        configuration_set: str | None = None,
        tags: Tags | None = None,
        attachments: Iterable[str | PathLike[str]] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """:func:`amlses.mail.send_email` on this session; returns the MessageId."""
        from .mail import send

        return send.send_email(
            self,
            sender=sender,
            to=to,
            cc=cc,
            bcc=bcc,
            subject=subject,
            text=text,
            html=html,
            charset=charset,
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
            attachments=attachments,
            sleep=sleep,
        )

    def send_raw_email(
        self,
        message: EmailMessage | bytes | str,
        *,
        sender: str | None = None,
        destinations: Addresses = (),
        configuration_set: str | None = None,
        tags: Tags | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """:func:`amlses.mail.send_raw_email` on this session; returns the MessageId."""
        from .mail import send

        return send.send_raw_email(
            self,
            message,
            sender=sender,
            destinations=destinations,
            configuration_set=configuration_set,
            tags=tags,
            sleep=sleep,
        )

    def send_templated_email(
        self,
        *,
        sender: str,
        template: str,
        template_data: TemplateData | None = None,
        to: Addresses = (),
        cc: Addresses = (),
        bcc: Addresses = (),
        reply_to: Addresses = (),
        return_path: str | None = None,
        configuration_set: str | None = None,
        tags: Tags | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> str:
        """:func:`amlses.mail.send_templated_email` on this session; returns the MessageId."""
        from .mail import send

        return send.send_templated_email(
            self,
            sender=sender,
            template=template,
            template_data=template_data,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
            sleep=sleep,
        )

    def send_bulk_email(
        self,
        recipients: Iterable[BulkRecipient | str],
        *,
        sender: str,
        template: str | None = None,
        default_template_data: TemplateData | None = None,
        subject: str = "",
        text: str | None = None,
        html: str | None = None,
        charset: str = DEFAULT_CHARSET,
        reply_to: Addresses = (),
        return_path: str | None = None,
        configuration_set: str | None = None,
        tags: Tags | None = None,
        max_send_rate: float | None = None,
        concurrency: int | None = None,
        journal: str | PathLike[str] | None = None,
        allow_duplicates: bool = False,
        resend_unknown: bool = False,
        on_progress: Callable[[BulkProgress], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> BulkReport:
        """:func:`amlses.mail.send_bulk_email` on this session; returns a BulkReport.

        ``journal`` (a file path) makes the send resumable: run again with the same path, it
        sends only to the rows not sent, and leaves the rows in doubt alone unless
        ``resend_unknown``.
        """
        from .mail import bulk

        return bulk.send_bulk_email(
            self,
            recipients,
            sender=sender,
            template=template,
            default_template_data=default_template_data,
            subject=subject,
            text=text,
            html=html,
            charset=charset,
            reply_to=reply_to,
            return_path=return_path,
            configuration_set=configuration_set,
            tags=tags,
            max_send_rate=max_send_rate,
            concurrency=concurrency,
            journal=journal,
            allow_duplicates=allow_duplicates,
            resend_unknown=resend_unknown,
            on_progress=on_progress,
            on_notice=on_notice,
            clock=clock,
            sleep=sleep,
        )

    def create_template(
        self, name: str, *, subject: str, text: str | None = None, html: str | None = None
    ) -> None:
        """:func:`amlses.mail.create_template` on this session."""
        from .mail import templates

        templates.create_template(self, name, subject=subject, text=text, html=html)

    def update_template(
        self, name: str, *, subject: str, text: str | None = None, html: str | None = None
    ) -> None:
        """:func:`amlses.mail.update_template` on this session."""
        from .mail import templates

        templates.update_template(self, name, subject=subject, text=text, html=html)

    def delete_template(self, name: str) -> bool:
        """:func:`amlses.mail.delete_template` on this session; whether it existed."""
        from .mail import templates

        return templates.delete_template(self, name)

    def get_template(self, name: str) -> Template:
        """:func:`amlses.mail.get_template` on this session."""
        from .mail import templates

        return templates.get_template(self, name)

    def list_templates(self) -> list[TemplateInfo]:
        """:func:`amlses.mail.list_templates` on this session."""
        from .mail import templates

        return templates.list_templates(self)

    def test_render_template(self, name: str, data: TemplateData | None = None) -> str:
        """:func:`amlses.mail.test_render_template` on this session; the rendered MIME text."""
        from .mail import templates

        return templates.test_render_template(self, name, data)

    def close(self) -> None:
        """End the session; later calls raise SessionError.  The shared client stays open; an
        SMTP connection is closed (``QUIT``), unless a send abandoned by a timeout still holds
        it — that one is left to end on its own."""
        self._closed = True
        if self._smtp_sender is not None and self._smtp_lock.acquire(blocking=False):
            try:
                sender, self._smtp_sender = self._smtp_sender, None
                if sender is not None:
                    sender.close()
            finally:
                self._smtp_lock.release()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> SesSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _smtp_settings(connection: Connection) -> tuple[SmtpEndpoint, SmtpLogin]:
    """The endpoint and login of an SMTP connection: the user is the access key id, the
    password ``smtp_password`` or the one derived from the secret key for the endpoint's region
    (the host's, else ``region``, else us-east-1).  amlses tokens are decrypted, an Automate
    ciphertext is looked up by access key id (as for the API); nothing secret is shown."""
    from .aws.credentials import revealed
    from .smtp.password import smtp_password
    from .smtp.transport import SmtpLogin, smtp_endpoint
    from .vault import Vault, is_token

    url = connection.endpoint_url or ""
    endpoint = smtp_endpoint(
        url,
        region=connection.region or DEFAULT_REGION,
        verify=connection.verify_certificate,
        ca_file=connection.smtp_ca_file or None,
    )
    if endpoint is None:  # Connection.is_smtp and smtp_endpoint disagree: a bug
        raise SessionError(f"The endpoint {url!r} is not an SMTP endpoint amlses can use.")
    password = connection.smtp_password
    if is_token(password):
        password = Vault().reveal(password, "SMTPPASSWORD")
    if not password:
        secret = resolve_secret(connection.access_key, revealed(connection).secret_key)
        try:
            password = smtp_password(secret, endpoint.region or DEFAULT_REGION)
        except StepError:
            raise
        except AmlError as exc:  # an unknown region, an empty key: the session's fault here
            raise SessionError(exc.message) from None
    return endpoint, SmtpLogin(connection.access_key, password)


def _api_only(endpoint: SmtpEndpoint) -> str:
    region = endpoint.region or DEFAULT_REGION
    return (
        f"This SES session sends through SES's SMTP interface ({endpoint}), which only sends "
        f"mail; this needs SES's API endpoint, e.g. https://email.{region}.amazonaws.com."
    )


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
