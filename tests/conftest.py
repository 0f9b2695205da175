"""Shared fixtures: a moto SES server over real HTTP, a clean AWS environment, a test proxy.

Everything runs on 127.0.0.1; no test may reach AWS.  The fixtures, by what they give:

* ``clean_environ`` (autouse) → :class:`AwsFiles`: no ``AWS_*`` or ``*_PROXY`` variables, the
  AWS config and credentials files pointed at empty temporary files, instance metadata off.
* ``aws_credentials`` → dummy ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in the environment.
* ``moto_endpoint`` (session) → the URL of one moto server shared by the whole run, not reset.
* ``endpoint`` → the same URL after resetting moto, so each test starts with an empty account.
* ``ses_client`` → a plain boto3 SES client on ``endpoint``, to check effects independently.
* ``client_cache`` → a fresh :class:`amlses.ses.ClientCache`, closed after the test.
* ``proxy`` → a factory starting :class:`tests.proxy.SesProxy` instances in front of moto.
* ``instant_retries`` → botocore's retry backoff set to zero, so retry tests do not sleep.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # make tests/proxy.py importable as `proxy`

from amlses.emulator import quiet_werkzeug  # noqa: E402
from amlses.ses import ClientCache  # noqa: E402
from proxy import SesProxy  # noqa: E402

# Variables that would let botocore or urllib reach past the test servers.
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@dataclass(frozen=True)
class AwsFiles:
    """The AWS config and shared credentials files a test may write profiles into."""

    config: Path
    credentials: Path


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsFiles:
    """Isolate every test from the machine's AWS setup.

    Removes every ``AWS_*`` and proxy variable, puts the send journal in ``tmp_path``, points
    ``AWS_CONFIG_FILE`` and
    ``AWS_SHARED_CREDENTIALS_FILE`` at empty files (so ``~/.aws`` is never read) and disables
    the EC2 instance metadata lookup (which would otherwise wait on 169.254.169.254 whenever no
    credentials are found).  Returns the two files so a test can add profiles.
    """
    for name in list(os.environ):
        if name.startswith("AWS_") or name.upper() in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    files = AwsFiles(tmp_path / "aws-config", tmp_path / "aws-credentials")
    files.config.write_text("")
    files.credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # bulk sends keep a journal by default: each test its own, never the user's state folder
    monkeypatch.setenv("AMLSES_JOURNAL_DIR", str(tmp_path / "journal"))
    return files


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials in the environment, for code using the default credential chain."""
    values = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server on 127.0.0.1 (random port) shared by the run; not reset."""
    from moto.server import ThreadedMotoServer

    quiet_werkzeug()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """``moto_endpoint`` after ``POST /moto-api/reset``: every test sees an empty account."""
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(reset, timeout=10) as response:
        assert response.status == 200
    return moto_endpoint


@pytest.fixture
def ses_client(endpoint: str) -> Iterator[Any]:
    """A plain boto3 SES client on ``endpoint`` with dummy credentials, independent of amlses."""
    import boto3

    client = boto3.client(
        "ses",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    client.close()


@pytest.fixture
def client_cache() -> Iterator[ClientCache]:
    """A fresh client cache, so no client built under another test's environment is reused."""
    cache = ClientCache()
    yield cache
    cache.close()


@pytest.fixture
def proxy(endpoint: str) -> Iterator[Callable[..., SesProxy]]:
    """A factory: ``proxy()`` starts a :class:`SesProxy` in front of moto (or ``upstream``).

    Every proxy started is stopped after the test.  See ``tests/proxy.py`` for its rules.
    """
    started: list[SesProxy] = []

    def start(upstream: str | None = None) -> SesProxy:
        server = SesProxy(upstream or endpoint).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make botocore retry without its exponential backoff (up to 1 s, 2 s, … per attempt).

    Only the delay changes: which errors are retried and how often stays botocore's decision.
    """
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
