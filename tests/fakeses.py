"""An in-process fake of Amazon SES at the botocore-client level, for tests of the AML language.

Loops, ifs, variables, goto, stop, subtasks and error policies need an SES account to act on,
not SES over HTTP.  :class:`FakeSes` is that account (identities, sent messages, templates, the
quota) and :class:`FakeClient` its botocore face: the SES client methods amlses calls, with
botocore's names and keyword arguments, answering with botocore-shaped dicts and raising real
:class:`botocore.exceptions.ClientError` / ``ParamValidationError``.  :class:`FakeCache` hands
clients out through amlses's public ``cache=`` hook, and :func:`run_fake` runs a task on it::

    fake = FakeSes()
    fake.seed("example.com")
    fake.fail("VerifyEmailIdentity", code="MessageRejected", message="no", times=1)
    run = run_fake('<AMAWSSES ACTIVITY="verify_identity" IDENTITY="a@example.com" '
                   'AM_RETRY="1" />', tmp_path, fake=fake)
    assert run.ok and fake.identity_names() == ["example.com", "a@example.com"]
    assert fake.count("VerifyEmailIdentity") == 2 and run.warnings  # "…; retry 1 of 1"

Where it can, the fake borrows botocore's own rules instead of restating them: parameters are
checked with botocore's validator against the real SES service model (so a misspelt or
mistyped argument fails as it would on the wire), answers are checked against the model's
output shapes, and a failure is retried exactly when botocore's standard retry mode would
(``MAXERRORRETRY``, default 3 attempts), without the backoff sleep.  Where SES and moto
differ, the fake follows moto (the tests' other backend), except for what moto does not
implement: ``ListIdentities``/``ListTemplates`` paging, and deleting an identity or template
that does not exist (moto answers 500, SES succeeds).  ``tests/test_fakeses.py`` runs the
same calls on the fake and on moto, so the two cannot drift apart silently.

Not modelled: credentials and regions (every connection reaches the one account, no secret is
resolved), HTTP (endpoints, proxies, timeouts: use moto and ``tests/proxy.py``), the modeled
exception classes (``client.exceptions.X``; the product only relies on ``ClientError``) and
the templated sends (``SendTemplatedEmail``, ``SendBulkTemplatedEmail``, ``TestRenderTemplate``
are absent, so calling them fails loudly).
"""

from __future__ import annotations

import base64
import copy
import email
import hashlib
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from amlses import api
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, Connection

if TYPE_CHECKING:
    from botocore.model import OperationModel

    from amlses.errors import AmlError
    from amlses.runtime import Dataset

__all__ = [
    "FailRule",
    "FakeCache",
    "FakeCall",
    "FakeClient",
    "FakeRun",
    "FakeSes",
    "FakeTemplate",
    "RecordingReporter",
    "ReportedStep",
    "SentMessage",
    "pages",
    "run_fake",
]

#: moto's answer to every VerifyDomainIdentity; the fake makes one token per domain instead.
MOTO_VERIFICATION_TOKEN = "QTKknzFg2J4ygwa+XvHAxUl1hyHoY0gVfZdfjIedHZ0="

# SES's limits, as moto enforces them.
RECIPIENT_LIMIT = 50
_LIST_PAGE_LIMIT = 1000  # ListIdentities' largest MaxItems, and its default page
# botocore's attempts when neither MAXERRORRETRY nor the AWS configuration says (amlses: 3)
_DEFAULT_ATTEMPTS = 3


# --------------------------------------------------------------------------------------------
# The account


@dataclass(frozen=True)
class SentMessage:
    """One message SES accepted (``SendEmail`` or ``SendRawEmail``)."""

    message_id: str
    operation: str
    source: str
    #: every recipient, To, Cc and Bcc together (raw: the Destinations and the headers)
    recipients: tuple[str, ...]
    #: the request's parameters as the client received them
    params: Mapping[str, Any] = field(repr=False)


