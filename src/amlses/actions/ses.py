"""``<AMAWSSES>``: the Amazon SES action, mapping attributes onto :mod:`amlses.ses`.

One handler per ACTIVITY of spec ``ses-action.md`` §1.  This module only translates: AML
attributes -> a :class:`~amlses.ses.Connection` and API calls -> datasets and variables.  The
AWS work, retries and error translation live in :mod:`amlses.ses`, shared with Python users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..datasets import Dataset
from ..errors import AmlError, StepError
from ..nodes import Step
from ..sessions import DEFAULT_SESSION
from . import activity
from .spec import CHOICE, NAME, NUMBER, Args, Attr

if TYPE_CHECKING:
    from ..runtime import Context
    from ..ses import Connection, SesSession

ELEMENT = "AMAWSSES"

# Credentials and advanced settings: on create_session and on every host-based step (§2).
CONNECTION_ATTRS: tuple[Attr, ...] = (
    Attr("ACCESSKEY", doc="AWS access key id; empty: the AWS default credential chain"),
    Attr(
        "SECRETKEY",
        secret=True,
        doc="secret access key: plain, an amlses:v1: token (amlses encrypt) or Automate-encrypted",
    ),
    Attr(
        "SESSIONTOKEN",
        secret=True,
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
    Attr("PROXYPWD", secret=True, doc="proxy password (plain or an amlses:v1: token)"),
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
LOCAL_ACCESS_KEY = "AKIAAMLSESLOCAL00000"
LOCAL_SECRET = "amlses-local-emulator"


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
    from ..ses import Connection, is_automate_ciphertext

    options = context.options
    access_key = str(args["ACCESSKEY"] or "").strip()
    endpoint: str | None
    # amlses tokens were decrypted before the first step (api.run); a token that arrives
    # through a %variable% is decrypted here, and its plain value masked from now on.
    vault = options.vault
    secret = vault.reveal(str(args["SECRETKEY"] or ""), "SECRETKEY")
    token = vault.reveal(str(args["SESSIONTOKEN"] or ""), "SESSIONTOKEN")
    password = vault.reveal(str(args["PROXYPWD"] or ""), "PROXYPWD")
    for value in (secret, token, password):
        context.redactor.add(value)
    if options.force_endpoint_url:
        # --local: every step talks to the emulator, which needs no real credentials.
        endpoint = options.force_endpoint_url
        access_key = access_key or LOCAL_ACCESS_KEY
        if not secret or is_automate_ciphertext(secret):
            secret = LOCAL_SECRET
    else:
        endpoint = args["SERVICEURL"] or options.endpoint_url or None
        if access_key and (not secret or is_automate_ciphertext(secret)):
            # An encrypted or missing secret is looked up by access key id (spec §4.9).
            secret = _resolved_secret(context, access_key, secret)
    context.redactor.add(secret)
    return Connection(
        access_key=access_key,
        secret_key=secret if access_key else "",
        session_token=token,
        # --profile (RunOptions.profile) is for steps that name no key (AWS_PROFILE too).
        profile=None if access_key else options.profile,
        role_arn=str(args.get("ROLEARN") or "").strip(),
        external_id=str(args.get("EXTERNALID") or ""),
        endpoint_url=endpoint,
        region=args["REGION"] or None,
        user_agent=args["USERAGENT"] or "",
        max_error_retry=args["MAXERRORRETRY"],
        proxy_host=args["PROXYHOST"] or "",
        proxy_port=args["PROXYPORT"],
        proxy_user=args["PROXYUSER"] or "",
        proxy_password=password,
    )


def resolve_automate_secrets(context: Context) -> None:
    """Look up, before the first step, what each literal Automate-encrypted SECRETKEY stands
    for (spec §4.9), so that the secret is masked from the first line of output on: a table
    printed before the step that uses it must not show it either.

    A key that no source knows is left for its step to report, at its line, when it runs.
    ``--local`` uses no real secret, so nothing is looked up there.
    """
    from ..ses import is_automate_ciphertext

    if context.options.force_endpoint_url:
        return
    for step in context.task.walk():
        access_key, secret = step.value("ACCESSKEY").strip(), step.value("SECRETKEY")
        if step.name != ELEMENT or "%" in access_key or not is_automate_ciphertext(secret):
            continue
        try:
            resolved = _resolved_secret(context, access_key, secret)
        except AmlError:
            continue
        context.redactor.add(resolved)


def _resolved_secret(context: Context, access_key: str, secret: str) -> str:
    """Resolve an Automate ciphertext once per run (a loop must not re-read credential files)."""
    from ..ses import resolve_secret

    cache = context.resolved_secrets
    key = (access_key, secret)
    if key not in cache:
        cache[key] = resolve_secret(access_key, secret)
    return cache[key]


def session_for(context: Context, args: Args) -> SesSession:
    """The SES session a step uses: its named session, or its own host-based connection."""
    if args["PROVIDER"] == "session_based":
        return context.sessions.get(str(args["SESSION"]))
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
    name = str(args["SESSION"])
    context.sessions.open(name, connection(context, args), step.position)
    return f"session {name} opened"


@activity(ELEMENT, "end_session", Attr("SESSION", NAME, default=DEFAULT_SESSION))
def end_session(context: Context, step: Step, args: Args) -> str:
    """End session: close a session opened by create_session."""
    name = str(args["SESSION"])
    context.sessions.end(name, step.position)
    return f"session {name} ended"


@activity(
    ELEMENT,
    "list_identities",
    *CONNECTED,
    Attr("RESULTDATASET", NAME, required=True, aliases=("RESULTDATSET",)),
)
def list_identities(context: Context, step: Step, args: Args) -> str:
    """List identities: every address and domain of the account, into a dataset."""
    identities = session_for(context, args).list_identities()
    dataset = Dataset(str(args["RESULTDATASET"]), ("Identity", "Type"), identities)
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
    Attr("RESULTVARIABLE", NAME, doc="receives the domain's verification token"),
)
def verify_identity(context: Context, step: Step, args: Args) -> str:
    """Verify identity: start verification of an address or a domain."""
    identity = str(args["IDENTITY"]).strip()
    token = session_for(context, args).verify_identity(identity, args["IDENTITYTYPE"])
    if args["RESULTVARIABLE"]:
        context.set_variable(str(args["RESULTVARIABLE"]), token, create=True)
    return f"verification started for {identity}"


@activity(
    ELEMENT,
    "email_statistics",
    *CONNECTED,
    Attr("RESULTDATASET", NAME, aliases=("RESULTDATSET",), doc="the sending quota, one row"),
    Attr("STATISTICSDATASET", NAME, doc="two weeks of sending statistics"),
)
def email_statistics(context: Context, step: Step, args: Args) -> str:
    """Email statistics: the sending quota and two weeks of statistics, as datasets."""
    quota_name, stats_name = args["RESULTDATASET"], args["STATISTICSDATASET"]
    if not quota_name and not stats_name:
        raise StepError("give RESULTDATASET (the quota), STATISTICSDATASET, or both")
    quota, points = session_for(context, args).email_statistics()
    if quota_name:
        context.store_dataset(step, Dataset(str(quota_name), quota._fields, [quota]))
    if stats_name:
        columns = ("Timestamp", "DeliveryAttempts", "Bounces", "Complaints", "Rejects")
        context.store_dataset(step, Dataset(str(stats_name), columns, points))
    return (
        f"quota {quota.SentLast24Hours:g}/{quota.Max24HourSend:g} a day, {len(points)} data points"
    )


@activity(ELEMENT, "delete_identity", *CONNECTED, Attr("IDENTITY", required=True))
def delete_identity(context: Context, step: Step, args: Args) -> str:
    """Delete identity: remove an address or domain (absent ones succeed, as in SES)."""
    identity = str(args["IDENTITY"]).strip()
    session_for(context, args).delete_identity(identity)
    return f"deleted {identity}"
