"""No secret leaves amlses: every output path, with succeeding and failing tasks.

Each secret below is distinctive and contains characters that URL encoding changes, and the
tasks make amlses want to print them: an identity spelled like the secret (step echo, dataset
table, JSON), an invalid value (error messages, check problems), a warning whose source line
holds it, and botocore's debug log of requests and responses.  The output is then searched for
each secret plain, URL-encoded, base64-encoded (both alphabets, with and without padding),
JSON- and XML-escaped.  The runs also prove the paths were taken: "****" shows up where the
secret would have been.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from amlses import api, vault
from amlses.redact import Redactor
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, Connection, SesSession
from clitools import assert_no_leak as assert_none_of
from clitools import encoded_forms, invoke
from conftest import AwsFiles

SECRET_KEY = "Lk9/Secret+Key=Distinct0001"
SESSION_TOKEN = "SessTok/Distinct+Value=0002"
PROXY_PASSWORD = 'Pr0xy"pass&word\\0003'  # a quote, an ampersand and a backslash
VAULT_SECRET = "VaultPlain/Secret+0004"
PROFILE_SECRET = "ProfileResolved/Secret+0005"
ROLE_SECRET = "RoleSecret/Known+0006"
ROLE_TOKEN = "RoleToken/Known+0007"
ALL = (SECRET_KEY, SESSION_TOKEN, PROXY_PASSWORD, VAULT_SECRET, PROFILE_SECRET)

KEY_ID = "AKIALEAKTEST00000001"
AUTOMATE_KEY_ID = "AKIAAUTOMATELEAK0001"
ROLE = "arn:aws:iam::123456789012:role/LeakTest"


def assert_no_leak(text: str, secrets: Iterable[str] = ALL) -> None:
    """No form of any of this module's secrets (or of ``secrets``) is in ``text``."""
    assert_none_of(text, secrets)


def aml(value: str) -> str:
    """``value`` as an AML attribute value."""
    return escape(value, {'"': "&quot;"})


