"""Helpers the CLI and integration tests share: run amlses in-process, write tasks, seed SES.

Importable as ``clitools`` because conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

from click.testing import CliRunner, Result


def invoke(*args: str) -> Result:
    """``amlses ARGS`` in-process; whatever happens, the output holds no traceback."""
    from amlses.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def write_task(tmp_path: Path, text: str, name: str = "task.aml") -> Path:
    """Write ``text`` as a task file under ``tmp_path`` (folders created) and return its path."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def seed_identities(ses_client: Any, *identities: str) -> None:
    """Create identities with a plain boto3 client: addresses by ``@``, else domains."""
    for identity in identities:
        if "@" in identity:
            ses_client.verify_email_identity(EmailAddress=identity)
        else:
            ses_client.verify_domain_identity(Domain=identity)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def encoded_forms(secret: str) -> set[str]:
    """Every form of ``secret`` that must not appear in output."""
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encoder(raw).decode()
        forms |= {encoded, encoded.rstrip("=")}
    forms |= {json.dumps(secret)[1:-1], escape(secret, {'"': "&quot;"})}
    return forms


def assert_no_leak(text: str, secrets: Iterable[str]) -> None:
    """Fail when any form of any of ``secrets`` (:func:`encoded_forms`) is in ``text``."""
    for secret in secrets:
        for form in encoded_forms(secret):
            assert form not in text, f"{form!r} (a form of {secret!r}) leaked"
