"""``<AMAWSSES>``: the Amazon SES action, mapping attributes onto :mod:`amlses.ses`.

One handler per ACTIVITY of spec ``ses-action.md`` §1.  This module only translates: AML
attributes -> a :class:`~amlses.ses.Connection` and API calls -> datasets and variables.  The
AWS work, retries and error translation live in :mod:`amlses.ses`, shared with Python users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StepError
from ..lang.nodes import Step
from ..runtime.datasets import Dataset
from ..runtime.sessions import DEFAULT_SESSION
from ..secrets import is_automate_ciphertext
from .registry import activity, element
from .spec import CHOICE, DATASET, NAME, NUMBER, VARIABLE, Args, Attr, StaticCheck

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
    Attr("SERVICEURL", doc="the SES endpoint, e.g. https://email.eu-west-1.amazonaws.com"),
    Attr("REGION", doc="region to sign for, when SERVICEURL does not name one", extension=True),
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
    if options.force_endpoint_url:
        # --local: every step talks to the emulator, which needs no real credentials.
        endpoint = options.force_endpoint_url
        access_key = access_key or LOCAL_ACCESS_KEY
        if not secret or is_automate_ciphertext(secret):
            secret = LOCAL_SECRET
    else:
        endpoint = args.text("SERVICEURL") or options.endpoint_url or None
        if access_key and (not secret or is_automate_ciphertext(secret)):
            # An encrypted or missing secret is looked up by access key id (spec §4.9).
            secret = context.resolved_secret(access_key, secret)
    context.redactor.add(secret)
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
    )


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


element(ELEMENT, check=check_ses)

_NEEDS_DATASET = "give RESULTDATASET (the quota), STATISTICSDATASET, or both"


def _check_statistics(checker: StaticCheck, step: Step) -> None:
    if not (step.get("RESULTDATASET") or step.get("RESULTDATSET") or step.get("STATISTICSDATASET")):
        checker.problem(_NEEDS_DATASET, step.position, step)


def session_for(context: Context, args: Args) -> SesSession:
    """The SES session a step uses: its named session, or its own host-based connection."""
    if args["PROVIDER"] == "session_based":
        return context.sessions.get(args.text("SESSION"))
    return context.sessions.host_based(connection(context, args))


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
    context.sessions.open(name, connection(context, args), step.position)
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