@pytest.fixture
def env_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> vault.Key:
    """A fresh key in AMLSES_KEY; the key file and config directory in tmp_path."""
    monkeypatch.setenv(vault.KEY_FILE_ENV, str(tmp_path / "no-key-file"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    material = vault.generate_key()
    monkeypatch.setenv(vault.KEY_ENV, material.decode())
    return vault.Key(material, vault.KEY_ENV)


@pytest.fixture
def automate_profile(clean_environ: AwsFiles) -> None:
    """The secret an Automate-encrypted SECRETKEY resolves to, by access key id."""
    clean_environ.credentials.write_text(
        f"[automate]\naws_access_key_id = {AUTOMATE_KEY_ID}\n"
        f"aws_secret_access_key = {PROFILE_SECRET}\n"
    )


@pytest.fixture
def setup(
    env_key: vault.Key, automate_profile: None, proxy: Any, ses_client: Any
) -> dict[str, Any]:
    """An SES endpoint (a proxy in front of moto that also answers STS with known role
    credentials), an HTTP proxy to send through, and identities spelled like the secrets."""
    front, hop = proxy(), proxy()
    front.respond(
        "AssumeRole",
        "<Credentials><AccessKeyId>ASIALEAKROLE00000001</AccessKeyId>"
        f"<SecretAccessKey>{ROLE_SECRET}</SecretAccessKey>"
        f"<SessionToken>{ROLE_TOKEN}</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>",
    )
    for secret in (SECRET_KEY, VAULT_SECRET, PROFILE_SECRET):
        ses_client.verify_email_identity(EmailAddress=f"{secret}@example.com")
    return {"front": front, "hop": hop, "token": vault.encrypt(VAULT_SECRET, env_key)}


def succeeding_task(token: str, hop_port: int) -> str:
    """Every kind of secret, echoed by steps and tables, and a warning on a line holding one."""
    connection = (
        f'ACCESSKEY="{KEY_ID}" SECRETKEY="{aml(SECRET_KEY)}" '
        f'SESSIONTOKEN="{aml(SESSION_TOKEN)}" PROXYHOST="127.0.0.1" PROXYPORT="{hop_port}" '
        f'PROXYUSER="leak-user" PROXYPWD="{aml(PROXY_PASSWORD)}"'
    )
    return (
        f'<AMAWSSES ACTIVITY="create_session" SESSION="role" {connection} ROLEARN="{ROLE}" />\n'
        '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="role" '
        'RESULTDATASET="ids" />\n'
        f'<AMAWSSES ACTIVITY="verify_identity" ACCESSKEY="{KEY_ID}" SECRETKEY="{token}" '
        f'IDENTITY="{aml(VAULT_SECRET)}@example.com" SESSION="ignored-so-a-warning" />\n'
        f'<AMAWSSES ACTIVITY="verify_identity" ACCESSKEY="{AUTOMATE_KEY_ID}" '
        f'SECRETKEY="AM3i6P77pVEBOw=aME" IDENTITY="{aml(PROFILE_SECRET)}@example.com" />\n'
        f'<AMAWSSES ACTIVITY="verify_identity" {connection} '
        f'IDENTITY="{aml(SECRET_KEY)}@example.com" />\n'
    )


def failing_task(token: str) -> str:
    """Steps that fail with a secret in their message: one handled (the run goes on), and one
    that ends the run."""
    return (
        f'<AMAWSSES ACTIVITY="verify_identity" ACCESSKEY="{KEY_ID}" SECRETKEY="{token}" '
        f'IDENTITY="a@example.com" IDENTITYTYPE="%kind%" AM_ONERROR="CONTINUE" />\n'
        f'<AMAWSSES ACTIVITY="delete_identity" ACCESSKEY="{KEY_ID}" '
        f'SECRETKEY="{aml(SECRET_KEY)}" SESSIONTOKEN="{aml(SESSION_TOKEN)}" '
        f'PROXYHOST="127.0.0.1" PROXYPORT="1" PROXYUSER="u" PROXYPWD="{aml(PROXY_PASSWORD)}" '
        'IDENTITY="%secretkey%" MAXERRORRETRY="0" />\n'
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "task.aml"
    path.write_text(text)
    return path


class TestCliRun:
    @pytest.mark.parametrize("mode", ["human", "json", "debug"])
    def test_succeeding_task(self, setup: dict[str, Any], tmp_path: Path, mode: str) -> None:
        task = write(tmp_path, succeeding_task(setup["token"], setup["hop"].port))
        extra = {"human": [], "json": ["--json"], "debug": ["--debug"]}[mode]
        result = invoke("run", str(task), "--endpoint-url", setup["front"].url, *extra)
        assert result.exit_code == 0, result.output
        assert_no_leak(result.output, (*ALL, ROLE_SECRET, ROLE_TOKEN))
        assert "****@example.com" in result.output  # the echo or table that was masked
        if mode == "human":
            assert "verification started for ****@example.com" in result.stdout
            assert "warning: " in result.stderr and "SESSION is ignored" in result.stderr
        if mode == "json":
            rows = json.loads(result.stdout)["datasets"]["ids"]["rows"]
            assert ["****@example.com", "EmailAddress"] in rows
        if mode == "debug":
            assert "Sending http request" in result.stderr  # the wire traffic is there
            assert "Response body" in result.stderr
            assert "Signature=****" in result.stderr and "Signature:\n****" in result.stderr
            for request in setup["hop"].requests + setup["front"].requests:
                signature = request.headers["authorization"].rsplit("Signature=", 1)[1]
                assert signature not in result.output
                token = request.headers.get("x-amz-security-token")
                assert token is None or token not in result.output

    @pytest.mark.parametrize("mode", ["human", "json", "debug"])
    def test_failing_task(self, setup: dict[str, Any], tmp_path: Path, mode: str) -> None:
        task = write(tmp_path, failing_task(setup["token"]))
        extra = {"human": [], "json": ["--json"], "debug": ["--debug"]}[mode]
        variables = ["--var", f"kind={VAULT_SECRET}", "--var", f"secretkey={SECRET_KEY}"]
        result = invoke("run", str(task), "--endpoint-url", setup["front"].url, *variables, *extra)
        assert result.exit_code == 1
        assert_no_leak(result.output)
        assert "ProxyError" in result.output  # the failure that ended the run
        if mode == "json":
            document = json.loads(result.stdout)
            assert document["variables"]["secretkey"] == "****"
            assert document["status"] == "failed"
            handled = document["failed_steps"][0]["message"]
        else:
            handled = result.output
        assert 'IDENTITYTYPE="****" is not one of' in handled  # the failure the run went past

    def test_invalid_task_is_refused_with_masked_problems(
        self, setup: dict[str, Any], tmp_path: Path
    ) -> None:
        task = write(
            tmp_path,
            f'<AMAWSSES ACTIVITY="verify_identity" ACCESSKEY="{KEY_ID}" '
            f'SECRETKEY="{aml(SECRET_KEY)}" IDENTITY="x@example.com" '
            f'IDENTITYTYPE="{aml(SECRET_KEY)}" />\n',
        )
        for command in (["run"], ["check"]):
            result = invoke(*command, str(task))
            assert result.exit_code == 2
            assert 'IDENTITYTYPE="****" is not one of' in result.stderr
            assert_no_leak(result.output)

    def test_unparsable_task_masks_an_unclosed_secret(self, tmp_path: Path) -> None:
        task = write(tmp_path, f'<AMAWSSES ACTIVITY="create_session" SECRETKEY="{SECRET_KEY}\n')
        for command in (["run"], ["check"]):
            result = invoke(*command, str(task))
            assert result.exit_code == 2
            assert 'SECRETKEY="****"' in result.stderr
            assert_no_leak(result.output)


class TestPythonApi:
    def test_errors_in_the_result_are_masked(self, setup: dict[str, Any]) -> None:
        options = RunOptions(
            endpoint_url=setup["front"].url,
            variables={"kind": VAULT_SECRET, "secretkey": SECRET_KEY},
        )
        result = api.run(failing_task(setup["token"]), "t.aml", options=options)
        texts = [str(result.error), *(str(e) for e in result.failed_steps)]
        texts += [repr(e.args) for e in result.failed_steps]
        assert_no_leak("\n".join(texts))
        assert 'IDENTITYTYPE="****"' in texts[1]

    def test_botocore_logs_are_masked_for_any_handler(
        self, setup: dict[str, Any], caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        handlers = logging.getLogger().handlers
        filters_before = [list(handler.filters) for handler in handlers]
        options = RunOptions(endpoint_url=setup["front"].url)
        text = succeeding_task(setup["token"], setup["hop"].port)
        assert api.run(text, "t.aml", options=options).ok
        assert "Sending http request" in caplog.text
        assert_no_leak(caplog.text, (*ALL, ROLE_SECRET, ROLE_TOKEN))
        assert [list(handler.filters) for handler in handlers] == filters_before  # removed

    def test_reprs_hold_no_secret(self, env_key: vault.Key, client_cache: ClientCache) -> None:
        connection = Connection(
            access_key=KEY_ID,
            secret_key=SECRET_KEY,
            session_token=SESSION_TOKEN,
            proxy_host="p",
            proxy_user="u",
            proxy_password="plainproxypw",
        )
        session = SesSession(connection, cache=client_cache)
        given = vault.Vault(env_key.material)
        given.reveal(given.encrypt(VAULT_SECRET))
        assert_no_leak(repr(connection) + repr(session) + repr(given) + repr(RunOptions()))
        assert "plainproxypw" not in repr(connection)

    def test_redactor_masks_every_form(self) -> None:
        redactor = Redactor()
        for secret in ALL:
            redactor.add(secret)
        text = "\n".join(form for secret in ALL for form in sorted(encoded_forms(secret)))
        assert_no_leak(redactor(text))

    @pytest.mark.parametrize(
        ("text", "masked"),
        [
            ("Authorization: AWS4-HMAC-SHA256 Signature=0123456789abcdef01", "Signature=****"),
            ("Signature:\n0123456789abcdef0123456789abcdef", "Signature:\n****"),
            ("'X-Amz-Security-Token': b'IQoJb3JpZ2luX2Vj/+='", "'X-Amz-Security-Token': b'****'"),
            ("x-amz-security-token:IQoJb3JpZ2luX2Vj\n", "x-amz-security-token:****\n"),
            ("<SecretAccessKey>wJalr/K7MDENG</SecretAccessKey>", "<SecretAccessKey>****</"),
            ("{'SessionToken': 'AQoDYXdzEPT'}", "{'SessionToken': '****'}"),
            ("Proxy-Authorization: Basic dXNlcjpwYXNzd29yZA==", "Basic ****"),
            ('<AMAWSSES SECRETKEY="abc def\n', '<AMAWSSES SECRETKEY="****"\n'),
        ],
    )
    def test_credentials_are_masked_by_shape(self, text: str, masked: str) -> None:
        assert masked in Redactor()(text)

    def test_masked_json_stays_json(self) -> None:
        redactor = Redactor()
        redactor.add(PROXY_PASSWORD)
        line = f'<AMAWSSES SECRETKEY="unknown" PROXYPWD="{aml(PROXY_PASSWORD)}" />'
        document = json.dumps({"line": line, "value": PROXY_PASSWORD, "t": "SessionToken=x"})
        assert json.loads(redactor(document)) == {
            "line": '<AMAWSSES SECRETKEY="****" PROXYPWD="****" />',
            "value": "****",
            "t": "SessionToken=****",
        }

    def test_log_filter_masks_arguments_tracebacks_and_survives_bad_records(self) -> None:
        redactor = Redactor()
        redactor.add(SECRET_KEY)
        log_filter = redactor.logging_filter()
        try:
            raise ValueError(f"boom {SECRET_KEY}")
        except ValueError:
            exc_info = sys.exc_info()
        record = logging.LogRecord(
            "botocore.x", logging.DEBUG, "f", 1, "%s", (SECRET_KEY,), exc_info
        )
        assert log_filter.filter(record)
        text = logging.Formatter().format(record)
        assert "ValueError: boom ****" in text
        assert_no_leak(text)
        bad = logging.LogRecord("x", logging.DEBUG, "f", 1, "%d %s", (SECRET_KEY,), None)
        assert log_filter.filter(bad) and SECRET_KEY not in bad.getMessage()