@dataclass
class FakeTemplate:
    """A stored template, with SES's member names."""

    TemplateName: str
    SubjectPart: str
    TextPart: str = ""
    HtmlPart: str = ""
    CreatedTimestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class FakeCall:
    """One request as the fake received it: an attempt, so a botocore retry is a second call."""

    operation: str
    params: Mapping[str, Any]
    connection: Connection | None
    attempt: int
    #: the error code it was answered with, or None for a success
    error: str | None


@dataclass
class FailRule:
    """Answer matching requests with an SES error (see :meth:`FakeSes.fail`)."""

    operation: str
    code: str
    message: str
    times: int | None
    status: int = 400
    when: Callable[[Mapping[str, Any]], bool] | None = None
    #: seconds to hold the request first; with ``code=""`` the request then goes through
    stall: float = 0.0

    def matches(self, operation: str, params: Mapping[str, Any]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.operation not in ("*", operation):
            return False
        return self.when is None or bool(self.when(params))


class FakeSes:
    """One SES account in one region, shared by every client and connection handed out.

    State is public and meant to be read by tests: ``identities`` (name -> ``EmailAddress`` or
    ``Domain``, in the order they were added, as ``ListIdentities`` returns them), ``sent``,
    ``templates``, ``calls`` (every request, failed ones and retries included) and the quota.
    Thread-safe: AM_TIMEOUT runs steps on a thread and bulk sends use several.
    """

    def __init__(self, *, max_24_hour_send: float = 200.0, max_send_rate: float = 1.0) -> None:
        self.identities: dict[str, str] = {}
        self.sent: list[SentMessage] = []
        self.templates: dict[str, FakeTemplate] = {}
        self.calls: list[FakeCall] = []
        self.rules: list[FailRule] = []
        self.max_24_hour_send = max_24_hour_send
        self.max_send_rate = max_send_rate
        #: recipients of accepted messages (moto's SentLast24Hours and DeliveryAttempts)
        self.sent_count = 0
        #: sends refused for an unverified sender (moto's Rejects)
        self.rejected_count = 0
        self.lock = threading.RLock()
        self._release = threading.Event()

    # -- setting up ------------------------------------------------------------------------

    def seed(self, *identities: str) -> None:
        """Add identities directly, as verified: addresses by ``@``, else domains."""
        with self.lock:
            for identity in identities:
                self._add_identity(identity if "@" in identity else identity.lower())

    def fail(
        self,
        operation: str,
        code: str = "Throttling",
        message: str = "Rate exceeded",
        *,
        times: int | None = 1,
        status: int = 400,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> FailRule:
        """Answer the next ``times`` requests of ``operation`` (``"*"``: any) with an error.

        ``times=None`` fails every matching request.  ``when`` narrows the rule to requests
        whose parameters it accepts, e.g. ``when=lambda p: p["EmailAddress"] == "x@y.org"``.
        ``status`` is the HTTP status: together with ``code`` it decides, as in botocore,
        whether the client retries (``Throttling``, ``RequestTimeout``, 500/502/503/504 are
        retried while ``MAXERRORRETRY`` allows; each attempt uses up one of ``times``).
        """
        rule = FailRule(operation, code, message, times, status, when)
        with self.lock:
            self.rules.append(rule)
        return rule

    def stall(
        self,
        operation: str,
        seconds: float,
        *,
        times: int | None = 1,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> FailRule:
        """Hold the next ``times`` requests of ``operation`` for ``seconds`` (or until
        :meth:`release`), then answer them normally: a slow SES, for AM_TIMEOUT."""
        rule = FailRule(operation, "", "", times, when=when, stall=seconds)
        with self.lock:
            self.rules.append(rule)
        return rule

    def release(self) -> None:
        """End every stall now and from now on."""
        self._release.set()

    # -- reading the state -----------------------------------------------------------------

    def identity_names(self, identity_type: str | None = None) -> list[str]:
        """The identities in ``ListIdentities`` order, optionally of one type."""
        with self.lock:
            return [n for n, t in self.identities.items() if identity_type in (None, t)]

    def count(self, operation: str | None = None) -> int:
        """How many requests (of ``operation``) arrived, retries and failures included."""
        with self.lock:
            return sum(1 for c in self.calls if operation in (None, c.operation))

    def requests(self, operation: str) -> list[Mapping[str, Any]]:
        """The parameters of every request of ``operation``, in arrival order."""
        with self.lock:
            return [c.params for c in self.calls if c.operation == operation]

    def client(self, connection: Connection | None = None) -> FakeClient:
        """A client on this account; ``connection`` sets its retries (``max_error_retry``)."""
        return FakeClient(self, connection)

    # -- used by FakeClient ----------------------------------------------------------------

    def _add_identity(self, name: str) -> None:
        # moto (like SES's ListIdentities) types an identity by "@", whatever verified it.
        self.identities.setdefault(name, "EmailAddress" if "@" in name else "Domain")

    def _is_verified_sender(self, source: str) -> bool:
        """moto's rule: the address itself or its domain is an identity."""
        address = parseaddr(source)[1]
        return address in self.identities or address.split("@", 1)[-1] in self.identities

    def _rule_for(self, operation: str, params: Mapping[str, Any]) -> FailRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(operation, params):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def _wait(self, seconds: float) -> None:
        self._release.wait(seconds)


# --------------------------------------------------------------------------------------------
# The client


class _SesError(Exception):
    """Raised inside an operation: becomes a ClientError with SES's error shape."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@cache
def _service_model() -> Any:
    """botocore's SES model (loaded once, ~0.25 s): parameter and answer shapes, errors."""
    import botocore.session

    return botocore.session.get_session().get_service_model("ses")


def _validate(params: Mapping[str, Any], shape: Any) -> str | None:
    """botocore's report for ``params`` against ``shape``, or None when they fit."""
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(params, shape)
    return str(report.generate_report()) if report.has_errors() else None


def _metadata(request_id: str, status: int, attempt: int) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {"x-amzn-requestid": request_id, "content-type": "text/xml"},
        "RetryAttempts": attempt - 1,
    }


class FakeClient:
    """The SES client methods amlses uses, on a :class:`FakeSes`.

    Every method takes botocore's keyword arguments only and returns what botocore would
    return, ``ResponseMetadata`` included.  ``meta.config.retries`` is what amlses would have
    configured for the connection, which :mod:`amlses.mail` reads for its own resend budget.
    """

    def __init__(self, fake: FakeSes, connection: Connection | None = None) -> None:
        self.fake = fake
        self.connection = connection
        retry = connection.max_error_retry if connection is not None else None
        self.max_attempts = _DEFAULT_ATTEMPTS if retry is None else retry + 1
        self.closed = False
        config = SimpleNamespace(
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"}
        )
        self.meta = SimpleNamespace(
            config=config,
            region_name=(connection.region if connection else None) or "us-east-1",
            endpoint_url=connection.endpoint_url if connection else None,
        )

    def __repr__(self) -> str:
        return f"<FakeClient {self.connection!r}>"

    def close(self) -> None:
        """Like botocore: marks the pool closed; later calls still work."""
        self.closed = True

    # -- identities ------------------------------------------------------------------------

    def list_identities(self, **params: Any) -> dict[str, Any]:
        return self._call("ListIdentities", params, self._list_identities)

    def verify_email_identity(self, **params: Any) -> dict[str, Any]:
        return self._call("VerifyEmailIdentity", params, self._verify_email_identity)

    def verify_domain_identity(self, **params: Any) -> dict[str, Any]:
        return self._call("VerifyDomainIdentity", params, self._verify_domain_identity)

    def delete_identity(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteIdentity", params, self._delete_identity)

    # -- quota and statistics --------------------------------------------------------------

    def get_send_quota(self, **params: Any) -> dict[str, Any]:
        return self._call("GetSendQuota", params, self._get_send_quota)

    def get_send_statistics(self, **params: Any) -> dict[str, Any]:
        return self._call("GetSendStatistics", params, self._get_send_statistics)

    # -- sending ---------------------------------------------------------------------------

    def send_email(self, **params: Any) -> dict[str, Any]:
        return self._call("SendEmail", params, self._send_email)

    def send_raw_email(self, **params: Any) -> dict[str, Any]:
        return self._call("SendRawEmail", params, self._send_raw_email)

    # -- templates -------------------------------------------------------------------------

    def create_template(self, **params: Any) -> dict[str, Any]:
        return self._call("CreateTemplate", params, self._create_template)

    def update_template(self, **params: Any) -> dict[str, Any]:
        return self._call("UpdateTemplate", params, self._update_template)

    def get_template(self, **params: Any) -> dict[str, Any]:
        return self._call("GetTemplate", params, self._get_template)

    def delete_template(self, **params: Any) -> dict[str, Any]:
        return self._call("DeleteTemplate", params, self._delete_template)

    def list_templates(self, **params: Any) -> dict[str, Any]:
        return self._call("ListTemplates", params, self._list_templates)

    # -- the request cycle -----------------------------------------------------------------

    def _call(
        self,
        operation: str,
        params: dict[str, Any],
        handler: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> dict[str, Any]:
        """Validate, then attempt until success or botocore would stop retrying."""
        from botocore.retries.standard import RetryContext, StandardRetryConditions

        model: OperationModel = _service_model().operation_model(operation)
        report = _validate(params, model.input_shape) if model.input_shape else None
        if report is not None:
            raise ParamValidationError(report=report)
        params = copy.deepcopy(params)
        retry = StandardRetryConditions(max_attempts=self.max_attempts)
        for attempt in itertools.count(1):
            request_id = str(uuid.uuid4())
            try:
                rule = self.fake._rule_for(operation, params)
                if rule is not None and rule.stall:
                    self.fake._wait(rule.stall)
                if rule is not None and rule.code:
                    raise _SesError(rule.code, rule.message, rule.status)
                with self.fake.lock:
                    answer = handler(params)
                    self._record(operation, params, attempt, None)
            except _SesError as error:
                with self.fake.lock:
                    self._record(operation, params, attempt, error.code)
                response: dict[str, Any] = {
                    "Error": {"Type": "Sender", "Code": error.code, "Message": error.message},
                    "ResponseMetadata": _metadata(request_id, error.status, attempt),
                }
                context = RetryContext(
                    attempt,
                    operation_model=model,
                    parsed_response=response,
                    http_response=SimpleNamespace(status_code=error.status),
                    request_context={},
                )
                if retry.is_retryable(context):
                    continue
                response["ResponseMetadata"].update(context.get_retry_metadata())
                raise ClientError(response, operation) from None
            if model.output_shape is not None:
                problem = _validate(answer, model.output_shape)
                assert problem is None, f"the fake's {operation} answer is malformed: {problem}"
            return {**answer, "ResponseMetadata": _metadata(request_id, 200, attempt)}
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self, operation: str, params: Mapping[str, Any], attempt: int, error: str | None
    ) -> None:
        self.fake.calls.append(FakeCall(operation, params, self.connection, attempt, error))

    # -- the operations (called with the account locked) ------------------------------------

    def _list_identities(self, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("IdentityType")
        if kind not in (None, "EmailAddress", "Domain"):
            raise _SesError(
                "ValidationError",
                f"Value '{kind}' at 'identityType' failed to satisfy constraint: Member must "
                "satisfy enum value set: [Domain, EmailAddress]",
            )
        return _page(self.fake.identity_names(kind), "Identities", params, _LIST_PAGE_LIMIT)

    def _verify_email_identity(self, params: dict[str, Any]) -> dict[str, Any]:
        self.fake._add_identity(parseaddr(params["EmailAddress"])[1])
        return {}

    def _verify_domain_identity(self, params: dict[str, Any]) -> dict[str, Any]:
        domain = params["Domain"].lower()
        self.fake._add_identity(domain)
        digest = hashlib.sha256(domain.encode()).digest()
        return {"VerificationToken": base64.b64encode(digest).decode()}

    def _delete_identity(self, params: dict[str, Any]) -> dict[str, Any]:
        self.fake.identities.pop(params["Identity"], None)  # absent: success, as in SES
        return {}

    def _get_send_quota(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "Max24HourSend": float(self.fake.max_24_hour_send),
            "MaxSendRate": float(self.fake.max_send_rate),
            "SentLast24Hours": float(self.fake.sent_count),
        }

    def _get_send_statistics(self, params: dict[str, Any]) -> dict[str, Any]:
        # moto's shape: always one data point, for now, counting everything so far.
        point = {
            "Timestamp": datetime.now(UTC),
            "DeliveryAttempts": self.fake.sent_count,
            "Bounces": 0,
            "Complaints": 0,
            "Rejects": self.fake.rejected_count,
        }
        return {"SendDataPoints": [point]}

    def _send_email(self, params: dict[str, Any]) -> dict[str, Any]:
        source = params["Source"]
        destination = params["Destination"]
        recipients = [
            address
            for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
            for address in destination.get(kind, [])
        ]
        if len(recipients) > RECIPIENT_LIMIT:
            raise _SesError("MessageRejected", "Too many recipients.")
        if not self.fake._is_verified_sender(source):
            self.fake.rejected_count += 1
            raise _SesError("MessageRejected", f"Email address not verified {source}")
        _check_addresses(source, *recipients)
        return self._accept("SendEmail", source, recipients, params)

    def _send_raw_email(self, params: dict[str, Any]) -> dict[str, Any]:
        data = params["RawMessage"]["Data"]
        text = data.decode("utf-8", "replace") if isinstance(data, bytes | bytearray) else data
        message = email.message_from_string(str(text))
        source = params.get("Source")
        if source is None:
            if message["from"] is None:
                raise _SesError("MessageRejected", "Source not specified")
            source = message["from"]
        address = parseaddr(source)[1]
        if not self.fake._is_verified_sender(address):
            raise _SesError(
                "MessageRejected", f"Did not have authority to send from email {address}"
            )
        headers = [message[h] for h in ("TO", "CC", "BCC") if h in message]
        recipients = list(params.get("Destinations", []))
        recipients += [value for _, value in getaddresses(headers) if value]
        if len(recipients) > RECIPIENT_LIMIT:
            raise _SesError("MessageRejected", "Too many recipients.")
        _check_addresses(address, *recipients)
        return self._accept("SendRawEmail", address, recipients, params)

    def _accept(
        self, operation: str, source: str, recipients: list[str], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        message_id = f"{uuid.uuid4().hex}-{uuid.uuid4().hex[:12]}-000000"
        self.fake.sent.append(SentMessage(message_id, operation, source, tuple(recipients), params))
        self.fake.sent_count += len(recipients)
        return {"MessageId": message_id}

    def _create_template(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["Template"]["TemplateName"] in self.fake.templates:
            raise _SesError("AlreadyExists", "Duplicate Template Name.")
        template = _template(params["Template"])
        self.fake.templates[template.TemplateName] = template
        return {}

    def _update_template(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Template"]["TemplateName"]
        if name not in self.fake.templates:
            raise _SesError("TemplateDoesNotExist", "Invalid Template Name.")
        self.fake.templates[name] = _template(params["Template"])
        return {}

    def _get_template(self, params: dict[str, Any]) -> dict[str, Any]:
        template = self.fake.templates.get(params["TemplateName"])
        if template is None:
            raise _SesError("TemplateDoesNotExist", "Invalid Template Name.")
        parts = ("TemplateName", "SubjectPart", "TextPart", "HtmlPart")
        return {"Template": {part: getattr(template, part) for part in parts}}

    def _delete_template(self, params: dict[str, Any]) -> dict[str, Any]:
        self.fake.templates.pop(params["TemplateName"], None)  # absent: success, as in SES
        return {}

    def _list_templates(self, params: dict[str, Any]) -> dict[str, Any]:
        metadata = [
            {"Name": t.TemplateName, "CreatedTimestamp": t.CreatedTimestamp}
            for t in self.fake.templates.values()
        ]
        return _page(metadata, "TemplatesMetadata", params, 100)


def _template(given: Mapping[str, Any]) -> FakeTemplate:
    if not given.get("SubjectPart"):
        raise _SesError("InvalidParameterValue", "The subject must be specified.")
    return FakeTemplate(
        given["TemplateName"],
        given["SubjectPart"],
        given.get("TextPart", ""),
        given.get("HtmlPart", ""),
    )


def _check_addresses(*addresses: str) -> None:
    """moto's address check: every address needs a domain."""
    for address in addresses:
        parts = parseaddr(address)[1].split("@")
        if len(parts) != 2 or not parts[1]:
            raise _SesError("InvalidParameterValue", "Missing domain")


def _page(items: list[Any], key: str, params: Mapping[str, Any], limit: int) -> dict[str, Any]:
    """One ``NextToken`` page of ``items``: ``MaxItems`` at a time (``limit`` at most)."""
    token = params.get("NextToken")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError:
            raise _SesError("InvalidParameterValue", f"Invalid NextToken: {token}") from None
    size = params.get("MaxItems") or limit
    size = max(1, min(size, limit))
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return page


# --------------------------------------------------------------------------------------------
# The cache amlses takes


class FakeCache(ClientCache):
    """A :class:`~amlses.ses.ClientCache` whose clients are :class:`FakeClient`\\ s on one
    :class:`FakeSes`: pass it as ``cache=`` to :func:`amlses.api.run`.

    Like the real cache it builds one client per distinct connection; ``connections`` lists
    them in the order they were first asked for, ``len()`` counts the clients held.
    """

    def __init__(self, fake: FakeSes | None = None) -> None:
        super().__init__()
        self.fake = fake if fake is not None else FakeSes()
        self.connections: list[Connection] = []
        self.clients: dict[Connection, FakeClient] = {}
        self.closed = False
        self._fake_lock = threading.Lock()

    def get(self, connection: Connection) -> Any:
        with self._fake_lock:
            client = self.clients.get(connection)
            if client is None:
                client = self.clients[connection] = self.fake.client(connection)
                self.connections.append(connection)
            return client

    def close(self) -> None:
        with self._fake_lock:
            clients = list(self.clients.values())
            self.clients.clear()
            self.closed = True
        for client in clients:
            client.close()

    def __len__(self) -> int:
        return len(self.clients)


# --------------------------------------------------------------------------------------------
# Running a task on the fake


@dataclass(frozen=True)
class ReportedStep:
    """One ``Reporter.step`` call: the step's line, element, activity and outcome."""

    line: int
    name: str
    activity: str
    outcome: str


class RecordingReporter:
    """A :class:`amlses.runtime.Reporter` that keeps everything it is told, unformatted."""

    def __init__(self) -> None:
        self.steps: list[ReportedStep] = []
        self.messages: list[tuple[str, str]] = []  # (level, text)
        self.datasets: list[tuple[int, str]] = []  # (line of the step, dataset name)
        self.progress_calls: list[tuple[int, int, int | None]] = []  # (line, done, total)

    def step(self, step: Any, outcome: str, seconds: float) -> None:
        self.steps.append(ReportedStep(step.position.line, step.name, step.activity or "", outcome))

    def dataset(self, step: Any, dataset: Dataset) -> None:
        self.datasets.append((step.position.line, dataset.name))

    def message(self, text: str, level: str = "info") -> None:
        self.messages.append((level, text))

    def progress(self, block: Any, done: int, total: int | None) -> None:
        self.progress_calls.append((block.position.line, done, total))


@dataclass
class FakeRun:
    """What :func:`run_fake` saw: the product's result, the reporter's record, the account."""

    result: api.RunResult
    reporter: RecordingReporter
    fake: FakeSes
    cache: FakeCache
    path: Path
    slept: list[float]

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def error(self) -> AmlError | None:
        return self.result.error

    @property
    def variables(self) -> dict[str, Any]:
        return self.result.variables

    @property
    def datasets(self) -> dict[str, Dataset]:
        return self.result.datasets

    @property
    def shown(self) -> list[str]:
        """The ``info`` messages (``AMSHOWDIALOG`` and friends), in order: ``-q``'s stdout."""
        return [text for level, text in self.reporter.messages if level == "info"]

    @property
    def warnings(self) -> list[str]:
        """The ``warning`` messages, the task's folder shortened away."""
        return [self.short(t) for level, t in self.reporter.messages if level == "warning"]

    @property
    def notices(self) -> list[tuple[str, str]]:
        """Every message but ``info`` as (level, text), folder shortened away: what
        ``amlses run`` prints on stderr (as ``level: text``, a ``problem`` as is)."""
        return [(level, self.short(t)) for level, t in self.reporter.messages if level != "info"]

    def messages(self, level: str) -> list[str]:
        """The messages of one level, as given."""
        return [text for lvl, text in self.reporter.messages if lvl == level]

    @property
    def error_lines(self) -> list[str]:
        """The ending error as the product renders it, line by line, folder shortened away;
        empty when the run ended without one."""
        return [] if self.error is None else self.short(self.error.render()).splitlines()

    def failure(self, exit_code: int = 1) -> list[str]:
        """:attr:`error_lines`, asserting that the run ended with an error for which
        ``amlses run`` exits with ``exit_code`` (the error's own ``exit_code``)."""
        assert self.error is not None, f"the run ended {self.status!r} without an error"
        assert self.error.exit_code == exit_code, self.error.render()
        return self.error_lines

    @property
    def failed(self) -> list[tuple[int | None, str]]:
        """The steps that failed and were continued past: (line, error code)."""
        return [(e.position.line if e.position else None, e.code) for e in self.result.failed_steps]

    @property
    def steps(self) -> list[ReportedStep]:
        return self.reporter.steps

    def short(self, text: str) -> str:
        """``text`` with the task's folder removed from paths (``/tmp/…/task.aml`` ->
        ``task.aml``), as the CLI tests shorten stderr."""
        return text.replace(f"{self.path.parent}/", "")


def run_fake(
    text: str,
    tmp_path: Path,
    *,
    fake: FakeSes | None = None,
    name: str = "task.aml",
    variables: Mapping[str, Any] | None = None,
    sleep: Callable[[float], None] | None = None,
    **options: Any,
) -> FakeRun:
    """Write ``text`` to ``tmp_path/name`` and run it with :func:`amlses.api.run_file` on a
    :class:`FakeCache` over ``fake`` (a new, empty account by default).

    ``variables`` are ``--var``'s; further keywords go to :class:`RunOptions` (e.g.
    ``max_iterations``).  Waits and retry delays are recorded in ``FakeRun.slept`` instead
    of slept unless ``sleep`` is given.  An invalid task raises, as ``api.run`` does.
    """
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    fake = fake if fake is not None else FakeSes()
    cache = FakeCache(fake)
    reporter = RecordingReporter()
    slept: list[float] = []
    run_options = RunOptions(
        variables=dict(variables or {}), sleep=sleep or slept.append, **options
    )
    try:
        result = api.run_file(path, options=run_options, reporter=reporter, cache=cache)
    finally:
        cache.close()
    return FakeRun(result, reporter, fake, cache, path, slept)


def pages(call: Callable[..., dict[str, Any]], key: str, **params: Any) -> Iterator[list[Any]]:
    """Every page's ``key`` of a ``NextToken``-paged call (for comparing fake and moto)."""
    token: str | None = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        yield list(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return
