"""Step error handling: AM_RETRY, AM_ERRORS, AM_ONERROR, AM_TIMEOUT and their checks.

The policies run on the in-process fake SES (``tests/fakeses.py``), whose ``fail`` rules make a
step fail on cue; the warnings asserted are the reporter's messages.  ``amlses run`` against
moto behind the fault-injecting proxy covers the rest end to end: the ``--json`` document of a
continued loop, a request that really hangs on the wire, and the check's exit code.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clitools import invoke, write_task
from fakeses import FakeSes, run_fake

VERIFY = '<AMAWSSES ACTIVITY="verify_identity" MAXERRORRETRY="0" IDENTITY="{identity}" {extra}/>\n'


def run(tmp_path: Path, text: str, *args: str) -> Result:
    return invoke("run", str(write_task(tmp_path, text)), *args)


@pytest.fixture
def front(proxy: Any, aws_credentials: Any) -> Any:
    return proxy()


def test_am_retry_retries_the_whole_step(tmp_path: Path) -> None:
    fake = FakeSes()
    fake.fail("VerifyEmailIdentity", code="InvalidParameterValue", message="flaky", times=2)
    text = VERIFY.format(identity="a@example.com", extra='AM_RETRY="2" AM_RETRYDELAY="1" ')
    run = run_fake(text, tmp_path, fake=fake)
    assert run.ok, run.error
    assert fake.count("VerifyEmailIdentity") == 3
    assert "\n".join(run.warnings).count("InvalidParameterValue; retry") == 2
    assert fake.identity_names() == ["a@example.com"]


def test_am_retry_exhausted_stops_the_task(tmp_path: Path) -> None:
    fake = FakeSes()
    fake.fail("VerifyEmailIdentity", code="InvalidParameterValue", message="flaky", times=3)
    text = VERIFY.format(identity="a@example.com", extra='AM_RETRY="1" ')
    run = run_fake(text, tmp_path, fake=fake)
    assert run.failure(exit_code=1)
    assert fake.count("VerifyEmailIdentity") == 2
    assert "AWS error InvalidParameterValue from VerifyEmailIdentity: flaky" in "\n".join(
        run.error_lines
    )


def test_continue_in_a_loop_reports_failures_and_fills_amerror(
    tmp_path: Path, front: Any, ses_client: Any
) -> None:
    for address in ("a@example.com", "b@example.com", "c@example.com"):
        ses_client.verify_email_identity(EmailAddress=address)
    front.fail(2, action="VerifyEmailIdentity", code="MessageRejected", message="no")
    text = (
        '<AMAWSSES ACTIVITY="list_identities" RESULTDATASET="ids" />\n'
        '<AMLOOP ACTIVITY="dataset" DATASET="ids">\n'
        + VERIFY.format(
            identity="%ids.Identity%", extra='AM_ONERROR="CONTINUE" AM_SETVAR="failed;yes" '
        )
        + "</AMLOOP>\n"
    )
    result = run(tmp_path, text, "--endpoint-url", front.url, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "success"
    assert [(f["line"], f["code"]) for f in document["failed_steps"]] == [
        (3, "MessageRejected"),
        (3, "MessageRejected"),
    ]
    assert document["variables"] == {"failed": "yes"}
    amerror = document["datasets"]["AMError"]
    row = dict(zip(amerror["columns"], amerror["rows"][0], strict=True))
    assert row["ErrorNumber"] == "MessageRejected" and row["TagLine"] == 3
    assert row["StepText"].startswith('<AMAWSSES ACTIVITY="verify_identity"')
    assert front.count("VerifyEmailIdentity") == 3
    assert "2 steps failed and the task went on: line 3 (MessageRejected)" in result.stderr


def test_am_errors_ignores_other_codes(tmp_path: Path) -> None:
    fake = FakeSes()
    fake.fail("VerifyEmailIdentity", code="InvalidParameterValue", message="odd")
    text = VERIFY.format(identity="a@example.com", extra='AM_ERRORS="Throttling,MessageRejected" ')
    run = run_fake(text, tmp_path, fake=fake)
    assert run.ok, run.error
    assert "ignored InvalidParameterValue (not in AM_ERRORS)" in "\n".join(run.warnings)


def test_am_timeout_abandons_a_slow_step(tmp_path: Path, front: Any) -> None:
    front.stall(1.5, action="VerifyEmailIdentity")
    text = VERIFY.format(
        identity="a@example.com", extra='AM_TIMEOUT="200" AM_TIMEOUTSCALE="milliseconds" '
    )
    result = run(tmp_path, text, "--endpoint-url", front.url)
    assert result.exit_code == 1
    assert "ran longer than AM_TIMEOUT (0.2 s) and was abandoned" in result.stderr
    # The abandoned request still completes; let it, so it cannot land in the next test's account.
    for thread in threading.enumerate():
        if thread.name == "amlses-step":
            thread.join(5)


def test_bad_policy_values_are_check_errors(tmp_path: Path) -> None:
    text = VERIFY.format(identity="a@example.com", extra='AM_RETRY="often" AM_ONERROR="later" ')
    result = run(tmp_path, text, "--endpoint-url", "http://127.0.0.1:9")
    assert result.exit_code == 2
    assert 'AM_RETRY must be a whole number, not "often"' in result.stderr
    assert 'AM_ONERROR="later" is not one of STOP, CONTINUE, BREAK, GOTO' in result.stderr
