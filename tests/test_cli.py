"""`amlses run` and `amlses check` as a user runs them: against moto over HTTP, through the proxy.

Effects are checked on the proxy's request log and with a plain boto3 client, never through
amlses itself.  Every failing case asserts the exit code, the one-paragraph message with
file:line and the step, and the absence of tracebacks and secrets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clitools import invoke, seed_identities, write_task

TASKS = Path(__file__).parent / "tasks"
EXAMPLES = Path(__file__).parent.parent / "examples"
SEEDS = [TASKS / "valid" / "seed-multiline.aml", TASKS / "valid" / "seed-oneline.aml"]
SEED_KEY = "AKIAJ25JAKOPAC7GSQ7A"  # the access key id in Automate's sample task
SEED_SECRET = "seed-secret-resolved-by-key-id"
IDENTITIES = ["alice@example.com", "example.com", "bob@example.com", "mail.example.org"]


@pytest.fixture
def seed_profile(clean_environ: Any) -> None:
    """A profile holding the secret of the sample's access key id (the sample's is encrypted)."""
    clean_environ.credentials.write_text(
        f"[automate]\naws_access_key_id = {SEED_KEY}\naws_secret_access_key = {SEED_SECRET}\n"
    )


class TestSeedSample:
    @pytest.mark.parametrize("task", SEEDS, ids=["multiline", "oneline"])
    def test_runs_unmodified_and_verifies_only_addresses(
        self, task: Path, proxy: Any, ses_client: Any, seed_profile: None
    ) -> None:
        seed_identities(ses_client, *IDENTITIES)
        front = proxy()
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 0, result.output
        verified = [
            r.params["EmailAddress"] for r in front.requests if r.action == "VerifyEmailIdentity"
        ]
        assert verified == ["alice@example.com", "bob@example.com"]
        assert front.count("VerifyDomainIdentity") == 0
        assert front.actions() == ["ListIdentities", "VerifyEmailIdentity", "VerifyEmailIdentity"]
        # the resolved secret signed the requests, and was never printed
        assert SEED_KEY in front.requests[0].headers["authorization"]
        assert SEED_SECRET not in result.output
        lines = [line.split("  (")[0].rstrip() for line in result.stdout.splitlines()]
        line = 1 if "oneline" in task.name else 10
        step = "AMAWSSES verify_identity"
        assert f"{line:>5}  {step:<30} verification started for alice@example.com" in lines
        assert "IDList: 4 rows" in result.stdout

    def test_local_mode_with_the_shipped_fixture(self) -> None:
        result = invoke(
            "run",
            str(EXAMPLES / "seed-verify.aml"),
            "--local",
            "--fixture",
            str(EXAMPLES / "identities.json"),
        )
        assert result.exit_code == 0, result.output
        fixture = json.loads((EXAMPLES / "identities.json").read_text())["identities"]
        for address in (i for i in fixture if "@" in i):
            assert f"verification started for {address}" in result.stdout
        assert "local SES emulator at http://127.0.0.1:" in result.stderr
        assert "session SESVerify ended" in result.stdout

    def test_encrypted_secret_without_a_source_fails_before_any_request(self, proxy: Any) -> None:
        front = proxy()
        result = invoke("run", str(SEEDS[0]), "--endpoint-url", front.url)
        assert result.exit_code == 1
        assert front.count() == 0
        message = result.stderr
        assert message.startswith(
            f'amlses: {SEEDS[0]}:2: <AMAWSSES ACTIVITY="create_session">: The secret key for '
            f"access key {SEED_KEY} is Automate-encrypted"
        )
        assert "AM3i6P77pVEBOw=aME" not in result.output
        assert 'SECRETKEY="****"' in message  # the source line is shown, masked


class TestEndpoints:
    TASK = (
        '<AMAWSSES ACTIVITY="list_identities" ACCESSKEY="AKIAHOSTBASED0000001" '
        'SECRETKEY="host-secret-1" RESULTDATASET="ids" {extra}/>\n'
    )

    def test_serviceurl_wins_over_endpoint_url(self, tmp_path: Path, proxy: Any) -> None:
        step_proxy, cli_proxy = proxy(), proxy()
        task = write_task(tmp_path, self.TASK.format(extra=f'SERVICEURL="{step_proxy.url}" '))
        assert invoke("run", str(task), "--endpoint-url", cli_proxy.url).exit_code == 0
        assert (step_proxy.count(), cli_proxy.count()) == (1, 0)

    @pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL"])
    def test_boto3_environment_endpoints(
        self, tmp_path: Path, proxy: Any, monkeypatch: pytest.MonkeyPatch, variable: str
    ) -> None:
        front = proxy()
        monkeypatch.setenv(variable, front.url)
        task = write_task(tmp_path, self.TASK.format(extra=""))
        assert invoke("run", str(task)).exit_code == 0
        assert front.count("ListIdentities") == 1

    def test_user_agent_default_and_custom(self, tmp_path: Path, proxy: Any) -> None:
        front = proxy()
        task = write_task(
            tmp_path,
            self.TASK.format(extra='USERAGENT="NightlyCleanup/2" ') + self.TASK.format(extra=""),
        )
        assert invoke("run", str(task), "--endpoint-url", front.url).exit_code == 0
        agents = [r.headers["user-agent"] for r in front.requests]
        assert agents[0].endswith("NightlyCleanup/2")
        assert "amlses/" in agents[1]


class TestRetriesAndPages:
    def test_pagination_and_retries_in_a_task(
        self,
        tmp_path: Path,
        proxy: Any,
        ses_client: Any,
        instant_retries: None,
        aws_credentials: Any,
    ) -> None:
        seed_identities(ses_client, *(f"user{i}@example.com" for i in range(7)))
        front = proxy()
        front.page_identities(3)
        front.fail(2, action="ListIdentities", code="Throttling")
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_session" SESSION="s" MAXERRORRETRY="2" />\n'
            '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="s" '
            'RESULTDATSET="ids" />\n'
            '<AMIF EXPRESSION="%ids.TotalRows% = 7"><AMELSE />'
            '<AMAWSSES ACTIVITY="delete_identity" IDENTITY="never@example.com" /></AMIF>\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 0, result.output
        assert front.count("ListIdentities") == 2 + 3  # two throttled attempts, three pages
        assert front.count("DeleteIdentity") == 0
        assert "7 identities -> ids" in result.stdout

    def test_maxerrorretry_exhausted_is_one_clear_paragraph(
        self, tmp_path: Path, proxy: Any, aws_credentials: Any, instant_retries: None
    ) -> None:
        front = proxy()
        front.fail(
            5,
            action="VerifyEmailIdentity",
            status=503,
            code="ServiceUnavailable",
            message="Service is unavailable",
        )
        task = write_task(
            tmp_path,
            '<!-- verify -->\n<AMAWSSES ACTIVITY="verify_identity" MAXERRORRETRY="1" '
            'IDENTITY="a@example.com" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", front.url)
        assert result.exit_code == 1
        assert front.count("VerifyEmailIdentity") == 2
        first = result.stderr.splitlines()[0]
        assert first.startswith(
            f'amlses: {task}:2: <AMAWSSES ACTIVITY="verify_identity">: AWS error '
            "ServiceUnavailable from VerifyEmailIdentity: Service is unavailable (request id "
        )
        assert len(result.stderr.strip().splitlines()) == 2  # the paragraph and its source line


class TestSessions:
    @pytest.mark.parametrize(
        ("body", "line", "message"),
        [
            (
                '<AMAWSSES ACTIVITY="create_session" SESSION="a" />\n'
                '<AMAWSSES ACTIVITY="create_session" SESSION="A" />\n',
                2,
                'session "A" is already open (created at {task}:1)',
            ),
            (
                '<AMAWSSES ACTIVITY="create_session" SESSION="a" />\n'
                '<AMAWSSES ACTIVITY="end_session" SESSION="a" />\n'
                '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="a" '
                'RESULTDATASET="d" />\n',
                3,
                'session "a" was ended at {task}:2',
            ),
        ],
    )
    def test_misuse_is_one_sentence(
        self, tmp_path: Path, endpoint: str, body: str, line: int, message: str
    ) -> None:
        task = write_task(tmp_path, body)
        result = invoke("run", str(task), "--endpoint-url", endpoint)
        assert result.exit_code == 1
        assert f"{task}:{line}: " in result.stderr
        assert message.format(task=task) in result.stderr

    def test_sessions_are_closed_at_the_end_and_end_session_defaults(
        self, tmp_path: Path, endpoint: str
    ) -> None:
        task = write_task(
            tmp_path,
            '<AMAWSSES ACTIVITY="create_session" />\n<AMAWSSES ACTIVITY="end_session" />\n'
            '<AMAWSSES ACTIVITY="create_session" SESSION="left-open" />\n',
        )
        result = invoke("run", str(task), "--endpoint-url", endpoint)
        assert result.exit_code == 0, result.output
        assert "session SESSession1 ended" in result.stdout


class TestProxyAndSignature:
    def test_proxy_with_credentials_and_legacy_signature_warning(
        self, tmp_path: Path, proxy: Any, endpoint: str, aws_credentials: Any
    ) -> None:
        forward = proxy()
        task = write_task(
            tmp_path,
            f'<AMAWSSES ACTIVITY="create_session" SESSION="p" SERVICEURL="{endpoint}" '
            f'PROXYHOST="127.0.0.1" PROXYPORT="{forward.port}" PROXYUSER="ops" '
            'PROXYPWD="pr0xy p@ss" SIGNVERSION="2" SIGNMETHOD="HmacSHA1" />\n'
            '<AMAWSSES ACTIVITY="list_identities" PROVIDER="session_based" SESSION="p" '
            'RESULTDATASET="d" />\n<AMAWSSES ACTIVITY="list_identities" '
            'PROVIDER="session_based" SESSION="p" RESULTDATASET="d" />\n',
        )
        result = invoke("run", str(task))
        assert result.exit_code == 0, result.output
        assert [r.via_proxy for r in forward.requests] == [True, True]
        assert "proxy-authorization" in forward.requests[0].headers
        assert "SES accepts only Signature Version 4" in result.stderr
        assert result.stderr.count("Signature Version 4") == 1
        assert "pr0xy p@ss" not in result.output and "pr0xy%20p%40ss" not in result.output


class TestUsage:
    def test_missing_file(self, tmp_path: Path) -> None:
        result = invoke("run", str(tmp_path / "nope.aml"))
        assert result.exit_code == 2
        assert result.stderr.startswith(f"amlses: cannot read task file {tmp_path / 'nope.aml'}")

    def test_bad_var(self, tmp_path: Path) -> None:
        task = write_task(tmp_path, '<AMAWSSES ACTIVITY="create_session" />')
        result = invoke("run", str(task), "--var", "novalue")
        assert result.exit_code == 2
        assert 'amlses: --var takes NAME=VALUE, not "novalue"' in result.stderr

    def test_check_ok_and_errors(self, tmp_path: Path) -> None:
        ok = invoke("check", str(SEEDS[1]))
        assert ok.exit_code == 0 and ok.stdout.strip() == f"{SEEDS[1]}: ok"
        bad = write_task(tmp_path, '<AMAWSSES ACTIVITY="verify_identity" IDENTITI="x" />')
        result = invoke("check", str(bad))
        assert result.exit_code == 2
        assert f"{bad}:1:38: error:" in result.stderr and 'did you mean "IDENTITY"' in result.stderr


def test_installed_console_script(tmp_path: Path) -> None:
    """The real entry point, in a subprocess: help, check, and a failing run's exit code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    help_ = subprocess.run(["amlses", "--help"], capture_output=True, text=True, env=env)
    assert help_.returncode == 0 and "amlses run TASK.aml --local" in help_.stdout
    bad = write_task(tmp_path, '<AMLOOP ACTIVITY="dataset" DATASET="x">', "bad.aml")
    checked = subprocess.run(["amlses", "check", str(bad)], capture_output=True, text=True, env=env)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    module = subprocess.run(
        [sys.executable, "-m", "amlses", "check", str(SEEDS[0])],
        capture_output=True,
        text=True,
        env=env,
    )
    assert module.returncode == 0, module.stderr
