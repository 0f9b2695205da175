"""A local SES for ``--local`` runs and for tests: moto's server on 127.0.0.1.

moto answers the SES query API like AWS does, keeps identities in memory and never sends mail,
so a task can be tried without an AWS account.  The server binds to 127.0.0.1 only (never
0.0.0.0: an emulator that accepts any credentials must not be reachable from the network) on a
port the operating system picks, so parallel runs never collide.

moto is an optional dependency (``amlses[local]``) and is imported only when an emulator starts.

moto keeps its state per *process*, not per server: every moto server in one process (and
moto's in-process mocks) sees the same identities.  Starting an emulator therefore resets that
state, so a run always begins with an empty account.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

__all__ = ["LocalEmulator", "load_fixture"]

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
