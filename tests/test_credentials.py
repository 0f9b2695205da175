"""Credentials like the rest of the AWS ecosystem: the default chain, profiles, session tokens,
roles assumed with STS and refreshed, and the errors when none of them works.

Which credentials signed a request is read from the proxy's log: the ``authorization`` header
names the access key id, ``x-amz-security-token`` carries a session token.  moto serves STS
on the same endpoint as SES.
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from amlses import api, cli
from amlses.errors import AwsError, SessionError
from amlses.runtime import RunOptions
from amlses.ses import ClientCache, Connection, SesSession
from conftest import AwsFiles

ROLE = "arn:aws:iam::123456789012:role/SesSender"
BASE_KEY = "AKIABASECREDENTIAL01"
LIST = '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="ids" {attrs}/>\n'


def signer(request: Any) -> str:
    """The access key id that signed a recorded request."""
    authorization = request.headers["authorization"]
    return str(authorization.split("Credential=")[1].split("/")[0])


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli.cli, list(args))
    assert "Traceback" not in result.output
    return result


def run(text: str, endpoint: str, cache: ClientCache, **options: Any) -> api.RunResult:
    return api.run(text, "t.aml", options=RunOptions(endpoint_url=endpoint, **options), cache=cache)


def profile(name: str, key_id: str, **extra: str) -> str:
    lines = [f"[{name}]", f"aws_access_key_id = {key_id}", f"aws_secret_access_key = {name}-sk"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


class TestDefaultChain:
    """An empty ACCESSKEY hands the step to boto3's default credential chain."""

    def test_environment(
        self, monkeypatch: pytest.MonkeyPatch, proxy: Any, client_cache: ClientCache
    ) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
        monkeypatch.setenv("AWS_SESSION_TOKEN", "env-session-token")
        front = proxy()
        assert run(LIST.format(attrs=""), front.url, client_cache).ok
        (request,) = front.requests
        assert signer(request) == "AKIAFROMENVIRONMENT1"
        assert request.headers["x-amz-security-token"] == "env-session-token"

    def test_shared_credentials_default_profile(
        self, clean_environ: AwsFiles, proxy: Any, client_cache: ClientCache
    ) -> None:
        clean_environ.credentials.write_text(profile("default", "AKIADEFAULTPROFILE01"))
        front = proxy()
        assert run(LIST.format(attrs='ACCESSKEY=""'), front.url, client_cache).ok
        assert signer(front.requests[0]) == "AKIADEFAULTPROFILE01"

    def test_aws_profile_selects_a_profile(
        self,
        clean_environ: AwsFiles,
        monkeypatch: pytest.MonkeyPatch,
        proxy: Any,
        client_cache: ClientCache,
    ) -> None:
        clean_environ.credentials.write_text(
            profile("default", "AKIADEFAULTPROFILE01") + profile("work", "AKIAWORKPROFILE00001")
        )
        monkeypatch.setenv("AWS_PROFILE", "work")
        front = proxy()
        assert run(LIST.format(attrs=""), front.url, client_cache).ok
        assert signer(front.requests[0]) == "AKIAWORKPROFILE00001"

    def test_credential_process(
        self, clean_environ: AwsFiles, proxy: Any, client_cache: ClientCache
    ) -> None:
        document = {"Version": 1, "AccessKeyId": "AKIAPROCESS000000001", "SecretAccessKey": "p"}
        script = clean_environ.config.parent / "creds.py"
        script.write_text(f"print({json.dumps(json.dumps(document))})\n")
        clean_environ.config.write_text(
            f"[default]\ncredential_process = {sys.executable} {script}\n"
        )
        front = proxy()
        assert run(LIST.format(attrs=""), front.url, client_cache).ok
        assert signer(front.requests[0]) == "AKIAPROCESS000000001"

    def test_container_credentials(
        self,
        monkeypatch: pytest.MonkeyPatch,
        container_endpoint: str,
        proxy: Any,
        client_cache: ClientCache,
    ) -> None:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_endpoint)
        front = proxy()
        assert run(LIST.format(attrs=""), front.url, client_cache).ok
        (request,) = front.requests
        assert signer(request) == "ASIACONTAINERROLE001"
        assert request.headers["x-amz-security-token"] == "container-token"

    def test_nothing_found_says_where_it_looked_and_what_to_do(
        self, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        result = run(LIST.format(attrs=""), front.url, client_cache)
        assert isinstance(result.error, SessionError)
        message = result.error.render()
        assert message.startswith('t.aml:1: <AMAWSSES ACTIVITY="list_identities">: No AWS')
        for hint in ("default chain", "SSO", "instance roles", "--profile NAME", "AWS_PROFILE"):
            assert hint in message
        assert front.count() == 0


@pytest.fixture
def container_endpoint() -> Iterator[str]:
    """An ECS-style container credentials endpoint on 127.0.0.1."""
    expiration = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    body = json.dumps(
        {
            "AccessKeyId": "ASIACONTAINERROLE001",
            "SecretAccessKey": "container-secret",
            "Token": "container-token",
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server dispatches on this name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/credentials"
    server.shutdown()
    server.server_close()


class TestProfileOption:
    TASK = (
        '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="a" />\n'
        '<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="AKIAOWNKEY0000000001" '
        'SECRETKEY="own-secret" RESULTDATASET="b" />\n'
    )

    def test_profile_is_for_steps_that_name_no_key_and_wins_over_aws_profile(
        self,
        clean_environ: AwsFiles,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        proxy: Any,
    ) -> None:
        clean_environ.credentials.write_text(
            profile("work", "AKIAWORKPROFILE00001") + profile("other", "AKIAOTHERPROFILE0001")
        )
        monkeypatch.setenv("AWS_PROFILE", "other")
        task = tmp_path / "task.aml"
        task.write_text(self.TASK)
        front = proxy()
        result = invoke("run", str(task), "--endpoint-url", front.url, "--profile", "work")
        assert result.exit_code == 0, result.output
        assert [signer(r) for r in front.requests] == [
            "AKIAWORKPROFILE00001",
            "AKIAOWNKEY0000000001",
        ]

    def test_profile_region_applies(
        self, clean_environ: AwsFiles, proxy: Any, client_cache: ClientCache
    ) -> None:
        clean_environ.config.write_text("[profile work]\nregion = eu-central-1\n")
        clean_environ.credentials.write_text(profile("work", "AKIAWORKPROFILE00001"))
        front = proxy()
        assert run(LIST.format(attrs=""), front.url, client_cache, profile="work").ok
        assert "/eu-central-1/ses/" in front.requests[0].headers["authorization"]

    def test_unknown_profile_names_the_known_ones(
        self, clean_environ: AwsFiles, tmp_path: Path, proxy: Any
    ) -> None:
        clean_environ.credentials.write_text(profile("work", "AKIAWORKPROFILE00001"))
        task = tmp_path / "task.aml"
        task.write_text(self.TASK)
        front = proxy()
        result = invoke("run", str(task), "--endpoint-url", front.url, "--profile", "wrok")
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f'amlses: {task}:1: <AMAWSSES ACTIVITY="list_identities">: The AWS profile "wrok" '
            "does not exist in the AWS config or credentials file (profiles found: work)."
        )
        assert front.count() == 0


class TestSessionToken:
    def test_sessiontoken_is_sent_with_its_key(self, proxy: Any, client_cache: ClientCache) -> None:
        front = proxy()
        attrs = 'ACCESSKEY="ASIATEMPORARY0000001" SECRETKEY="temp-secret" SESSIONTOKEN="tok-1" '
        assert run(LIST.format(attrs=attrs), front.url, client_cache).ok
        (request,) = front.requests
        assert signer(request) == "ASIATEMPORARY0000001"
        assert request.headers["x-amz-security-token"] == "tok-1"

    def test_sessiontoken_without_a_key_is_an_error(
        self, proxy: Any, client_cache: ClientCache
    ) -> None:
        result = run(LIST.format(attrs='SESSIONTOKEN="tok-1" '), proxy().url, client_cache)
        assert isinstance(result.error, SessionError)
        assert "session token was given without an access key" in result.error.message
        assert "tok-1" not in result.error.render()


def _at(offset: list[datetime.timedelta]) -> Callable[[], datetime.datetime]:
    """A clock for botocore's refresh: now, plus whatever the test has moved it by."""
    return lambda: datetime.datetime.now(datetime.UTC) + offset[0]


class TestAssumeRole:
    SESSION = (
        '<AMAWSSES ACTIVITY="create_session" SESSION="r" {creds} ROLEARN="{role}" {extra}/>\n'
        '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="r" '
        'RESULTDATASET="ids" />\n'
    )

    def task(self, creds: str = "", role: str = ROLE, extra: str = "") -> str:
        return self.SESSION.format(creds=creds, role=role, extra=extra)

    def test_assumes_the_role_lazily_and_refreshes_before_expiry(self, proxy: Any) -> None:
        front = proxy()
        offset = [datetime.timedelta(0)]
        cache = ClientCache(clock=_at(offset))  # shared by the runs: one client, one role
        creds = f'ACCESSKEY="{BASE_KEY}" SECRETKEY="base-secret"'
        text = self.task(creds, extra='EXTERNALID="ext-42" ')
        try:
            assert run(text, front.url, cache).ok
            assert run(text, front.url, cache).ok  # the role's credentials are still fresh
            # moto's role credentials last an hour: 55 minutes on, fewer than botocore's
            # 10 mandatory minutes remain, so the next request fetches new ones first.
            offset[0] = datetime.timedelta(minutes=55)
            assert run(text, front.url, cache).ok
        finally:
            cache.close()
        assert front.actions() == [
            "AssumeRole",
            "ListIdentities",
            "ListIdentities",
            "AssumeRole",
            "ListIdentities",
        ]
        assume = front.requests[0]
        assert signer(assume) == BASE_KEY
        assert assume.params["RoleArn"] == ROLE and assume.params["ExternalId"] == "ext-42"
        assert assume.params["RoleSessionName"] == "amlses"
        ses_requests = [r for r in front.requests if r.action == "ListIdentities"]
        assert all(signer(r).startswith("ASIA") for r in ses_requests)
        assert signer(ses_requests[0]) == signer(ses_requests[1]) != signer(ses_requests[2])
        tokens = [r.headers["x-amz-security-token"] for r in ses_requests]
        assert all(tokens) and tokens[0] == tokens[1] != tokens[2]

    def test_base_credentials_can_come_from_a_profile(
        self, clean_environ: AwsFiles, proxy: Any, client_cache: ClientCache
    ) -> None:
        clean_environ.credentials.write_text(profile("work", "AKIAWORKPROFILE00001"))
        front = proxy()
        assert run(self.task(), front.url, client_cache, profile="work").ok
        assert front.actions() == ["AssumeRole", "ListIdentities"]
        assert signer(front.requests[0]) == "AKIAWORKPROFILE00001"
        assert signer(front.requests[1]).startswith("ASIA")

    def test_assume_role_failure_is_an_aws_error_of_assume_role(
        self, proxy: Any, client_cache: ClientCache
    ) -> None:
        front = proxy()
        front.fail(action="AssumeRole", code="AccessDenied", message="not trusted")
        creds = f'ACCESSKEY="{BASE_KEY}" SECRETKEY="base-secret"'
        result = run(self.task(creds), front.url, client_cache)
        assert isinstance(result.error, AwsError)
        assert result.error.code == "AccessDenied" and result.error.operation == "AssumeRole"
        assert result.error.render().startswith(
            't.aml:2: <AMAWSSES ACTIVITY="list_identities">: AWS error AccessDenied from '
            "AssumeRole: not trusted"
        )
        assert front.actions() == ["AssumeRole"]

    @pytest.mark.parametrize(
        ("role", "extra", "message"),
        [
            ("arn:aws:iam::12345:role/x", "", "is not an IAM role ARN"),
            ("SesSender", "", "is not an IAM role ARN"),
            ("", 'EXTERNALID="e" ', "external id was given without a role ARN"),
        ],
    )
    def test_bad_role_settings_fail_at_create_session(
        self, proxy: Any, client_cache: ClientCache, role: str, extra: str, message: str
    ) -> None:
        front = proxy()
        result = run(self.task(role=role, extra=extra), front.url, client_cache)
        assert isinstance(result.error, SessionError)
        assert message in result.error.message
        assert result.error.position is not None and result.error.position.line == 1
        assert front.count() == 0

    def test_rolearn_belongs_to_create_session_only(self) -> None:
        problems = api.check(LIST.format(attrs=f'ROLEARN="{ROLE}" '), "t.aml")
        assert [p.message for p in problems] == [
            'unknown attribute ROLEARN for <AMAWSSES ACTIVITY="list_identities">'
        ]

    def test_sts_goes_to_an_emulator_endpoint_but_not_to_aws_ses(self) -> None:
        from amlses.aws.credentials import sts_endpoint as _sts_endpoint

        emulator = Connection(endpoint_url="http://127.0.0.1:5000", role_arn=ROLE)
        aws = Connection(endpoint_url="https://email.eu-west-1.amazonaws.com", role_arn=ROLE)
        assert _sts_endpoint(emulator) == "http://127.0.0.1:5000"
        assert _sts_endpoint(aws) is None
        assert _sts_endpoint(Connection(role_arn=ROLE)) is None


class TestAutomateCiphertext:
    def test_resolved_by_key_id_from_a_profile(
        self, clean_environ: AwsFiles, proxy: Any, client_cache: ClientCache
    ) -> None:
        clean_environ.credentials.write_text(profile("automate", "AKIAAUTOMATEKEY00001"))
        front = proxy()
        attrs = 'ACCESSKEY="AKIAAUTOMATEKEY00001" SECRETKEY="AM3i6P77pVEBOw=aME" '
        assert run(LIST.format(attrs=attrs), front.url, client_cache).ok
        assert signer(front.requests[0]) == "AKIAAUTOMATEKEY00001"

    def test_no_match_explains_the_three_ways_out(self, tmp_path: Path, proxy: Any) -> None:
        task = tmp_path / "task.aml"
        task.write_text(
            LIST.format(attrs='ACCESSKEY="AKIAAUTOMATEKEY00001" SECRETKEY="AM3i6P77pVEBOw=aME" ')
        )
        front = proxy()
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1 and front.count() == 0
        message = result.stderr
        for way in (
            "(1) put the plain secret key in the task",
            "(2) encrypt it with `amlses encrypt` and paste the amlses:v1:… token",
            "(3) keep it where AWS tools find it",
            "aws_access_key_id = AKIAAUTOMATEKEY00001",
            "--profile NAME",
        ):
            assert way in message
        assert "AM3i6P77pVEBOw=aME" not in result.output


class TestProxyCredentials:
    @pytest.mark.parametrize(("user", "password"), [("proxy-user", "pässwort"), ("jürgen", "pw")])
    def test_non_ascii_proxy_credentials_are_a_clear_error(
        self, proxy: Any, client_cache: ClientCache, user: str, password: str
    ) -> None:
        attrs = (
            f'ACCESSKEY="{BASE_KEY}" SECRETKEY="s" PROXYHOST="127.0.0.1" PROXYPORT="3128" '
            f'PROXYUSER="{user}" PROXYPWD="{password}" '
        )
        result = run(LIST.format(attrs=attrs), proxy().url, client_cache)
        assert isinstance(result.error, SessionError)
        assert "contains non-ASCII characters" in result.error.message
        assert password not in result.error.render()

    def test_python_api_rejects_them_on_construction(self) -> None:
        with pytest.raises(SessionError, match="proxy password contains non-ASCII"):
            Connection(proxy_host="p", proxy_user="u", proxy_password="naïve")
        with pytest.raises(SessionError, match="session token was given without an access key"):
            SesSession(session_token="t")
