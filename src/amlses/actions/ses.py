"""``<AMAWSSES>``: the Amazon SES action, mapping attributes onto :mod:`amlses.ses`.

One handler per ACTIVITY of spec ``ses-action.md`` §1.  This module only translates: AML
attributes -> a :class:`~amlses.ses.Connection` and API calls -> datasets and variables.  The
AWS work, retries and error translation live in :mod:`amlses.ses`, shared with Python users.

A ``SERVICEURL`` naming SES's SMTP interface (``smtps://…``, ``smtp://…``, an
``email-smtp.<region>.amazonaws.com`` host) makes an SMTP session (an amlses extension): the
sends go over SMTP, and every other activity is refused in one sentence by
:func:`session_for`, because SMTP can only send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..aws.connection import is_smtp_endpoint
from ..errors import SessionError, StepError
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..runtime.sessions import DEFAULT_SESSION
from ..secrets import is_automate_ciphertext
from .registry import activity, element
from .spec import BOOL, CHOICE, DATASET, NAME, NUMBER, VARIABLE, Args, Attr, StaticCheck

if TYPE_CHECKING:
    from ..aws.connection import Connection
    from ..runtime.context import Context
    from ..ses import SesSession

ELEMENT = "AMAWSSES"

# Credentials and advanced settings: on create_session and on every host-based step (§2).
CONNECTION_ATTRS: tuple[Attr, ...] = (
    Attr("ACCESSKEY", doc="AWS access key id; empty: the AWS default credential chain"),
    Attr(
        "SECRETKEY",
        doc="secret access key: plain, an amlses:v1: token (amlses encrypt) or Automate-encrypted",
    ),
    Attr(
        "SESSIONTOKEN",
        doc="session token of temporary credentials (plain or an amlses:v1: token)",
        extension=True,
    ),
    Attr("USERAGENT", doc="appended to the HTTP User-Agent"),
    Attr("MAXERRORRETRY", NUMBER, minimum=0, maximum=100, doc="retries after the first attempt"),
    Attr(
        "SERVICEURL",
        doc="the SES endpoint, e.g. https://email.eu-west-1.amazonaws.com; SMTP (sends only): "
        "smtps://email-smtp.eu-west-1.amazonaws.com",
    ),
    Attr("REGION", doc="region to sign for, when SERVICEURL does not name one", extension=True),
    Attr(
        "SMTPPASSWORD",
        doc="SMTP endpoints: the SMTP password (plain or an amlses:v1: token); "
        "default: derived from SECRETKEY for the endpoint's region",
        extension=True,
    ),
    Attr(
        "IGNOREINVALIDCERTIFICATE",
        BOOL,
        doc="SMTP endpoints: YES skips the TLS certificate check (warned)",
        extension=True,
    ),
    Attr("PROXYHOST", doc="HTTP proxy host (or host:port)"),
    Attr("PROXYPORT", NUMBER, minimum=1, maximum=65535, doc="HTTP proxy port"),
    Attr("PROXYUSER", aliases=("PROXYUSERNAME",), doc="proxy user"),
    Attr("PROXYPWD", doc="proxy password (plain or an amlses:v1: token)"),
    Attr("SIGNMETHOD", CHOICE, choices=("hmacsha256", "hmacsha1"), doc="legacy; always SigV4"),
    Attr("SIGNVERSION", CHOICE, choices=("2", "4"), doc="legacy; always SigV4"),
)
PROVIDER_ATTRS: tuple[Attr, ...] = (
    Attr(
        "PROVIDER",
        CHOICE,
        default="host_based",
        choices=("session_based", "host_based", "host"),
        doc="session_based: use SESSION; otherwise the step carries its own credentials",
    ),
    Attr("SESSION", NAME, default=DEFAULT_SESSION, doc="the session to use"),
)
CONNECTED = PROVIDER_ATTRS + CONNECTION_ATTRS
# A role to assume for the whole session: only create_session opens one.
ROLE_ATTRS: tuple[Attr, ...] = (
    Attr("ROLEARN", doc="IAM role to assume with STS; refreshed in long tasks", extension=True),
    Attr("EXTERNALID", doc="the external id the role's trust policy asks for", extension=True),
)


def connection(context: Context, args: Args) -> Connection:
    """The connection a step describes, resolving secrets and endpoint (spec §4.4–4.9).

    Memoised per run on the evaluated attribute values: a loop of host-based steps builds
    (and validates, and resolves secrets for) its connection once.
    """
    key = (
        *(args[attr.name] for attr in CONNECTION_ATTRS),
        args.get("ROLEARN"),
        args.get("EXTERNALID"),
    )
    found = context.connections.get(key)
    if found is None:
        found = context.connections[key] = _build_connection(context, args)
    return found


def _build_connection(context: Context, args: Args) -> Connection:
    from ..aws.connection import LOCAL_ACCESS_KEY, LOCAL_SECRET, Connection

    options = context.options
    access_key = args.text("ACCESSKEY").strip()
    endpoint: str | None
    # Secret attributes arrive decrypted and registered for masking (Activity.bind).
    secret, token = args.text("SECRETKEY"), args.text("SESSIONTOKEN")
    password = args.text("PROXYPWD")
    smtp_password = _smtp_password(context, args)
    verify = not args.flag("IGNOREINVALIDCERTIFICATE")
    written = args.text("SERVICEURL") or options.endpoint_url or ""
    if options.force_endpoint_url and is_smtp_endpoint(written):
        # --local and an SMTP endpoint: the local SES SMTP endpoint, never the real host
        return _local_smtp_connection(context, args, written)
    if options.force_endpoint_url:
        # --local: every step talks to the emulator, which needs no real credentials.
        endpoint = options.force_endpoint_url
        access_key = access_key or LOCAL_ACCESS_KEY
        if not secret or is_automate_ciphertext(secret):
            secret = LOCAL_SECRET
        smtp_password, verify = "", True  # the emulator speaks SES's API, not SMTP
    else:
        endpoint = args.text("SERVICEURL") or options.endpoint_url or None
        if access_key and (not secret or is_automate_ciphertext(secret)) and not smtp_password:
            # An encrypted or missing secret is looked up by access key id (spec §4.9).
            secret = context.resolved_secret(access_key, secret)
    context.redactor.add(secret)
    if not verify:
        context.warn_once(
            f"ses-certificate:{endpoint}",
            f'IGNOREINVALIDCERTIFICATE="YES": the TLS certificate of {endpoint} is not checked, '
            "so anyone in between could read the SMTP password and the mail",
        )
    return Connection(
        access_key=access_key,
        secret_key=secret if access_key else "",
        session_token=token,
        # --profile (RunOptions.profile) is for steps that name no key (AWS_PROFILE too).
        profile=None if access_key else options.profile,
        role_arn=args.text("ROLEARN").strip() if "ROLEARN" in args else "",
        external_id=args.text("EXTERNALID") if "EXTERNALID" in args else "",
        endpoint_url=endpoint,
        region=args.text("REGION") or None,
        user_agent=args.text("USERAGENT"),
        max_error_retry=args.number("MAXERRORRETRY"),
        proxy_host=args.text("PROXYHOST"),
        proxy_port=args.number("PROXYPORT"),
        proxy_user=args.text("PROXYUSER"),
        proxy_password=password,
        smtp_password=smtp_password,
        verify_certificate=verify,
    )


def _local_smtp_connection(context: Context, args: Args, written: str) -> Connection:
    """A ``--local`` step's SMTP connection: the local listener of the security mode that
    ``written`` (the task's SMTP endpoint) asks for, its CA trusted for this connection only,
    and the emulator's dummy key, whose SMTP password is derived, as for SES, for the region
    the task's host names (else REGION, else us-east-1).  The task's own ACCESSKEY, SECRETKEY
    and SMTPPASSWORD are not used: the local server accepts only its own credentials."""
    from ..aws.connection import DEFAULT_REGION, Connection
    from ..smtp.transport import smtp_endpoint

    local = context.options.local_smtp
    if local is None:
        raise SessionError(
            f"amlses run --local has no local SMTP endpoint here, and this step would mail "
            f"through the real server {written}; run the task without --local to send over SMTP"
        )
    endpoint = smtp_endpoint(written, region=args.text("REGION") or None)  # a bad URL fails
    if endpoint is None:  # is_smtp_endpoint and smtp_endpoint disagree: a bug
        raise SessionError(f"The endpoint {written!r} is not an SMTP endpoint amlses can use.")
    target = local()
    return Connection(
        access_key=target.access_key,
        secret_key=target.secret_key,
        session_token=args.text("SESSIONTOKEN"),  # refused over SMTP, as without --local
        role_arn=args.text("ROLEARN").strip() if "ROLEARN" in args else "",
        endpoint_url=target.url_for(endpoint.security),
        region=endpoint.region or DEFAULT_REGION,
        user_agent=args.text("USERAGENT"),
        max_error_retry=args.number("MAXERRORRETRY"),
        proxy_host=args.text("PROXYHOST"),  # refused over SMTP, as without --local
        proxy_port=args.number("PROXYPORT"),
        smtp_ca_file=target.ca_file,
    )


def _smtp_password(context: Context, args: Args) -> str:
    """SMTPPASSWORD, an amlses token decrypted, masked in every output from now on.

    Decrypted here as well as by :meth:`~amlses.actions.spec.Activity.bind`, which does it
    for the names in :data:`amlses.secrets.SECRET_ATTRIBUTES`: revealing a plain value is a
    no-op, so this holds whether or not the name is on that list.
    """
    value = args.text("SMTPPASSWORD")
    if not value:
        return ""
    plain = context.options.vault.reveal(value, "SMTPPASSWORD")
    context.redactor.add(value)
    context.redactor.add(plain)
    return plain


# -- the static check of every <AMAWSSES> step ---------------------------------------------


def check_ses(checker: StaticCheck, step: Step) -> None:
    """What ``amlses check`` finds in any SES step: sessions used before they are opened,
    SESSION without session_based, legacy signature settings, a proxy user without a host."""
    activity_name = step.activity
    session = step.value("SESSION", DEFAULT_SESSION)
    provider = step.value("PROVIDER").strip().lower()
    if activity_name == "create_session":
        checker.sessions.add(session.lower())
    elif activity_name == "end_session" or provider == "session_based":
        if "%" not in session and session.lower() not in checker.sessions:
            checker.problem(
                f'session "{session}" is used before any create_session opens it',
                (step.get("SESSION") or step).position,
                step,
            )
    elif step.get("SESSION") is not None and provider in ("", "host_based", "host"):
        checker.problem(
            'SESSION is ignored without PROVIDER="session_based": this step connects with '
            "its own ACCESSKEY/SECRETKEY",
            step.position,
            step,
            severity="warning",
        )
    if (
        step.value("SIGNVERSION").strip() == "2"
        or step.value("SIGNMETHOD").strip().lower() == "hmacsha1"
    ):
        checker.problem(
            "SIGNVERSION/SIGNMETHOD ask for a legacy signature and are ignored: SES accepts "
            "only Signature Version 4 since 2020-10-01",
            step.position,
            step,
            severity="warning",
        )
    if (step.get("PROXYUSER") or step.get("PROXYUSERNAME")) and not step.get("PROXYHOST"):
        checker.problem("a proxy user is given without PROXYHOST", step.position, step)
    url = step.get("SERVICEURL")
    if (
        url is not None
        and "%" not in url.value
        and activity_name not in SMTP_ACTIVITIES
        and provider in ("", "host_based", "host")
        and is_smtp_endpoint(url.value)
    ):
        checker.problem(_api_only_text(activity_name, url.value), url.where, step)


element(ELEMENT, check=check_ses)

_NEEDS_DATASET = "give RESULTDATASET (the quota), STATISTICSDATASET, or both"


def _check_statistics(checker: StaticCheck, step: Step) -> None:
    if not (step.get("RESULTDATASET") or step.get("RESULTDATSET") or step.get("STATISTICSDATASET")):
        checker.problem(_NEEDS_DATASET, step.position, step)


#: the activities an SMTP session can serve: the session's own, and the sends without templates
SMTP_ACTIVITIES = frozenset(
    {"create_session", "end_session", "send_email", "send_raw_email", "send_bulk_email"}
)


def session_for(context: Context, args: Args, *, smtp: bool = False) -> SesSession:
    """The SES session a step uses: its named session, or its own host-based connection.

    An SMTP session (:attr:`~amlses.ses.SesSession.is_smtp`) is given only to a caller that
    says it can send over SMTP (``smtp=True``); any other step is refused in one sentence
    naming the API endpoint it needs.
    """
    if args["PROVIDER"] == "session_based":
        session = context.sessions.get(args.text("SESSION"))
    else:
        session = context.sessions.host_based(connection(context, args))
    if session.is_smtp:
        if not smtp:
            step = context.current[0] if context.current else None
            name = getattr(step, "activity", "") or "this activity"
            raise SessionError(_api_only_text(name, session.connection.endpoint_url or ""))
        context.redactor.add(session.smtp_login.password)
    return session


def _api_only_text(activity_name: str, url: str) -> str:
    from ..aws.connection import DEFAULT_REGION, smtp_region

    region = smtp_region(_host_of(url)) or DEFAULT_REGION
    return (
        f'ACTIVITY="{activity_name}" needs SES\'s API endpoint '
        f"(https://email.{region}.amazonaws.com), but SERVICEURL {url} is SES's SMTP "
        'interface, which can only send mail (ACTIVITY="send_email", "send_raw_email" and '
        '"send_bulk_email" without TEMPLATE)'
    )


def _host_of(url: str) -> str:
    from urllib.parse import urlsplit

    rest = url.strip().partition("://")[2] or url.strip()
    return urlsplit("//" + rest).hostname or ""


@activity(
    ELEMENT,
    "create_session",
    Attr("SESSION", NAME, default=DEFAULT_SESSION),
    *CONNECTION_ATTRS,
    *ROLE_ATTRS,
)
def create_session(context: Context, step: Step, args: Args) -> str:
    """Create session: open a named session holding credentials and settings (no network)."""
    name = args.text("SESSION")
    session = context.sessions.open(name, connection(context, args), step.position)
    if session.is_smtp:
        context.redactor.add(session.smtp_login.password)
        return f"session {name} opened (SMTP: {session.smtp_endpoint})"
    return f"session {name} opened"


@activity(ELEMENT, "end_session", Attr("SESSION", NAME, default=DEFAULT_SESSION))
def end_session(context: Context, step: Step, args: Args) -> str:
    """End session: close a session opened by create_session."""
    name = args.text("SESSION")
    context.sessions.end(name, step.position)
    return f"session {name} ended"


@activity(
    ELEMENT,
    "list_identities",
    *CONNECTED,
    Attr("RESULTDATASET", NAME, required=True, aliases=("RESULTDATSET",), output=DATASET),
)
def list_identities(context: Context, step: Step, args: Args) -> str:
    """List identities: every address and domain of the account, into a dataset."""
    identities = session_for(context, args).list_identities()
    dataset = Dataset(args.text("RESULTDATASET"), ("Identity", "Type"), identities)
    context.store_dataset(step, dataset)
    return f"{len(dataset)} identities -> {dataset.name}"


@activity(
    ELEMENT,
    "verify_identity",
    *CONNECTED,
    Attr("IDENTITY", required=True, doc="an e-mail address or a domain"),
    Attr(
        "IDENTITYTYPE",
        CHOICE,
        choices=("email", "emailaddress", "email_address", "domain"),
        doc="absent: inferred from the value (@ -> address)",
    ),
    Attr("RESULTVARIABLE", NAME, output=VARIABLE, doc="receives the domain's verification token"),
)
def verify_identity(context: Context, step: Step, args: Args) -> str:
    """Verify identity: start verification of an address or a domain."""
    identity = args.text("IDENTITY").strip()
    kind = args.text("IDENTITYTYPE") or None
    token = session_for(context, args).verify_identity(identity, kind)
    if args["RESULTVARIABLE"]:
        context.set_variable(args.text("RESULTVARIABLE"), token, create=True)
    return f"verification started for {identity}"


@activity(
    ELEMENT,
    "email_statistics",
    *CONNECTED,
    Attr(
        "RESULTDATASET",
        NAME,
        aliases=("RESULTDATSET",),
        output=DATASET,
        doc="the sending quota, one row",
    ),
    Attr("STATISTICSDATASET", NAME, output=DATASET, doc="two weeks of sending statistics"),
    check=_check_statistics,
)
def email_statistics(context: Context, step: Step, args: Args) -> str:
    """Email statistics: the sending quota and two weeks of statistics, as datasets."""
    quota_name, stats_name = args.text("RESULTDATASET"), args.text("STATISTICSDATASET")
    if not quota_name and not stats_name:
        raise StepError(_NEEDS_DATASET)
    quota, points = session_for(context, args).email_statistics()
    if quota_name:
        context.store_dataset(step, Dataset(quota_name, quota._fields, [quota]))
    if stats_name:
        columns = ("Timestamp", "DeliveryAttempts", "Bounces", "Complaints", "Rejects")
        context.store_dataset(step, Dataset(stats_name, columns, points))
    return (
        f"quota {quota.SentLast24Hours:g}/{quota.Max24HourSend:g} a day, {len(points)} data points"
    )


@activity(
    ELEMENT,
    "delete_identity",
    *CONNECTED,
    Attr("IDENTITY", required=True),
)
def delete_identity(context: Context, step: Step, args: Args) -> str:
    """Delete identity: remove an address or domain (absent ones succeed, as in SES)."""
    identity = args.text("IDENTITY").strip()
    session_for(context, args).delete_identity(identity)
    return f"deleted {identity}"
