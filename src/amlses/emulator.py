"""A local SES for ``--local`` runs and for tests: moto's server on 127.0.0.1.

moto answers the SES query API like AWS does, keeps identities in memory and never sends mail,
so a task can be tried without an AWS account.  The server binds to 127.0.0.1 only (never
0.0.0.0: an emulator that accepts any credentials must not be reachable from the network) on a
port the operating system picks, so parallel runs never collide.

moto is an optional dependency (``amlses[local]``) and is imported only when an emulator starts.

moto keeps its state per *process*, not per server: every moto server in one process (and
moto's in-process mocks) sees the same identities.  Starting an emulator therefore resets that
state, so a run always begins with an empty account.

The messages moto accepted can be read back with :func:`read_outbox` (``--outbox``).  It asks
moto's own HTTP API, ``/moto-api/data.json``, rather than importing ``moto.ses.models``: that
works for any moto server (this process's, a subprocess's, a container's), and it is the only
source that has the MessageIds a ``SendBulkTemplatedEmail`` call returned.  Addresses and
domains listed in a fixture are verified at once by moto, so they can send straight away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AmlError, UsageError

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

__all__ = ["LocalEmulator", "OutboxMessage", "load_fixture", "read_outbox"]

# moto accepts any credentials; these make botocore sign without looking for real ones.
_DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_REGION = "us-east-1"


class LocalEmulator:
    """moto's SES on ``127.0.0.1:<random port>``; use as a context manager or start/stop.

    ``endpoint_url`` is what a connection's ``SERVICEURL`` (``endpoint_url``) should be.
    :meth:`seed` creates identities from a fixture so that a task has something to list.
    """

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None

    def start(self) -> LocalEmulator:
        """Start the server (once) and return self."""
        if self._server is not None:
            return self
        server_class = _moto_server_class()
        quiet_werkzeug()
        server = server_class(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        self.reset()
        return self

    def reset(self) -> None:
        """Forget every identity (all of moto's state in this process; see the module doc)."""
        import urllib.request  # ~20 ms of http/ssl imports that --help should not pay for

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        # No proxy: HTTP_PROXY in the environment must not capture a loopback request.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            response.read()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; raises UsageError before :meth:`start`."""
        if self._endpoint_url is None:
            raise UsageError("The local SES emulator has not been started.")
        return self._endpoint_url

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._server is not None

    def seed(self, fixture: Mapping[str, Any] | str | PathLike[str]) -> list[str]:
        """Create the identities a fixture lists; returns them in fixture order.

        ``fixture`` is a mapping like ``{"identities": ["a@example.com", "example.com"]}`` or
        the path of a JSON file holding one.  Addresses (with ``@``) are created with
        ``VerifyEmailIdentity``, domains with ``VerifyDomainIdentity``, exactly as a task
        would, so the emulator's state is what SES would hold after those calls.
        """
        data = load_fixture(fixture)
        identities = data.get("identities", [])
        client = self.client()
        try:
            for identity in identities:
                if "@" in identity:
                    client.verify_email_identity(EmailAddress=identity)
                else:
                    client.verify_domain_identity(Domain=identity)
        finally:
            client.close()
        return list(identities)

    def client(self) -> Any:
        """A plain boto3 SES client for this emulator, with dummy credentials."""
        import boto3

        return boto3.client(
            "ses", endpoint_url=self.endpoint_url, region_name=_REGION, **_DUMMY_CREDENTIALS
        )

    def outbox(self) -> list[OutboxMessage]:
        """The messages the emulator accepted since it started (see :func:`read_outbox`)."""
        return read_outbox(self.endpoint_url)

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        server, self._server = self._server, None
        self._endpoint_url = None
        if server is not None:
            server.stop()

    def __enter__(self) -> LocalEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def load_fixture(fixture: Mapping[str, Any] | str | PathLike[str]) -> dict[str, list[str]]:
    """Read and check a seed fixture: ``{"identities": [str, ...]}``.

    Raises :class:`~amlses.errors.UsageError` for an unreadable file or a wrong shape, since a
    fixture is given on the command line.
    """
    if isinstance(fixture, Mapping):
        data: object = dict(fixture)
        where = ""
    else:
        where = f" {fixture}"
        try:
            data = json.loads(Path(fixture).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"The fixture{where} cannot be read as JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f'The fixture{where} must be a JSON object like {{"identities": [...]}}.')
    identities = data.get("identities", [])
    if not isinstance(identities, list) or not all(
        isinstance(item, str) and item for item in identities
    ):
        raise UsageError(
            f'In the fixture{where}, "identities" must be a list of addresses and domains.'
        )
    return {"identities": identities}


@dataclass(frozen=True)
class OutboxMessage:
    """One message the emulator accepted; a bulk call gives one per destination.

    ``kind`` is the SES operation (``SendEmail``, ``SendRawEmail``, ``SendTemplatedEmail``,
    ``SendBulkTemplatedEmail``).  Templated messages have no rendered subject (moto does not
    render them); ``template`` and ``template_data`` say what SES would have rendered.
    """

    message_id: str
    kind: str
    sender: str
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    template: str = ""
    template_data: str = ""

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient's bare address, once each, To then Cc then Bcc."""
        from email.utils import getaddresses

        found = (a for _, a in getaddresses([*self.to, *self.cc, *self.bcc]) if a)
        return tuple(dict.fromkeys(found))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (what ``amlses run --outbox FILE`` writes)."""
        return {
            "MessageId": self.message_id,
            "Operation": self.kind,
            "From": self.sender,
            "To": list(self.to),
            "Cc": list(self.cc),
            "Bcc": list(self.bcc),
            "Subject": self.subject,
            "Template": self.template,
            "TemplateData": self.template_data,
        }


def read_outbox(endpoint_url: str) -> list[OutboxMessage]:
    """The messages a moto server at ``endpoint_url`` accepted since its last reset.

    Grouped by operation (moto keeps no common order across them), in acceptance order
    within each.  Raises :class:`~amlses.errors.AmlError` when the server cannot be asked.
    """
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{endpoint_url}/moto-api/data.json", timeout=30) as response:
            data = json.loads(response.read())
    except (OSError, ValueError) as exc:
        raise AmlError(
            f"The outbox of the SES emulator at {endpoint_url} cannot be read: {exc}"
        ) from exc
    models: Mapping[str, list[dict[str, Any]]] = data.get("ses", {})
    messages = [_simple_message(raw) for raw in models.get("Message", [])]
    messages += [_raw_message(raw) for raw in models.get("RawMessage", [])]
    messages += [
        _templated_message(raw, raw["id"], raw["destinations"], "SendTemplatedEmail")
        for raw in models.get("TemplateMessage", [])
        if isinstance(raw.get("destinations"), dict)  # bulk calls: BulkTemplateMessage below
    ]
    for raw in models.get("BulkTemplateMessage", []):
        for message_id, destination in zip(raw["ids"], raw["destinations"], strict=False):
            entry = _templated_message(
                raw, message_id, destination.get("Destination", {}), "SendBulkTemplatedEmail"
            )
            data_text = destination.get("ReplacementTemplateData") or entry.template_data
            messages.append(_replace_data(entry, data_text))
    return messages


def _addresses(destinations: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(a) for a in destinations.get(key) or ())


def _simple_message(raw: Mapping[str, Any]) -> OutboxMessage:
    destinations = raw.get("destinations") or {}
    return OutboxMessage(
        str(raw.get("id", "")),
        "SendEmail",
        str(raw.get("source", "")),
        _addresses(destinations, "ToAddresses"),
        _addresses(destinations, "CcAddresses"),
        _addresses(destinations, "BccAddresses"),
        str(raw.get("subject") or ""),
    )


def _raw_message(raw: Mapping[str, Any]) -> OutboxMessage:
    """A raw message: To, Cc and Subject from its headers; Bcc = the other destinations."""
    from email.parser import Parser
    from email.policy import default
    from email.utils import getaddresses

    headers = Parser(policy=default).parsestr(str(raw.get("raw_data", "")), headersonly=True)
    to = tuple(str(v) for v in headers.get_all("To", []))
    cc = tuple(str(v) for v in headers.get_all("Cc", []))
    shown = {a.lower() for _, a in getaddresses([*to, *cc])}
    bcc = _unique(
        a for _, a in getaddresses(raw.get("destinations") or []) if a and a.lower() not in shown
    )
    sender = str(raw.get("source") or headers.get("From", ""))
    subject = str(headers.get("Subject", ""))
    return OutboxMessage(str(raw.get("id", "")), "SendRawEmail", sender, to, cc, bcc, subject)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _templated_message(
    raw: Mapping[str, Any], message_id: str, destinations: Mapping[str, Any], kind: str
) -> OutboxMessage:
    return OutboxMessage(
        str(message_id),
        kind,
        str(raw.get("source", "")),
        _addresses(destinations, "ToAddresses"),
        _addresses(destinations, "CcAddresses"),
        _addresses(destinations, "BccAddresses"),
        template=str(raw.get("template", "")),
        template_data=str(raw.get("template_data") or ""),
    )


def _replace_data(message: OutboxMessage, template_data: str) -> OutboxMessage:
    from dataclasses import replace

    return replace(message, template_data=template_data)


def quiet_werkzeug() -> None:
    """Silence werkzeug's per-request log lines (``"POST / HTTP/1.1" 200 -``) on stderr.

    werkzeug logs each request at INFO and, when its logger has no level, sets INFO itself and
    adds a stderr handler.  Giving the logger WARNING first keeps real problems visible.  A
    level someone configured on purpose is left alone.
    """
    logger = logging.getLogger("werkzeug")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def _moto_server_class() -> type[ThreadedMotoServer]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise UsageError(
            "The local SES emulator needs moto and flask: pip install 'amlses[local]'"
        ) from exc
    return ThreadedMotoServer
